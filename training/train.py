"""`train`: ultralytics training of the student (yolov5n.yaml, anchor-free head, COCO layers 0–23
transferred) on the built dataset; offline-safe and resumable (`--resume` continues `last.pt`)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import yaml

from cv.config import load_taxonomy
from training import offline
from training.build import DEFAULT_WORK

DEFAULT_RUNS = Path("var/runs")


def dataset_yaml(work: str | Path = DEFAULT_WORK, val: str | Path = "images/val", name: str = "data.yaml") -> Path:
    """The ultralytics dataset file; `val` may be a folder or a list file (for evaluation subsets)."""
    work = Path(work).resolve()
    path = work / name
    path.write_text(yaml.safe_dump({
        "path": str(work / "data"),
        "train": "images/train",
        "val": str(val),
        "names": dict(enumerate(load_taxonomy().names)),
    }, sort_keys=False, allow_unicode=True))
    return path


def last_checkpoint(runs: str | Path, name: str) -> Path:
    return Path(runs) / name / "weights" / "last.pt"


def train(
    work: str | Path = DEFAULT_WORK,
    runs: str | Path = DEFAULT_RUNS,
    name: str = "citypatrol",
    epochs: int = 30,
    imgsz: int = 480,
    batch: int = 16,
    hours: float | None = None,
    resume: bool = False,
    workers: int = 2,
    close_mosaic: int = 2,
    cache: str | bool = "ram",
    seed: int = 0,
    threads: int | None = None,
    verbose: bool = True,
    start: str | Path | None = None,
) -> Path:
    """Train (or resume) and return the final weights (`last.pt`; with no per-epoch validation there is
    no meaningful `best.pt`). Settings and wall time land in `<run>/citypatrol_train.json`.

    `start`: fine-tune these weights (a shipped model's `.pt`, for `retrain`) instead of starting
    from the COCO backbone; the warm-up is then short, the model is already trained."""
    work, runs = Path(work).resolve(), Path(runs).resolve()
    offline.prepare()
    import torch
    from ultralytics import YOLO

    if threads:
        torch.set_num_threads(threads)
    from training.export import save_checkpoint
    from training.pretrained import build_student

    run_dir = runs / name
    last = last_checkpoint(runs, name)
    started = time.time()
    settings = {"epochs": epochs, "imgsz": imgsz, "batch": batch, "hours": hours, "workers": workers,
                "close_mosaic": close_mosaic, "cache": cache, "seed": seed, "device": "cpu",
                "threads": torch.get_num_threads(), "optimizer": "auto",
                "start": str(start) if start else "yolov5n.yaml + COCO layers 0-23"}
    if resume and last.exists():
        model = YOLO(str(last))
        model.train(resume=True)
    else:
        if resume:
            print(f"nothing to resume at {last}: starting a new run")
        fine_tune = start is not None
        if not fine_tune:
            student = build_student(load_taxonomy().names)
            start = save_checkpoint(student, work / "student-start.pt",
                                    train_args={"imgsz": imgsz, "task": "detect", "data": str(dataset_yaml(work))})
        model = YOLO(str(start), task="detect")
        kwargs = dict(
            data=str(dataset_yaml(work)), epochs=epochs, imgsz=imgsz, batch=batch, device="cpu",
            workers=workers, project=str(runs), name=name, exist_ok=True, seed=seed, deterministic=False,
            close_mosaic=close_mosaic, cache=cache, val=False, plots=False, amp=False, verbose=verbose,
            patience=1000, **({"warmup_epochs": 0.5} if fine_tune else {}),
        )
        if hours:
            kwargs["time"] = hours
        model.train(**kwargs)
    elapsed = time.time() - started
    record_path = run_dir / "citypatrol_train.json"
    previous = json.loads(record_path.read_text()) if record_path.exists() else {"sessions": []}
    previous["settings"] = previous.get("settings") if resume and previous.get("settings") else settings
    previous["sessions"].append({"seconds": round(elapsed), "resumed": bool(resume and last.exists())})
    previous["train_seconds"] = sum(s["seconds"] for s in previous["sessions"])
    results_csv = run_dir / "results.csv"
    if results_csv.exists():
        previous["epochs_done"] = max(len(results_csv.read_text().strip().splitlines()) - 1, 0)
    record_path.write_text(json.dumps(previous, indent=1))
    return last
