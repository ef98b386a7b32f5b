"""`eval`: per-class AP50 and AP50-95 on the fixed validation split, on its subsets, and the false
fly-posters per real facade validation image (real facades have no fly-posters), also beside the
share of synthetic posters found at several confidences (`fly_poster_operating_points`).

Subsets of the validation split (list files under `<work>/subsets/`):
- `all`: every validation image of the fixed split (real and synthetic; not field frames);
- `real`: its real images only (source labels + teacher labels);
- `field`: reviewed field frames of the validation cameras (`training.field`, after a retrain merged them);
- `garbage_street`: street-level garbage_bags photos + garbage pasted on held-out street/facade backgrounds;
- `garbage_rest`: the other garbage_bags photos (top-down into containers, close-ups);
- `fly_poster_synth`: fly-posters composited on held-out backgrounds (whole frames);
- `fly_poster_crops`: full-resolution crops of those frames around a poster: what the runtime's
  second pass over a camera's `wall` zones sees (cv.Detector `crops=`).

An exported `.onnx` is evaluated with the runtime itself (`cv.Detector`, rectangular letterbox,
conf 0.001, IoU 0.7, 300 boxes: ultralytics' validation settings) in one pass over the validation
images, and AP is computed by ultralytics' own `ap_per_class` with its matching rule, per subset.
An ultralytics `.pt` goes through ultralytics' validator (one run per subset).
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from pathlib import Path

import numpy as np

from cv.config import load_taxonomy
from training import offline
from training.build import DEFAULT_WORK, ImageRecord, load_index
from training.field import FIELD_SOURCE
from training.train import dataset_yaml

SUBSETS = ("all", "real", "garbage_street", "garbage_rest", "fly_poster_synth", "fly_poster_crops")
FP_CONF = 0.25  # the runtime's default confidence
OPERATING_CONFS = (0.25, 0.3, 0.4, 0.5, 0.6)


def subset_images(records: list[ImageRecord], subset: str) -> list[str]:
    val = [r for r in records if r.split == "val"]
    pick = {
        "all": lambda r: r.source != FIELD_SOURCE,
        "real": lambda r: not r.synthetic and r.source != FIELD_SOURCE,
        "field": lambda r: r.source == FIELD_SOURCE,
        "garbage_street": lambda r: (r.source == "garbage_bags" and r.street_level and not r.synthetic)
        or r.synthetic == "garbage",
        "garbage_rest": lambda r: r.source == "garbage_bags" and not r.street_level and not r.synthetic,
        "fly_poster_synth": lambda r: r.synthetic == "fly_poster",
        "fly_poster_crops": lambda r: r.synthetic == "fly_poster_crop",
        "facades_real": lambda r: r.source == "facades" and not r.synthetic,
    }[subset]
    # absolute paths of the dataset's links, NOT resolved: ultralytics finds a label by replacing
    # /images/ with /labels/ in the path, and the resolved path is the shared file with its source labels
    return [os.path.abspath(r.image) for r in val if pick(r)]


def _ap_table(metrics, names: list[str]) -> dict:
    box = metrics.box
    table = {}
    for i, c in enumerate(box.ap_class_index):
        table[names[int(c)]] = {"ap50": round(float(box.ap50[i]), 4), "ap50_95": round(float(box.ap[i]), 4)}
    return table


def evaluate(weights: str | Path, work: str | Path = DEFAULT_WORK, imgsz: int = 640,
             subsets: tuple[str, ...] = SUBSETS, batch: int = 8, fp: bool = True, verbose: bool = False,
             second_look: bool = False) -> dict:
    work, weights = Path(work).resolve(), Path(weights)
    if weights.suffix == ".onnx":
        return evaluate_runtime(weights, work, imgsz=imgsz, subsets=subsets, fp=fp, second_look=second_look)
    offline.prepare()
    from ultralytics import YOLO

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


IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)


def _correct(pred_cls: np.ndarray, true_cls: np.ndarray, iou: np.ndarray) -> np.ndarray:
    """ultralytics' greedy matching (BaseValidator.match_predictions): (n_pred, 10) true positives;
    predictions in decreasing confidence order, `iou` is (n_true, n_pred)."""
    correct = np.zeros((len(pred_cls), len(IOU_THRESHOLDS)), bool)
    if not len(pred_cls) or not len(true_cls):
        return correct
    iou = iou * (true_cls[:, None] == pred_cls[None, :])
    matched = np.zeros((iou.shape[0], len(IOU_THRESHOLDS)), bool)
    for j in np.flatnonzero((iou >= IOU_THRESHOLDS.min()).any(0)):
        available = np.where(matched, 0, iou[:, j, None])
        k = available.argmax(0)
        correct[j] = available[k, range(len(IOU_THRESHOLDS))] >= IOU_THRESHOLDS
        matched[k, range(len(IOU_THRESHOLDS))] |= correct[j]
    return correct


def grid_windows(n: int) -> tuple[tuple[float, float, float, float], ...]:
    """An n×n grid of windows over the whole frame, as relative xyxy boxes."""
    return tuple((i / n, j / n, (i + 1) / n, (j + 1) / n) for j in range(n) for i in range(n))


def runtime_stats(detector, paths: list[str], by_image: dict, work: Path, second_look: bool = False,
                   desc: str = "eval", progress: bool = True, crop_grid: int | None = None) -> tuple[dict, float]:
    """Per image: (true positives at 10 IoUs, confidences, predicted classes, true classes), and the
    mean seconds per image. `second_look`: also the fly-poster crops of the whole frame, as a camera
    whose wall fills the frame (a facade) gets them from its `wall` zones; `crop_grid` N makes those
    crops an N×N grid instead, upscaled past the frame's pixels where N exceeds the runtime's zoom
    (bench/second_look_zoom.py)."""
    import cv2
    from tqdm import tqdm

    from cv.detector import Crops, crop_windows
    from cv.geometry import box_iou
    from training.build import label_file, read_labels
    from training.teacher import yolo_to_xyxy

    stats, seconds = {}, 0.0
    for path in tqdm(paths, desc=desc, disable=not progress, unit="img"):
        record = by_image[path]
        image = cv2.imread(path)
        crops = None
        if second_look:
            windows = crop_windows([(0.0, 0.0, 1.0, 1.0)], (record.width, record.height), detector.imgsz) \
                if crop_grid is None else grid_windows(crop_grid)
            crops = Crops(windows, frozenset({"fly_poster"})) if windows else None
        started = time.perf_counter()
        dets = detector.detect(image, crops)
        seconds += time.perf_counter() - started
        rows = read_labels(label_file(work, record))
        true_cls = np.array([r[0] for r in rows], np.int64)
        true_xyxy = yolo_to_xyxy(rows, record.width, record.height) if rows else np.zeros((0, 4))
        iou = box_iou(true_xyxy.astype(np.float32), dets.xyxy) if len(rows) and len(dets) else \
            np.zeros((len(rows), len(dets)))
        stats[path] = (_correct(dets.class_id, true_cls, iou), dets.confidence, dets.class_id, true_cls)
    return stats, seconds / max(len(paths), 1)


def scene_of(record: ImageRecord) -> str:
    """The real photo an image shows: a synthetic image's background, else the image itself."""
    return record.background or record.name


def _distinct_objects(stats: dict, images: list[str], scenes: dict[str, str]) -> Counter[int]:
    """Objects per class counted once per scene. A synthetic validation image repeats the labelled
    objects of the real photo it was composited on (a truck, with garbage pasted beside it), so over a
    subset holding both, a class has the larger of the two counts per scene, not their sum."""
    most: dict[tuple[str, int], int] = {}
    for path in images:
        classes, counts = np.unique(stats[path][3], return_counts=True)
        for cls, n in zip(classes.tolist(), counts.tolist()):
            key = (scenes[path], cls)
            most[key] = max(most.get(key, 0), n)
    distinct: Counter[int] = Counter()
    for (_, cls), n in most.items():
        distinct[cls] += n
    return distinct


def _ap_of(stats: dict, images: list[str], names: list[str], scenes: dict[str, str] | None = None) -> dict:
    """mAP and per-class AP50 / AP50-95 over `images` (ultralytics' ap_per_class); with `scenes`
    (image → scene_of), also each class's `distinct` objects, which the gate's minimum counts."""
    from ultralytics.utils.metrics import ap_per_class

    tp = np.concatenate([stats[p][0] for p in images])
    conf = np.concatenate([stats[p][1] for p in images])
    pred_cls = np.concatenate([stats[p][2] for p in images])
    target_cls = np.concatenate([stats[p][3] for p in images])
    per_class = {}
    map50 = map50_95 = 0.0
    distinct = _distinct_objects(stats, images, scenes) if scenes else {}
    if len(target_cls):
        out = ap_per_class(tp, conf, pred_cls, target_cls)
        ap, classes = out[5], out[6]
        for i, c in enumerate(classes):
            per_class[names[int(c)]] = {"ap50": round(float(ap[i, 0]), 4), "ap50_95": round(float(ap[i].mean()), 4),
                                        "instances": int((target_cls == c).sum()),
                                        **({"distinct": distinct[int(c)]} if distinct else {})}
        map50, map50_95 = float(ap[:, 0].mean()), float(ap.mean())
    return {"images": len(images), "map50": round(map50, 4), "map50_95": round(map50_95, 4), "per_class": per_class}


def _false_posters(stats: dict, images: list[str], poster: int, conf: float = FP_CONF) -> dict:
    """Fly-posters at `conf` (the runtime's confidence by default) on real facades (which have none)."""
    counts = np.array([int(((stats[p][2] == poster) & (stats[p][1] >= conf)).sum()) for p in images] or [0])
    return {"images": len(images), "conf": conf, "false_posters": int(counts.sum()),
            "per_image": round(float(counts.mean()), 4) if images else None, "images_with_any": int((counts > 0).sum())}


def _poster_operating_points(stats: dict, posters: list[str], facades: list[str], poster: int) -> list[dict]:
    """At each confidence, the share of synthetic posters found (IoU >= 0.5) and the false posters per
    real facade: what the 0201 rule's `min_score` trades."""
    total = sum(int((stats[p][3] == poster).sum()) for p in posters)
    points = []
    for conf in OPERATING_CONFS:
        found = sum(int(((stats[p][2] == poster) & (stats[p][1] >= conf) & stats[p][0][:, 0]).sum()) for p in posters)
        points.append({"conf": conf, "recall": round(found / total, 3) if total else None,
                       "false_posters_per_facade": _false_posters(stats, facades, poster, conf)["per_image"]})
    return points


def poster_look(detector, posters: list[str], facades: list[str], by_image: dict, work: Path,
                second_look: bool, crop_grid: int | None = None, progress: bool = True) -> dict:
    """The synthetic poster frames and real facades, each as a camera whose wall zone is the whole
    frame, looked at with or without the wall crops (`runtime_stats`): fly-poster AP50, false posters
    per facade, the operating points and the time per frame."""
    names = list(detector.class_names)
    poster = names.index("fly_poster")
    label = f"grid {crop_grid}" if crop_grid else "with" if second_look else "without"
    looked, per_image = runtime_stats(detector, posters + facades, by_image, work, second_look=second_look,
                                      desc=f"second look: {label}", progress=progress, crop_grid=crop_grid)
    return {"fly_poster_ap50": _ap_of(looked, posters, names)["per_class"].get("fly_poster", {}).get("ap50"),
            "false_posters_per_facade": _false_posters(looked, facades, poster)["per_image"],
            "operating_points": _poster_operating_points(looked, posters, facades, poster),
            "ms_per_frame": round(per_image * 1000, 1)}


def evaluate_runtime(onnx: Path, work: Path, imgsz: int = 640, subsets: tuple[str, ...] = SUBSETS,
                     fp: bool = True, second_look: bool = False, progress: bool = True) -> dict:
    """One pass of `cv.Detector` over the validation images, then AP per subset and class; with
    `second_look`, fly-poster AP, false posters and time per frame with and without the wall crops."""
    from cv import Detector

    offline.prepare()
    names = load_taxonomy().names
    records = load_index(work)
    by_image = {os.path.abspath(r.image): r for r in records if r.split == "val"}
    wanted = set()
    for subset in subsets:
        wanted.update(subset_images(records, subset))
    facades = subset_images(records, "facades_real")
    if fp:
        wanted.update(facades)
    detector = Detector(onnx, conf=0.001, iou=0.7, max_det=300)
    if detector.imgsz != imgsz:
        raise ValueError(f"{onnx.name} was exported for imgsz {detector.imgsz}, not {imgsz}")
    started = time.time()
    stats, _ = runtime_stats(detector, sorted(wanted), by_image, work, desc=f"eval {onnx.name}", progress=progress)
    result: dict = {"weights": onnx.name, "imgsz": imgsz, "evaluator": "cv.Detector (runtime) + ultralytics ap_per_class",
                    "split": "val (fixed: SHA-1 of the file name)", "subsets": {}}
    scenes = {path: scene_of(record) for path, record in by_image.items()}
    for subset in subsets:
        images = subset_images(records, subset)
        result["subsets"][subset] = _ap_of(stats, images, names, scenes) if images else {"images": 0}
    poster = names.index("fly_poster")
    if fp:
        result["fly_poster_false_positives"] = _false_posters(stats, facades, poster)
    posters = subset_images(records, "fly_poster_synth")
    if fp and posters:
        result["fly_poster_operating_points"] = _poster_operating_points(stats, posters, facades, poster)
    if second_look and posters:
        result["second_look"] = {"note": "fly_poster_synth frames and real facades, each as a camera whose wall "
                                         "zone is the whole frame: cv.Detector with and without its crops"}
        for mode in ("without", "with"):
            result["second_look"][mode] = poster_look(detector, posters, facades, by_image, work,
                                                      second_look=mode == "with", progress=progress)
    result["seconds"] = round(time.time() - started)
    return result
