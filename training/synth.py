"""`synth`: synthetic training and validation images, composited on the real images of the dataset.

- fly-posters (training/synth_posters.py) on facade and street backgrounds, never over a labelled
  object (shop signs, window ads, the teacher's persons and vehicles, facade cantilevers); the
  facade's own window and door boxes set the scale;
- garbage (training/copy_paste.py): bags cut out of garbage_bags polygons, pasted onto the street
  and facade backgrounds;
- clean wall crops (`--clean-wall-crops`): full-resolution crops of the real training backgrounds
  with nothing pasted. Every poster frame's crop holds a poster, so a model might learn that a close
  look at a wall always finds one and the runtime's second look see posters on clean walls; a
  fine-tune with them (and hard negatives) did not lower the false posters (docs/models.md).

A synthetic image takes its background's split, so validation backgrounds (and validation garbage
cut-outs) never reach training. Its labels are the background's labels (source + teacher), minus
boxes the pasted objects mostly hide, plus the pasted boxes.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from cv.config import load_taxonomy
from training.build import (DEFAULT_WORK, ImageRecord, label_file, load_index, read_labels, save_index,
                            write_labels)
from training.teacher import xyxy_to_yolo, yolo_to_xyxy

# facades' own class ids used for placement (they are not taxonomy classes)
FACADE_CANTILEVER, FACADE_WINDOW, FACADE_DOOR = 1, 0, 5
HIDDEN = 0.6  # a background box covered this much by pasted objects is dropped from the labels

# A camera's second pass looks at its `wall` zones at full resolution (cv.Detector crops), where a
# poster is 1.5–2.5× larger than in the whole frame: teach that view too, from frames that are large
# enough to crop without upscaling.
WALL_CROP = "_crop"
CLEAN_WALL_CROP = "wall_crop"    # a crop of a real background, nothing pasted: what a clean wall looks like close
WALL_CROP_SIDE = (0.4, 0.65)     # crop side as a fraction of the frame's
WALL_CROP_MIN_WIDTH = 480        # px: smaller crops would only upscale the frame
CROP_VISIBLE = 0.4               # a box cut by the crop keeps its label if this much of it stays in

# share of each source's images that get one synthetic variant
POSTER_SHARE = {"facades": 0.7, "street_vehicles": 0.35}
GARBAGE_SHARE = {"street_vehicles": 0.7, "facades": 0.3}


def _rng(seed: int, *parts: str) -> np.random.Generator:
    digest = hashlib.sha1("/".join(parts).encode()).hexdigest()[:12]
    return np.random.default_rng([seed, int(digest, 16)])


def _original_boxes(record: ImageRecord, classes: tuple[int, ...]) -> np.ndarray:
    """xyxy pixel boxes of the given *source* class ids from the source's own label file."""
    label = Path(record.original).parent.parent / "labels" / f"{Path(record.original).stem}.txt"
    boxes = []
    for line in label.read_text().splitlines() if label.exists() else []:
        p = line.split()
        if len(p) >= 5 and int(float(p[0])) in classes:
            v = np.array(p[1:], np.float64)
            if len(v) == 4:
                boxes.append([(v[0] - v[2] / 2) * record.width, (v[1] - v[3] / 2) * record.height,
                              (v[0] + v[2] / 2) * record.width, (v[1] + v[3] / 2) * record.height])
            else:
                pts = v[: len(v) // 2 * 2].reshape(-1, 2) * [record.width, record.height]
                boxes.append([*pts.min(0), *pts.max(0)])
    return np.array(boxes, np.float64).reshape(-1, 4)


def _hidden(background: np.ndarray, pasted: np.ndarray) -> np.ndarray:
    """Fraction of each background box covered by the union of pasted boxes (approximated by the sum)."""
    if not len(background) or not len(pasted):
        return np.zeros(len(background))
    x1 = np.maximum(background[:, None, 0], pasted[None, :, 0])
    y1 = np.maximum(background[:, None, 1], pasted[None, :, 1])
    x2 = np.minimum(background[:, None, 2], pasted[None, :, 2])
    y2 = np.minimum(background[:, None, 3], pasted[None, :, 3])
    inter = (np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)).sum(1)
    area = np.clip((background[:, 2] - background[:, 0]) * (background[:, 3] - background[:, 1]), 1e-6, None)
    return np.clip(inter / area, 0, 1)


def _save(work: Path, record: ImageRecord, kind: str, image: np.ndarray, rows: list[tuple],
          variant: int = 0, pasted: str | None = None) -> ImageRecord:
    """Write a synthetic view of `record` and its labels. `pasted`: the class composited onto it, which
    its labels then hold completely; a view with nothing pasted keeps what its background's labels settle."""
    name = f"synth_{kind}{f'_v{variant}' if variant else ''}__{record.name}"
    height, width = image.shape[:2]
    path = work / "data" / "images" / record.split / f"{name}.jpg"
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, 92])
    write_labels(work / "data" / "labels" / record.split / f"{name}.txt", rows)
    return ImageRecord(
        name=name, source=record.source, split=record.split, image=str(path), original=str(path),
        width=width, height=height, complete=list(record.complete) + ([pasted] if pasted else []),
        negatives=[] if pasted else list(record.negatives), labels=len(rows), synthetic=kind,
        background=record.name,
    )


def _crop_window(image: np.ndarray, rng: np.random.Generator) -> tuple[int, int] | None:
    """(width, height) of a wall crop of this frame, or None when the frame is too small to crop."""
    H, W = image.shape[:2]
    side = rng.uniform(*WALL_CROP_SIDE)
    cw, ch = int(W * side), int(H * side)
    return None if cw < WALL_CROP_MIN_WIDTH else (cw, ch)


def _cropped(image: np.ndarray, rows: list[tuple], x0: int, y0: int, cw: int,
             ch: int) -> tuple[np.ndarray, list[tuple]]:
    """The crop and the labels that stay visible in it."""
    H, W = image.shape[:2]
    kept = []
    for class_id, *box in rows:
        bx0, by0, bx1, by1 = yolo_to_xyxy([(class_id, *box)], W, H)[0]
        area = max((bx1 - bx0) * (by1 - by0), 1e-6)
        cx0, cy0 = max(bx0, x0) - x0, max(by0, y0) - y0
        cx1, cy1 = min(bx1, x0 + cw) - x0, min(by1, y0 + ch) - y0
        if cx1 - cx0 < 2 or cy1 - cy0 < 2 or (cx1 - cx0) * (cy1 - cy0) < CROP_VISIBLE * area:
            continue
        kept.append((class_id, *xyxy_to_yolo(np.array([cx0, cy0, cx1, cy1]), cw, ch)))
    return np.ascontiguousarray(image[y0:y0 + ch, x0:x0 + cw]), kept


def _wall_crop(image: np.ndarray, rows: list[tuple], posters: np.ndarray, poster_id: int,
               rng: np.random.Generator) -> tuple[np.ndarray, list[tuple], int] | None:
    """A full-resolution crop around one of the pasted posters, with the labels that stay visible,
    or None when the frame is too small to crop (or the crop cuts its poster too much).
    Returns (crop, rows, posters in the crop)."""
    window = _crop_window(image, rng)
    if window is None:
        return None
    (H, W), (cw, ch) = image.shape[:2], window
    px0, py0, px1, py1 = posters[int(rng.integers(0, len(posters)))]
    cx, cy = (px0 + px1) / 2, (py0 + py1) / 2
    x0 = int(np.clip(cx - rng.uniform(0.15, 0.85) * cw, 0, W - cw))
    y0 = int(np.clip(cy - rng.uniform(0.15, 0.85) * ch, 0, H - ch))
    crop, kept = _cropped(image, rows, x0, y0, cw, ch)
    n_posters = sum(row[0] == poster_id for row in kept)
    return (crop, kept, n_posters) if n_posters else None


def _clean_wall_crop(image: np.ndarray, rows: list[tuple],
                     rng: np.random.Generator) -> tuple[np.ndarray, list[tuple]] | None:
    """A full-resolution crop anywhere on a real background (nothing pasted), or None if too small."""
    window = _crop_window(image, rng)
    if window is None:
        return None
    (H, W), (cw, ch) = image.shape[:2], window
    return _cropped(image, rows, int(rng.integers(0, W - cw + 1)), int(rng.integers(0, H - ch + 1)), cw, ch)


def _count(counts: dict, kind: str, split: str, pasted_boxes: int) -> None:
    c = counts.setdefault(kind, {"train_images": 0, "val_images": 0, "train_boxes": 0, "val_boxes": 0})
    c[f"{split}_images"] += 1
    c[f"{split}_boxes"] += pasted_boxes


def synthesize(work: str | Path = DEFAULT_WORK, seed: int = 0, poster_share: dict | None = None,
               garbage_share: dict | None = None, max_posters: int = 4, max_garbage: int = 3,
               poster_variants: int = 1, clean_wall_crops: bool = False, progress: bool = True) -> dict:
    """Make the synthetic images (replacing earlier ones) and return their counts per kind and split.

    `poster_variants`: poster scenes per chosen training background (other posters, other places);
    the first is the one a single variant makes, and validation backgrounds always get one, so the
    validation images stay the same whatever the number. `clean_wall_crops`: one crop of each real
    training frame large enough, nothing pasted (off by default: measured without gain, docs/models.md)."""
    if poster_variants < 1:
        raise ValueError("poster_variants must be at least 1")
    work = Path(work)
    taxonomy = load_taxonomy()
    poster_id, garbage_id = taxonomy.index("fly_poster"), taxonomy.index("garbage")
    poster_share = POSTER_SHARE if poster_share is None else poster_share
    garbage_share = GARBAGE_SHARE if garbage_share is None else garbage_share
    records = [r for r in load_index(work) if not r.synthetic]
    for old in (work / "data" / "images").glob("*/synth_*"):
        old.unlink()
    for old in (work / "data" / "labels").glob("*/synth_*"):
        old.unlink()

    from training.synth_posters import add_posters, find_cjk_font

    font = find_cjk_font()
    try:
        from training.copy_paste import load_cutouts, paste_garbage
    except ImportError:  # the colleague's module is not there yet: posters only
        load_cutouts = paste_garbage = None

    cutouts = {}
    if paste_garbage is not None and garbage_share:
        garbage = [r for r in records if r.source == "garbage_bags"]
        if garbage:
            garbage_dir = Path(garbage[0].original).parent.parent
            for split in ("train", "val"):
                names = [Path(r.original).name for r in garbage if r.split == split]
                cutouts[split] = load_cutouts(garbage_dir, names) if names else None

    made: list[ImageRecord] = []
    counts: dict = {}
    for record in tqdm(records, desc="synth", disable=not progress, unit="img"):
        jobs = []
        if _rng(seed, "poster?", record.name).random() < poster_share.get(record.source, 0.0):
            variants = poster_variants if record.split == "train" else 1
            jobs += [("fly_poster", v) for v in range(variants)]
        if cutouts.get(record.split) and _rng(seed, "garbage?", record.name).random() < garbage_share.get(record.source, 0.0):
            jobs.append(("garbage", 0))
        if clean_wall_crops and record.split == "train" and record.width * WALL_CROP_SIDE[0] >= WALL_CROP_MIN_WIDTH:
            jobs.append((CLEAN_WALL_CROP, 0))   # training only: the validation images stay as they were
        if not jobs:
            continue
        image = cv2.imread(record.original)
        rows = read_labels(label_file(work, record))
        labelled = yolo_to_xyxy(rows, record.width, record.height)
        for kind, variant in jobs:
            rng = _rng(seed, kind, record.name, *([str(variant)] if variant else []))
            if kind == CLEAN_WALL_CROP:
                crop = _clean_wall_crop(image, rows, rng)
                if crop is not None:
                    made.append(_save(work, record, kind, *crop))
                    _count(counts, kind, record.split, 0)
                continue
            if kind == "fly_poster":
                avoid = np.concatenate([labelled, _original_boxes(record, (FACADE_CANTILEVER,))]) \
                    if record.source == "facades" else labelled
                hints = _original_boxes(record, (FACADE_WINDOW, FACADE_DOOR)) if record.source == "facades" else None
                doors = _original_boxes(record, (FACADE_DOOR,)) if record.source == "facades" else None
                new, boxes = add_posters(image, avoid, rng, font, hint_boxes=hints, max_posters=max_posters,
                                         door_boxes=doors)
                class_id = poster_id
            else:
                hints = _original_boxes(record, (FACADE_WINDOW, FACADE_DOOR)) if record.source == "facades" else None
                doors = _original_boxes(record, (FACADE_DOOR,)) if record.source == "facades" else None
                new, boxes = paste_garbage(image, cutouts[record.split], labelled, rng, max_items=max_garbage,
                                           hint_boxes=hints, door_boxes=doors)
                class_id = garbage_id
            boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
            if not len(boxes):
                continue
            keep = _hidden(labelled, boxes) < HIDDEN
            kept = [row for row, k in zip(rows, keep) if k]
            kept += [(class_id, *xyxy_to_yolo(b, record.width, record.height)) for b in boxes]
            views = [(kind, new, kept, len(boxes))]
            if kind == "fly_poster":
                crop = _wall_crop(new, kept, boxes, poster_id, rng)
                if crop is not None:
                    views.append((kind + WALL_CROP, *crop))
            for view_kind, view, view_rows, pasted in views:
                made.append(_save(work, record, view_kind, view, view_rows, variant,
                                  pasted=taxonomy.names[class_id]))
                _count(counts, view_kind, record.split, pasted)
    modules = {name: hashlib.sha1((Path(__file__).parent / f"{name}.py").read_bytes()).hexdigest()[:12]
               for name in ("synth_posters", "copy_paste") if (Path(__file__).parent / f"{name}.py").exists()}
    save_index(work, records + made, synthetic={"seed": seed, "counts": counts, "poster_share": poster_share,
                                                 "poster_variants": poster_variants,
                                                 "clean_wall_crops": clean_wall_crops,
                                                 "module_sha1": modules,
                                                 "garbage_share": garbage_share if cutouts else {},
                                                 "garbage_module": bool(cutouts)})
    return counts
