"""The retraining loop end to end, on a tiny scale: a running service gets frames, an operator confirms,
rejects and corrects; the export holds exactly those labels; `retrain` fine-tunes 1 epoch on them; the
gate decides; `citypatrol model promote` switches the running service's model, and the next incidents
carry the new version."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest

from serve.settings import Settings
from training.field import field_split

pytestmark = pytest.mark.slow

CITY = Path(__file__).resolve().parent.parent / "service" / "city.yaml"
ADMIN_PASSWORD = "admin-pass-1234"
OTHER_STREET = "00bcb424ff854533.jpg"


def citypatrol(*args: str, env: dict) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("citypatrol")
    return subprocess.run([str(exe), *args], env={**os.environ, **env}, capture_output=True, text=True, timeout=300)


@pytest.fixture
def parent_models(tmp_path, test_model) -> Path:
    """A models folder holding one model with the weights a retrain starts from (the stand-in's)."""
    from training.standin import standin_model

    onnx, pt = standin_model()
    folder = tmp_path / "models"
    folder.mkdir()
    for source, target in ((onnx, onnx.name), (onnx.with_suffix(".json"), onnx.with_suffix(".json").name),
                           (pt, onnx.with_suffix(".pt").name)):
        shutil.copyfile(source, folder / target)
    return folder


def test_reviews_become_a_promoted_model_that_raises_the_next_incidents(
        tmp_path, database_url, run_server, tiny_work, parent_models, street_jpeg, shared_dir, camera_times):
    from training.retrain import retrain

    assert (field_split("cam-a"), field_split("cam-b")) == ("val", "train")  # one camera on each side
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url, models_dir=parent_models,
                        cameras_config=CITY, admin_password=ADMIN_PASSWORD)
    live, stop = run_server(settings)
    try:
        parent_version = live.http.get("/readyz").json()["model"]
        times = camera_times(9, 60)
        violations = {}
        for camera in ("cam-a", "cam-b"):
            key = live.camera_key(camera)
            for i, at in enumerate(times[:8]):
                answer = live.post_frame(camera, key, street_jpeg, f"{camera}-{i}", at)
                assert answer.status_code == 200, answer.text
            violations[camera] = [i for i in answer.json()["incidents"] if i["status"] == "violation"]
        assert len(violations["cam-b"]) >= 3 and violations["cam-a"]

        operator = live.add_user("op-loop", "operator")
        confirmed, rejected, corrected = violations["cam-b"][:3]
        assert live.act(operator, confirmed["id"], "confirm").status_code == 200
        assert live.act(operator, rejected["id"], "reject", json={"reason": "false_detection"}).status_code == 200
        assert live.act(operator, corrected["id"], "correct",
                        json={"code": "0505", "box": [0.1, 0.2, 0.3, 0.4]}).status_code == 200
        assert live.act(operator, violations["cam-a"][0]["id"], "confirm").status_code == 200

        env = {"CITYPATROL_DATA_DIR": str(settings.data_dir), "CITYPATROL_DATABASE_URL": settings.resolved_database_url,
               "CITYPATROL_CAMERAS_CONFIG": str(CITY), "CITYPATROL_MODELS_DIR": str(parent_models)}
        export_dir = tmp_path / "export"
        exported = citypatrol("export-dataset", "--out", str(export_dir), env=env)
        assert exported.returncode == 0, exported.stderr
        manifest = {m["camera_id"]: m for m in map(json.loads, (export_dir / "manifest.jsonl").read_text().splitlines())}
        assert set(manifest) == {"cam-a", "cam-b"}
        assert manifest["cam-b"]["review_outcomes"] == {str(confirmed["id"]): "confirmed",
                                                        str(rejected["id"]): "rejected",
                                                        str(corrected["id"]): "corrected"}
        assert manifest["cam-a"]["review_outcomes"] == {str(violations["cam-a"][0]["id"]): "confirmed"}

        work = tmp_path / "work"  # the session's tiny dataset stays as other tests know it
        shutil.copytree(tiny_work, work, symlinks=True)
        candidates = tmp_path / "candidates"
        card = retrain(export_dir, work=work, models_dir=parent_models, out_dir=candidates, epochs=1, imgsz=160,
                       batch=4, workers=0, runs=tmp_path / "runs", blend_alpha=0.5)
        version = card["version"]
        assert card["training"]["blend_alpha"] == 0.5  # the candidate is the fine-tune averaged with its parent
        assert json.loads((tmp_path / "runs" / f"retrain-{version}-blend" / "citypatrol_train.json").read_text()
                          )["blend"]["alpha"] == 0.5
        assert card["lineage"]["parent"]["version"] == parent_version
        assert card["lineage"]["field_data"]["frames_total"] == {"train": 1, "val": 1}
        assert card["lineage"]["field_data"]["cameras"] == {"train": ["cam-b"], "val": ["cam-a"]}
        assert card["lineage"]["field_data"]["teacher_labels_added"]["frames"] == 1  # the training camera's
        gate = card["gate"]
        assert gate["field"]["images"] == 1 and gate["field"]["parent_map50"] is not None
        assert isinstance(gate["passed"], bool) and gate["reason"]
        for suffix in (".onnx", ".json", ".pt"):
            assert (candidates / f"citypatrol-{version}{suffix}").exists()

        promote = ["model", "promote", version, "--candidates", str(candidates), "--url", live.base_url]
        env["CITYPATROL_PASSWORD"] = ADMIN_PASSWORD
        if not gate["passed"]:  # a refused candidate is not promoted by mistake
            refused = citypatrol(*promote, env=env)
            assert refused.returncode == 1 and "the gate refused" in refused.stderr
            assert live.http.get("/readyz").json()["model"] == parent_version
            promote.append("--force")
        promoted = citypatrol(*promote, env=env)
        assert promoted.returncode == 0, promoted.stderr
        assert f"now runs model {version}" in promoted.stdout
        record = json.loads((parent_models / "promoted.json").read_text())
        assert record["version"] == version and record["gate"] == ("passed" if gate["passed"] else "forced")
        listed = citypatrol("model", "list", "--candidates", str(candidates), env=env)
        assert any(line.startswith("*") and version in line for line in listed.stdout.splitlines()), listed.stdout

        # no restart: the next frames are detected by the promoted model. An hour later the street is
        # empty (what was seen clears), then another scene opens new incidents.
        key, later = live.camera_key("cam-b"), times[-1] + timedelta(hours=1)
        empty = cv2.imencode(".jpg", np.full((720, 1280, 3), 128, np.uint8))[1].tobytes()
        answer = live.post_frame("cam-b", key, empty, "cam-b-empty", later)
        assert answer.status_code == 200 and answer.json()["model_version"] == version
        other = (shared_dir / "datasets" / "street_vehicles" / "images" / OTHER_STREET).read_bytes()
        answer = live.post_frame("cam-b", key, other, "cam-b-after", later + timedelta(minutes=1))
        assert answer.status_code == 200, answer.text
        assert answer.json()["model_version"] == version
        opened = [i for i in answer.json()["incidents"] if i["change"] == "opened"]
        assert opened, "the new scene opens incidents"
        for incident in opened:
            assert live.http.get(f"/v1/incidents/{incident['id']}", headers=live.admin).json()["model_version"] == version
    finally:
        stop()
