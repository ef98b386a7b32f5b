"""`citypatrol detect` as a user runs it: a real subprocess on real images."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import cv2


def _citypatrol(*args: str) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("citypatrol")
    return subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=300)


def test_folder_to_json_lines_and_annotated_images(tmp_path, test_model, street_images):
    folder = tmp_path / "frames"
    (folder / "nested").mkdir(parents=True)
    for p in street_images[:3]:
        shutil.copy(p, folder / p.name)
    shutil.copy(street_images[3], folder / "nested" / "deep.jpg")
    (folder / "notes.txt").write_text("ignored: not an image suffix")
    (folder / "broken.jpg").write_bytes(b"definitely not a jpeg")
    out = tmp_path / "annotated"

    result = _citypatrol("detect", str(folder), "--model", str(test_model), "--json", "--conf", "0.2",
                         "--save-dir", str(out))

    assert result.returncode == 1, "a bad image must make the exit status non-zero"
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 5
    errors = [line for line in lines if "error" in line]
    assert [e["error"] for e in errors] == ["not_an_image"] and errors[0]["path"].endswith("broken.jpg")
    good = [line for line in lines if "error" not in line]
    assert sum(len(line["detections"]) for line in good) > 0
    for line in good:
        assert line["width"] > 0 and line["height"] > 0
        for det in line["detections"]:
            assert det["confidence"] >= 0.2 and len(det["box"]) == 4 and isinstance(det["class"], str)
    written = sorted(p.name for p in out.iterdir())
    assert written == sorted(Path(line["path"]).stem + ".jpg" for line in good)
    first = good[0]
    assert cv2.imread(str(out / (Path(first["path"]).stem + ".jpg"))).shape[:2] == (first["height"], first["width"])


def test_table_output(test_model, street_images):
    result = _citypatrol("detect", str(street_images[0]), "--model", str(test_model), "--conf", "0.2")
    assert result.returncode == 0, result.stderr
    assert "class" in result.stdout and street_images[0].name in result.stdout


def test_clear_errors_for_missing_model_and_images(tmp_path, test_model):
    result = _citypatrol("detect", str(tmp_path), "--model", str(tmp_path / "absent.onnx"))
    assert result.returncode == 2 and "model file not found" in result.stderr
    result = _citypatrol("detect", str(tmp_path), "--model", str(test_model))
    assert result.returncode == 2 and "no images found" in result.stderr
