"""`citypatrol model list|promote`: which model the service runs, and switching it without a restart.

A retrained candidate (`citypatrol-train retrain`) waits in the candidates folder with its card,
which holds the gate's decision. Promotion checks the card against the file, refuses a candidate the
gate refused (unless forced, which the promotion record says), copies it into the models folder,
and points `promoted.json` at it (written atomically: a reader sees the old record or the new one).
A running service then reloads (`POST /v1/admin/reload`), validating the model before it swaps it in.
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import httpx

from cv.model_card import CANDIDATES_DIR, PROMOTED_FILE, ModelCard, ModelCardError, promoted_model, shipped_models


class PromotionError(ValueError):
    """The version cannot be promoted (not found, card mismatch, refused by the gate)."""


def find_model(version: str, models_dir: Path, candidates_dir: Path = CANDIDATES_DIR) -> Path:
    """The ONNX file of `version`, in the models folder or among the candidates."""
    for folder in (models_dir, candidates_dir):
        for onnx in sorted(Path(folder).glob("*.onnx")) if Path(folder).is_dir() else ():
            card = ModelCard.path_for(onnx)
            if card.exists() and json.loads(card.read_text(encoding="utf-8")).get("version") == version:
                return onnx
    raise PromotionError(f"no model of version {version!r} in {models_dir} or {candidates_dir}")


def list_models(models_dir: Path, candidates_dir: Path = CANDIDATES_DIR) -> list[dict]:
    """Every model with a card, shipped and candidate, with its gate result and whether it is in service."""
    try:
        active = promoted_model(models_dir) or (shipped_models(models_dir) or [None])[-1]
    except ModelCardError:
        active = None
    rows = []
    for where, folder in (("models", models_dir), ("candidate", candidates_dir)):
        for onnx in shipped_models(Path(folder)) if Path(folder).is_dir() else ():
            card = json.loads(ModelCard.path_for(onnx).read_text(encoding="utf-8"))
            gate = card.get("gate") or {}
            rows.append({"version": card.get("version"), "file": str(onnx), "where": where,
                         "gate": None if not gate else ("passed" if gate.get("passed") else "refused"),
                         "parent": (card.get("lineage") or {}).get("parent", {}).get("version"),
                         "in_service": active is not None and onnx.resolve() == Path(active).resolve()})
    return rows


def promote(version: str, models_dir: Path, candidates_dir: Path = CANDIDATES_DIR, force: bool = False,
            actor: str = "") -> dict:
    """Make `version` the model in service; returns the promotion record."""
    source = find_model(version, models_dir, candidates_dir)
    card = ModelCard.load_for(source)  # the card matches the file (sha256) or this raises
    gate = (card.model_extra or {}).get("gate") or {}
    if gate and not gate.get("passed") and not force:
        raise PromotionError(f"the gate refused {version}: {gate.get('reason', 'no reason recorded')} "
                             "(promote with --force to override; the record will say so)")
    models_dir = Path(models_dir)
    models_dir.mkdir(parents=True, exist_ok=True)
    target = models_dir / source.name
    if source.resolve() != target.resolve():
        # the weights a later retrain starts from, the ONNX, and the card last: until the card is
        # there, a half-copied model is no model at all
        if source.with_suffix(".pt").exists():
            shutil.copyfile(source.with_suffix(".pt"), target.with_suffix(".pt"))
        shutil.copyfile(source, target)
        shutil.copyfile(ModelCard.path_for(source), ModelCard.path_for(target))
        ModelCard.load_for(target)
    try:
        previous = promoted_model(models_dir)
    except ModelCardError:
        previous = None
    record = {"version": version, "file": target.name, "sha256": card.sha256,
              "promoted_at": datetime.now(UTC).isoformat(timespec="seconds"), "by": actor or os.environ.get("USER", ""),
              "gate": "passed" if gate.get("passed") else ("forced" if gate else "none recorded"),
              "previous": previous.name if previous else None}
    pointer = models_dir / PROMOTED_FILE
    temporary = pointer.with_suffix(".tmp")
    temporary.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(temporary, pointer)
    return record


def reload_service(url: str, username: str, password: str) -> dict:
    """Ask a running service to reload (it validates the promoted model first); its new versions."""
    with httpx.Client(base_url=url, timeout=120) as client:
        login = client.post("/v1/auth/login", json={"username": username, "password": password})
        if login.status_code != 200:
            raise PromotionError(f"login to {url} as {username!r} failed: {login.status_code} {login.text}")
        headers = {"Authorization": f"Bearer {login.json()['token']}"}
        answer = client.post("/v1/admin/reload", headers=headers)
        if answer.status_code != 200:
            raise PromotionError(f"{url} refused to reload: {answer.status_code} {answer.text}")
        return answer.json()
