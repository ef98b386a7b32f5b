"""`eval`: per-class AP50 and AP50-95 on the fixed validation split, on its subsets, and the false
fly-posters per real facade validation image (real facades have no fly-posters).

Subsets of the validation split (list files under `<work>/subsets/`):
- `all`: every validation image (real and synthetic);
- `real`: the real images only (source labels + teacher labels);
- `garbage_street`: street-level garbage_bags photos + garbage pasted on held-out street/facade backgrounds;
- `garbage_rest`: the other garbage_bags photos (top-down into containers, close-ups);
- `fly_poster_synth`: fly-posters composited on held-out backgrounds.

Works on an ultralytics `.pt` or an exported `.onnx` (ultralytics' validator runs both); the
false-positive count uses the runtime itself (`cv.Detector`) on the ONNX file.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from training import offline
from training.build import DEFAULT_WORK, ImageRecord, load_index
from training.manifest import load_taxonomy
from training.train import dataset_yaml

SUBSETS = ("all", "real", "garbage_street", "garbage_rest", "fly_poster_synth")
FP_CONF = 0.25  # the runtime's default confidence


def subset_images(records: list[ImageRecord], subset: str) -> list[str]:
    val = [r for r in records if r.split == "val"]
    pick = {
        "all": lambda r: True,
        "real": lambda r: not r.synthetic,
        "garbage_street": lambda r: (r.source == "garbage_bags" and r.street_level and not r.synthetic)
        or r.synthetic == "garbage",
        "garbage_rest": lambda r: r.source == "garbage_bags" and not r.street_level and not r.synthetic,
        "fly_poster_synth": lambda r: r.synthetic == "fly_poster",
        "facades_real": lambda r: r.source == "facades" and not r.synthetic,
    }[subset]
    return [str(Path(r.image).resolve()) for r in val if pick(r)]


def _ap_table(metrics, names: list[str]) -> dict:
    box = metrics.box
    table = {}
    for i, c in enumerate(box.ap_class_index):
        table[names[int(c)]] = {"ap50": round(float(box.ap50[i]), 4), "ap50_95": round(float(box.ap[i]), 4)}
    return table


def evaluate(weights: str | Path, work: str | Path = DEFAULT_WORK, imgsz: int = 640,
             subsets: tuple[str, ...] = SUBSETS, batch: int = 8, fp: bool = True, verbose: bool = False) -> dict:
    offline.prepare()
    from ultralytics import YOLO

    work, weights = Path(work).resolve(), Path(weights)
    names = load_taxonomy().names
    records = load_index(work)
    result: dict = {"weights": weights.name, "imgsz": imgsz, "split": "val (fixed: SHA-1 of the file name)",
                    "subsets": {}}
    started = time.time()
    (work / "subsets").mkdir(exist_ok=True)
    onnx = weights.suffix == ".onnx"
    for subset in subsets:
        images = subset_images(records, subset)
        if not images:
            result["subsets"][subset] = {"images": 0}
            continue
        listing = work / "subsets" / f"{subset}.txt"
        listing.write_text("\n".join(images) + "\n")
        data = dataset_yaml(work, val=listing, name=f"eval-{subset}.yaml")
        model = YOLO(str(weights), task="detect")
        metrics = model.val(data=str(data), imgsz=imgsz, batch=1 if onnx else batch, device="cpu", plots=False,
                            verbose=verbose, save_json=False, project=str(work / "val-runs"), name=subset,
                            exist_ok=True, workers=0)
        result["subsets"][subset] = {
            "images": len(images),
            "map50": round(float(metrics.box.map50), 4),
            "map50_95": round(float(metrics.box.map), 4),
            "per_class": _ap_table(metrics, names),
        }
    if fp:
        result["fly_poster_false_positives"] = fly_poster_false_positives(weights, records, imgsz)
    result["seconds"] = round(time.time() - started)
    return result


def fly_poster_false_positives(weights: Path, records: list[ImageRecord], imgsz: int = 640,
                               conf: float = FP_CONF) -> dict:
    """Fly-posters found per real facade validation image (they have none), at the runtime's conf."""
    import cv2

    images = subset_images(records, "facades_real")
    poster = load_taxonomy().index("fly_poster")
    counts = []
    if weights.suffix == ".onnx":
        from cv import Detector

        detector = Detector(weights, conf=conf)
        for path in images:
            dets = detector.detect(cv2.imread(path))
            counts.append(int((dets.class_id == poster).sum()))
    else:
        from ultralytics import YOLO

        model = YOLO(str(weights), task="detect")
        for path in images:
            boxes = model.predict(path, imgsz=imgsz, conf=conf, verbose=False)[0].boxes
            counts.append(int((boxes.cls.numpy().astype(int) == poster).sum()))
    counts_arr = np.array(counts or [0])
    return {"images": len(images), "conf": conf, "false_posters": int(counts_arr.sum()),
            "per_image": round(float(counts_arr.mean()), 4) if counts else None,
            "images_with_any": int((counts_arr > 0).sum())}


def save(result: dict, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1))
    return path


def flat_ap50(result: dict, subset: str = "all") -> dict[str, float]:
    return {c: v["ap50"] for c, v in result["subsets"].get(subset, {}).get("per_class", {}).items()}


def label_gaps(onnx: str | Path, work: str | Path = DEFAULT_WORK, conf: float = 0.5) -> dict:
    """How big are the partial-label gaps? Confident detections (≥ conf) of our own classes on real
    validation images of sources that do not label that class (each is an object taught as background,
    or a false positive): counted per source and class, per image."""
    import cv2

    from cv import Detector

    taxonomy = load_taxonomy()
    own = ("garbage", "fly_poster", "shop_sign", "window_ad")
    detector = Detector(onnx, conf=conf)
    counts: dict = {}
    for r in load_index(work):
        if r.split != "val" or r.synthetic:
            continue
        dets = detector.detect(cv2.imread(r.image))
        c = counts.setdefault(r.source, {"images": 0, **{k: 0 for k in own if k not in r.complete}})
        c["images"] += 1
        for cls in own:
            if cls not in r.complete:
                c[cls] += int((dets.class_id == taxonomy.index(cls)).sum())
    return {"conf": conf, "per_source": counts,
            "note": "real facades have no fly-posters, so their fly_poster count is false positives; the other "
                    "counts mix unlabelled real objects and false positives (not checked by eye)"}
