"""A tiny slice of the whole training pipeline, built once per session under a temporary folder:
build (3 images per source and split) → teacher → synth → train (1 epoch, imgsz 160) → export."""

from __future__ import annotations

from pathlib import Path

import pytest

TINY_PER_SPLIT = 3
TINY_IMGSZ = 160


@pytest.fixture(scope="session")
def tiny_work(tmp_path_factory, shared_dir) -> Path:
    from training.build import build
    from training.synth import synthesize
    from training.teacher import Teacher, merge, run_teacher

    work = tmp_path_factory.mktemp("train-tiny")
    build(work, shared_dir / "datasets", limit=TINY_PER_SPLIT, progress=False)
    run_teacher(work, Teacher(shared_dir / "weights" / "yolov5n-coco.pt"), progress=False)
    merge(work, threshold=0.25)
    synthesize(work, seed=0, poster_share={"facades": 1.0, "street_vehicles": 1.0},
               garbage_share={"street_vehicles": 1.0, "facades": 1.0}, clean_wall_crops=True, progress=False)
    return work


@pytest.fixture(scope="session")
def tiny_weights(tiny_work) -> Path:
    from training.train import train

    return train(tiny_work, tiny_work / "runs", "tiny", epochs=1, imgsz=TINY_IMGSZ, batch=8, workers=0,
                 close_mosaic=0, cache=False, verbose=False)


@pytest.fixture(scope="session")
def tiny_onnx(tiny_weights, tiny_work) -> Path:
    from training.export import export_onnx

    return export_onnx(tiny_weights, tiny_work / "export" / "citypatrol-0.0.0-tiny.onnx", imgsz=TINY_IMGSZ)
