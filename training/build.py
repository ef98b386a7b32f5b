"""`build`: the manifests' sources → one YOLO dataset under the work folder (ignored `var/`).

Layout of the work folder (default `var/train`):

    data/images/{train,val}/<source>__<stem>.jpg   symlinks to the shared images (never copied)
    data/labels/{train,val}/<source>__<stem>.txt   the labels ultralytics reads (source, then + teacher)
    src_labels/{train,val}/<source>__<stem>.txt    the source's own labels mapped onto the taxonomy
    index.json                                     one record per image (source, split, size, subsets)

The validation split is fixed by a hash of the source file name, so every model version is
evaluated on the same images whatever else changes.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tqdm import tqdm

from cv.config import Taxonomy, load_taxonomy
from cv.image import read_header
from training.manifest import DEFAULT_DATA_ROOT, Manifest, load_manifests

VAL_PERCENT = 15
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
DEFAULT_WORK = Path("var/train")


@dataclass
class ImageRecord:
    name: str  # <source>__<stem>, unique over all sources
    source: str
    split: str
    image: str  # path of the image link inside the dataset
    original: str  # the shared file
    width: int
    height: int
    complete: list[str]
    negatives: list[str]
    labels: int = 0
    street_level: bool | None = None  # garbage_bags only: a street-level photo (garbage_street subset)
    synthetic: str | None = None  # "fly_poster", "fly_poster_crop", "garbage", "wall_crop" (training/synth.py)
    background: str | None = None  # the real image a synthetic one was composited on
    extra: dict = field(default_factory=dict)


def label_file(work: str | Path, record: ImageRecord) -> Path:
    """The label file ultralytics reads for a record's image (source labels, then teacher's, or synthetic)."""
    return Path(work) / "data" / "labels" / record.split / f"{record.name}.txt"


def split_of(file_name: str, val_percent: int = VAL_PERCENT) -> str:
    """`val` for a fixed `val_percent` % of file names (by SHA-1 of the name), else `train`."""
    bucket = int(hashlib.sha1(Path(file_name).name.encode("utf-8")).hexdigest()[:8], 16) % 100
    return "val" if bucket < val_percent else "train"


def polygon_to_box(coords: list[float]) -> tuple[float, float, float, float]:
    """Normalised polygon `x1 y1 x2 y2 …` → normalised YOLO box `cx cy w h`, clipped to the image."""
    if len(coords) < 6 or len(coords) % 2:
        raise ValueError(f"a polygon needs at least 3 points (x y pairs), got {len(coords)} values")
    xs = [min(max(x, 0.0), 1.0) for x in coords[0::2]]
    ys = [min(max(y, 0.0), 1.0) for y in coords[1::2]]
    x1, x2, y1, y2 = min(xs), max(xs), min(ys), max(ys)
    return (x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1


def read_source_labels(label_path: Path, manifest: Manifest, taxonomy: Taxonomy) -> list[tuple]:
    """The source's labels as `(taxonomy_id, cx, cy, w, h)`; unmapped classes dropped."""
    rows = []
    if not label_path.exists():
        return rows
    for line_no, line in enumerate(label_path.read_text().splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        source_id = int(float(parts[0]))
        if source_id not in manifest.classes:
            continue
        values = [float(v) for v in parts[1:]]
        # Roboflow exports mix the two: a few box sources carry polygon lines, and the reverse.
        if len(values) == 4:
            box = tuple(values)
        elif len(values) >= 6 and len(values) % 2 == 0:
            box = polygon_to_box(values)
        else:
            raise ValueError(f"{label_path}:{line_no}: expected 4 box values or a polygon, got {len(values)}")
        if box[2] <= 0 or box[3] <= 0:
            continue
        rows.append((taxonomy.index(manifest.classes[source_id]), *box))
    return rows


def write_labels(path: Path, rows: list[tuple]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{int(r[0])} {r[1]:.6f} {r[2]:.6f} {r[3]:.6f} {r[4]:.6f}\n" for r in rows))


def read_labels(path: Path) -> list[tuple]:
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        p = line.split()
        if p:
            rows.append((int(p[0]), *map(float, p[1:5])))
    return rows


def _street_level_check():
    """The colleague's classifier of street-level garbage_bags photos, when it is there."""
    try:
        from training.copy_paste import is_street_level
    except ImportError:  # pragma: no cover - synthesis modules not installed yet
        return None
    return is_street_level


def load_index(work: str | Path) -> list[ImageRecord]:
    path = Path(work) / "index.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: run `citypatrol-train build` first")
    return [ImageRecord(**r) for r in json.loads(path.read_text())["images"]]


def save_index(work: str | Path, records: list[ImageRecord], **meta) -> Path:
    path = Path(work) / "index.json"
    old = json.loads(path.read_text()) if path.exists() else {}
    old_meta = {k: v for k, v in old.items() if k != "images"}
    old_meta.update(meta)
    path.write_text(json.dumps({**old_meta, "images": [asdict(r) for r in records]}, indent=1, ensure_ascii=False))
    return path


def copy_dataset(work: Path, copy: Path, keep=lambda record: True) -> Path:
    """A copy of the work folder with its own label files and index (images stay links or copies),
    holding the records `keep` accepts; for experiments that must not touch the dataset itself."""
    import shutil
    from dataclasses import replace

    work, copy = Path(work).absolute(), Path(copy).absolute()
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(work, copy, symlinks=True, ignore=shutil.ignore_patterns("runs", "val-runs", "*.cache"))

    def moved(path: str) -> str:  # the record's link, in the copy (links are not resolved)
        absolute = Path(path).absolute()
        return str(copy / absolute.relative_to(work)) if absolute.is_relative_to(work) else path

    records = load_index(copy)
    kept = [replace(r, image=moved(r.image)) for r in records if keep(r)]
    # a subset says so: the synthetic counts in its index are still those of the whole folder
    save_index(copy, kept, **({"subset_of": {"work": str(work), "images": len(records), "kept": len(kept)}}
                              if len(kept) < len(records) else {}))
    return copy


def index_meta(work: str | Path) -> dict:
    path = Path(work) / "index.json"
    return {k: v for k, v in json.loads(path.read_text()).items() if k != "images"} if path.exists() else {}


def build(
    work: str | Path = DEFAULT_WORK,
    data_root: str | Path = DEFAULT_DATA_ROOT,
    manifest_dir: str | Path | None = None,
    limit: int | None = None,
    val_percent: int = VAL_PERCENT,
    progress: bool = True,
) -> list[ImageRecord]:
    """Link every source image into one dataset, map its labels, and record the fixed split."""
    work, data_root = Path(work), Path(data_root)
    taxonomy = load_taxonomy()
    manifests = load_manifests(manifest_dir) if manifest_dir else load_manifests()
    street_level = _street_level_check()
    records: list[ImageRecord] = []
    for manifest in manifests:
        folder = manifest.folder(data_root)
        images = sorted(p for p in (folder / "images").iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not images:
            raise FileNotFoundError(f"{folder}/images has no images (manifest {manifest.name})")
        if limit:  # a tiny slice: the first `limit` images of each split
            images = ([p for p in images if split_of(p.name, val_percent) == "train"][:limit]
                      + [p for p in images if split_of(p.name, val_percent) == "val"][:limit])
        for image in tqdm(images, desc=f"build {manifest.name}", disable=not progress, unit="img"):
            split = split_of(image.name, val_percent)
            name = f"{manifest.name}__{image.stem}"
            header = read_header(image.read_bytes())
            link = work / "data" / "images" / split / f"{name}{image.suffix.lower()}"
            link.parent.mkdir(parents=True, exist_ok=True)
            if link.is_symlink() or link.exists():
                link.unlink()
            os.symlink(image.resolve(), link)
            label_src = folder / "labels" / f"{image.stem}.txt"
            rows = read_source_labels(label_src, manifest, taxonomy)
            write_labels(work / "src_labels" / split / f"{name}.txt", rows)
            write_labels(work / "data" / "labels" / split / f"{name}.txt", rows)
            records.append(ImageRecord(
                name=name, source=manifest.name, split=split, image=str(link), original=str(image.resolve()),
                width=header.width, height=header.height, complete=list(manifest.complete),
                negatives=list(manifest.negatives), labels=len(rows),
                street_level=(bool(street_level(label_src)) if street_level and manifest.name == "garbage_bags"
                              else None),
            ))
    save_index(work, records, data_root=str(data_root.resolve()), val_percent=val_percent,
               classes=taxonomy.names, sources=[m.model_dump() for m in manifests])
    return records


def source_counts(records: list[ImageRecord]) -> dict:
    """Images and labels per source and split (for the model card)."""
    counts: dict = {}
    for r in records:
        key = r.source if not r.synthetic else f"synthetic_{r.synthetic}"
        c = counts.setdefault(key, {"train_images": 0, "val_images": 0, "train_labels": 0, "val_labels": 0})
        c[f"{r.split}_images"] += 1
        c[f"{r.split}_labels"] += r.labels
    return counts
