"""The model card that ships beside every ONNX model: `models/<name>.json` for `models/<name>.onnx`."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

# The repository's models/ folder; CITYPATROL_MODEL overrides the choice made from it.
MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
# Retrained models wait here until `citypatrol model promote` (relative: the working folder's var/).
CANDIDATES_DIR = Path("var/candidates")


class ModelCardError(ValueError):
    code = "model_card_invalid"


class ModelCard(BaseModel):
    """What the runtime needs (classes, imgsz, sha256) plus what people need to trust the model.

    Training adds data sources, settings, metrics and the gate result; extra keys are kept.
    """

    model_config = ConfigDict(extra="allow")

    name: str
    version: str
    classes: list[str] = Field(min_length=1)
    imgsz: int = Field(gt=0, multiple_of=32)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    task: str = "detect"
    stride: int = 32
    metrics: dict = Field(default_factory=dict)

    @staticmethod
    def path_for(onnx_path: str | Path) -> Path:
        return Path(onnx_path).with_suffix(".json")

    @classmethod
    def load_for(cls, onnx_path: str | Path) -> ModelCard:
        """Read and check the card of an ONNX file: it must exist, parse, and match the file's sha256."""
        onnx_path = Path(onnx_path)
        card_path = cls.path_for(onnx_path)
        if not onnx_path.exists():
            raise ModelCardError(f"model file not found: {onnx_path}")
        if not card_path.exists():
            raise ModelCardError(f"model card missing: {card_path} (every model ships with one)")
        try:
            card = cls.model_validate(json.loads(card_path.read_text(encoding="utf-8")))
        except (json.JSONDecodeError, ValidationError) as exc:
            raise ModelCardError(f"model card {card_path} is invalid: {exc}") from exc
        actual = sha256_of(onnx_path)
        if actual != card.sha256:
            raise ModelCardError(
                f"model card {card_path} does not match {onnx_path.name}: sha256 {actual[:12]}… "
                f"is not the card's {card.sha256[:12]}…"
            )
        return card

    def save_for(self, onnx_path: str | Path) -> Path:
        path = self.path_for(onnx_path)
        path.write_text(json.dumps(self.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        return path


def sha256_of(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def shipped_models(models_dir: Path = MODELS_DIR) -> list[Path]:
    """ONNX files in models/ that have a card, oldest version first."""
    return sorted(
        (p for p in models_dir.glob("*.onnx") if ModelCard.path_for(p).exists()),
        key=lambda p: [int(t) if t.isdigit() else t for t in p.stem.replace("-", ".").split(".")],
    )


# `citypatrol model promote` writes this file into the models folder: the version in service.
PROMOTED_FILE = "promoted.json"


def promoted_model(models_dir: Path = MODELS_DIR) -> Path | None:
    """The ONNX file that `citypatrol model promote` named in `models_dir`, if any."""
    pointer = Path(models_dir) / PROMOTED_FILE
    if not pointer.exists():
        return None
    try:
        name = json.loads(pointer.read_text(encoding="utf-8"))["file"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ModelCardError(f"{pointer} is not a promotion record ({exc}); promote a model again") from exc
    return Path(models_dir) / name


def default_model_path(models_dir: Path = MODELS_DIR) -> Path:
    """The model used when none is named: $CITYPATROL_MODEL, else the promoted model, else the newest shipped."""
    if os.environ.get("CITYPATROL_MODEL"):
        return Path(os.environ["CITYPATROL_MODEL"])
    promoted = promoted_model(models_dir)
    if promoted is not None:
        return promoted
    models = shipped_models(models_dir)
    if not models:
        raise ModelCardError(f"no model given and none shipped in {models_dir}; pass --model or set CITYPATROL_MODEL")
    return models[-1]
