"""`citypatrol export-dataset`: what operators confirmed, rejected and corrected becomes labels."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from cv.config import taxonomy_classes


def export(live, out: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "CITYPATROL_DATA_DIR": str(live.settings.data_dir),
           "CITYPATROL_DATABASE_URL": live.settings.resolved_database_url,
           "CITYPATROL_CAMERAS_CONFIG": str(live.settings.cameras_config)}
    exe = Path(sys.executable).with_name("citypatrol")
    return subprocess.run([str(exe), "export-dataset", "--out", str(out)], env=env, capture_output=True, text=True,
                          timeout=120)


def yolo_boxes(path: Path) -> list[tuple[str, tuple[float, ...]]]:
    classes = taxonomy_classes()
    rows = [line.split() for line in path.read_text().splitlines()]
    return [(classes[int(r[0])], tuple(round(float(v), 3) for v in r[1:])) for r in rows]


def test_reviews_become_labels_once(live, escalate, tmp_path):
    incidents, _ = escalate("cam-a")
    violations = [i for i in incidents if i["status"] == "violation"]
    assert len(violations) >= 3
    operator = live.add_user("op-export", "operator")
    confirmed, rejected, corrected = violations[:3]
    assert live.act(operator, confirmed["id"], "confirm").status_code == 200
    assert live.act(operator, rejected["id"], "reject", json={"reason": "false_detection"}).status_code == 200
    box = [0.10, 0.20, 0.30, 0.40]
    assert live.act(operator, corrected["id"], "correct", json={"code": "0505", "box": box}).status_code == 200

    out = tmp_path / "dataset"
    result = export(live, out)
    assert result.returncode == 0, result.stderr
    assert "1 frames written" in result.stdout, result.stdout  # eight posts of one picture: one frame
    manifest = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert len(manifest) == 1
    line = manifest[0]
    assert line["licence"] == "own footage" and line["camera_id"] == "cam-a" and line["point_types"] == ["主次干道"]
    assert line["review_outcomes"] == {str(confirmed["id"]): "confirmed", str(rejected["id"]): "rejected",
                                       str(corrected["id"]): "corrected"}
    assert line["model_version"].startswith("test")

    labels = yolo_boxes(out / line["label"])
    detail = {i: live.http.get(f"/v1/incidents/{i}", headers=live.admin).json() for i in
              (confirmed["id"], rejected["id"])}
    assert ("car", (0.2, 0.3, 0.2, 0.2)) in labels, "the corrected box, as the corrected code's class"
    people_labels = [b for i, b in enumerate(labels) if i not in line["machine_labels"]]
    assert len(people_labels) >= 2, "the confirmed evidence and the correction are people's labels"
    rejected_box = detail[rejected["id"]]["box"]
    centre = (round((rejected_box[0] + rejected_box[2]) / 2, 3), round((rejected_box[1] + rejected_box[3]) / 2, 3))
    assert all(abs(b[1][0] - centre[0]) > 0.002 or abs(b[1][1] - centre[1]) > 0.002 for b in people_labels), \
        "the rejected box is not a label"
    assert any(abs((x1 + x2) / 2 - centre[0]) <= 0.002 and abs((y1 + y2) / 2 - centre[1]) <= 0.002
               for _, x1, y1, x2, y2 in line["rejected_boxes"]), "the manifest says where a person saw nothing"
    assert (out / line["image"]).read_bytes()[:3] == b"\xff\xd8\xff"
    assert "names" in (out / "data.yaml").read_text()

    again = export(live, out)
    assert again.returncode == 0 and "0 frames written" in again.stdout
    assert len((out / "manifest.jsonl").read_text().splitlines()) == 1
