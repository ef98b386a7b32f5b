"""`citypatrol model promote`: only a checked, gate-passed (or knowingly forced) model goes into service."""

from __future__ import annotations

import json
import shutil

import pytest

from cv.model_card import ModelCardError, default_model_path
from serve.model_promotion import PromotionError, list_models, promote


@pytest.fixture
def folders(tmp_path, test_model):
    """An empty models folder and a candidates folder with one candidate (the stand-in, version 2.0.1)."""
    models, candidates = tmp_path / "models", tmp_path / "candidates"
    models.mkdir()
    candidates.mkdir()
    onnx = candidates / "citypatrol-2.0.1.onnx"
    shutil.copyfile(test_model, onnx)
    card = json.loads(test_model.with_suffix(".json").read_text())
    card.update(version="2.0.1", gate={"passed": True, "reason": "no class worse"})
    onnx.with_suffix(".json").write_text(json.dumps(card))
    return models, candidates, onnx


def _set_gate(onnx, passed: bool) -> None:
    card = json.loads(onnx.with_suffix(".json").read_text())
    card["gate"] = {"passed": passed, "reason": "2 class(es) worse by more than 0.05 AP50"}
    onnx.with_suffix(".json").write_text(json.dumps(card))


def test_promotion_copies_the_model_and_points_the_service_at_it(folders):
    models, candidates, _ = folders
    record = promote("2.0.1", models, candidates, actor="tester")
    assert record["version"] == "2.0.1" and record["gate"] == "passed" and record["by"] == "tester"
    assert default_model_path(models) == models / "citypatrol-2.0.1.onnx"
    assert [(r["version"], r["where"], r["in_service"]) for r in list_models(models, candidates)] == \
        [("2.0.1", "models", True), ("2.0.1", "candidate", False)]


def test_a_refused_candidate_needs_force_and_the_record_says_so(folders):
    models, candidates, onnx = folders
    _set_gate(onnx, passed=False)
    with pytest.raises(PromotionError, match="the gate refused 2.0.1: 2 class"):
        promote("2.0.1", models, candidates)
    assert not (models / "promoted.json").exists() and not list(models.glob("*.onnx"))
    assert promote("2.0.1", models, candidates, force=True)["gate"] == "forced"


def test_unknown_versions_and_tampered_files_are_refused(folders):
    models, candidates, onnx = folders
    with pytest.raises(PromotionError, match="no model of version '9.9.9'"):
        promote("9.9.9", models, candidates)
    onnx.write_bytes(onnx.read_bytes() + b"tampered")
    with pytest.raises(ModelCardError, match="does not match"):
        promote("2.0.1", models, candidates)
    assert not (models / "promoted.json").exists()


def test_a_broken_promotion_record_is_a_clear_error(tmp_path):
    (tmp_path / "promoted.json").write_text("{not json")
    with pytest.raises(ModelCardError, match="not a promotion record"):
        default_model_path(tmp_path)
