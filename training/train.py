"""`train`: ultralytics training of the student (yolov5n.yaml, anchor-free head, COCO layers 0–23
transferred) on the built dataset; offline-safe and resumable (`--resume` continues `last.pt`)."""

from __future__ import annotations

import json
import math
import os
import platform
import time
from collections import Counter
from pathlib import Path

import yaml

from cv.config import load_taxonomy
from training import offline
from training.build import DEFAULT_WORK

DEFAULT_RUNS = Path("var/runs")
# A trained model is adjusted, not re-learnt: no warm-up (its bias learning rate of 0.1 undid the
# head), a small AdamW step, and the backbone (layers 0-9) frozen. Measured with bench/retrain_week.py
# on an early checkpoint, 1 epoch: field mAP50 0.56 → 0.35 with ultralytics' defaults; 0.51 → 0.45
# without warm-up (50 old images replayed); 0.51 → 0.57 with the backbone frozen and 400 replayed.
FINE_TUNE = {"warmup_epochs": 0, "optimizer": "AdamW", "lr0": 0.0003, "freeze": 10}


def dataset_yaml(work: str | Path = DEFAULT_WORK, val: str | Path = "images/val", name: str = "data.yaml",
                 train: str | Path = "images/train") -> Path:
    """The ultralytics dataset file; `train` and `val` may be folders or list files (subsets)."""
    work = Path(work).resolve()
    if not (work / "data" / val).exists():
        # A `pack`ed set has no validation split. ultralytics still validates once after the last epoch:
        # on a few training images, a smoke check and no measurement (`eval` measures, at home).
        val = work / "smoke-val.txt"
        # (from the image folder: `train` may be a list file of repeated images)
        val.write_text("".join(f"{p}\n" for p in sorted((work / "data" / "images" / "train").iterdir())[:16]))
    path = work / name
    path.write_text(yaml.safe_dump({
        "path": str(work / "data"),
        "train": str(train),
        "val": str(val),
        "names": dict(enumerate(load_taxonomy().names)),
    }, sort_keys=False, allow_unicode=True))
    return path


def oversampled_images(work: str | Path, repeats: dict[str, int], rare_threshold: float | None = None,
                       image_repeats: dict[str, int] | None = None) -> list[str]:
    """Every training image once, and each synthetic image of a kind in `repeats` that many times in
    all: more of the scenes a class is rare in (fly-posters), without drawing new backgrounds.

    `rare_threshold` t adds repeat-factor sampling (LVIS, Gupta et al. 2019): an image is shown
    round(max(1, sqrt(t / f))) times, f being the share of training images that hold its rarest class,
    so the few buses, bicycles and stall umbrellas are seen more often; an image takes the larger of
    its two repeats.

    `image_repeats` names single images and their repeats (hard negatives, `training.hard_negatives`);
    an image takes the largest of its repeats."""
    from training.build import label_file, load_index, read_labels

    records = [r for r in load_index(work) if r.split == "train"]
    image_repeats = image_repeats or {}
    unknown = set(repeats) - {r.synthetic for r in records}
    if unknown:
        raise ValueError(f"no synthetic training images of kind {', '.join(sorted(unknown))} (run synth first?)")
    classes_of = {r.name: {row[0] for row in read_labels(label_file(work, r))} for r in records} if rare_threshold else {}
    images_with = Counter(c for classes in classes_of.values() for c in classes)

    def rare_repeat(record) -> int:
        shares = [images_with[c] / len(records) for c in classes_of.get(record.name, ())]
        return max([1] + [math.floor(math.sqrt(rare_threshold / f) + 0.5) for f in shares])

    images = []
    for record in records:
        # the links' own paths (not resolved): ultralytics finds each label by the image path
        times = max(repeats.get(record.synthetic or "", 1), rare_repeat(record), image_repeats.get(record.name, 1))
        images += [os.path.abspath(record.image)] * times
    return images


def _device_name(device: str) -> str:
    import torch

    if device == "cpu" or not torch.cuda.is_available():
        return "cpu"
    return f"cuda:{device} ({torch.cuda.get_device_name(int(device))})"


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
    train_images: list[str] | None = None,
    device: str = "cpu",
    coco_weights: str | Path | None = None,
    fine_tune: dict | None = None,
    sampling: dict | None = None,
) -> Path:
    """Train (or resume) and return the final weights (`last.pt`; with no per-epoch validation there is
    no meaningful `best.pt`). Settings and wall time land in `<run>/citypatrol_train.json`.

    `start`: fine-tune these weights (a shipped model's `.pt`, for `retrain`) instead of starting
    from the COCO backbone, with FINE_TUNE's settings (no warm-up, the backbone frozen), which
    `fine_tune` may override (e.g. `freeze`, `lr0`) for a longer fine-tune than a retrain.
    `train_images`: train on these images only (a list file), instead of all of images/train;
    `sampling`: how that list was drawn (`oversampled_images`' settings), for the run record.
    `device`: "cpu", or a CUDA device ("0") on a machine that has one (e.g. a `pack`ed dataset trained
    elsewhere); `coco_weights`: the COCO checkpoint, where ../shared is not beside the repo."""
    work, runs = Path(work).resolve(), Path(runs).resolve()
    offline.prepare()
    import torch
    from ultralytics import YOLO

    if threads:
        torch.set_num_threads(threads)
    from training.export import save_checkpoint
    from training.pretrained import COCO_WEIGHTS, build_student

    run_dir = runs / name
    last = last_checkpoint(runs, name)
    started = time.time()
    device_name = _device_name(device)
    tuning = {**FINE_TUNE, **(fine_tune or {})} if start else {}
    settings = {"work": str(work), "epochs": epochs, "imgsz": imgsz, "batch": batch, "hours": hours, "workers": workers,
                "close_mosaic": close_mosaic, "cache": cache, "seed": seed, "device": device_name,
                "machine": f"{platform.machine()}, {os.cpu_count()} cores, {device_name}",
                "threads": torch.get_num_threads(), "optimizer": "auto",
                "start": str(start) if start else "yolov5n.yaml + COCO layers 0-23",
                "images": len(train_images) if train_images is not None else "all of images/train",
                **({"sampling": sampling} if sampling else {}),
                **({"fine_tune": tuning} if tuning else {})}
    if resume and last.exists():
        model = YOLO(str(last))
        model.train(resume=True)
    else:
        if resume:
            print(f"nothing to resume at {last}: starting a new run")
        if start is None:
            student = build_student(load_taxonomy().names, coco_weights or COCO_WEIGHTS)
            start = save_checkpoint(student, work / "student-start.pt",
                                    train_args={"imgsz": imgsz, "task": "detect", "data": str(dataset_yaml(work))})
        model = YOLO(str(start), task="detect")
        data = dataset_yaml(work)
        if train_images is not None:
            listing = run_dir.parent / f"{name}-train.txt"
            listing.parent.mkdir(parents=True, exist_ok=True)
            listing.write_text("\n".join(train_images) + "\n")
            data = dataset_yaml(work, train=listing, name=f"data-{name}.yaml")
        kwargs = dict(
            # amp stays off on a GPU too: its check downloads a model (impossible offline), and a nano
            # model's step is bound by the data loader's CPU work, not by the GPU's arithmetic.
            data=str(data), epochs=epochs, imgsz=imgsz, batch=batch, device=device,
            workers=workers, project=str(runs), name=name, exist_ok=True, seed=seed, deterministic=False,
            close_mosaic=close_mosaic, cache=cache, val=False, plots=False, amp=False, verbose=verbose,
            patience=1000, **tuning,
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
