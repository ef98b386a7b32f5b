"""Field data: frames that operators reviewed (`citypatrol export-dataset`) merged into the dataset.

Field frames get their own fixed split, by camera (SHA-1 of the camera id, like the file-name rule
of the source images): a camera's frames are never on both sides, so the field validation measures
cameras the candidate did not learn from. Merging is incremental: a frame already merged is kept
as it is. Images are copied (they are our own footage, and an export folder may be moved away).

Operators only see what the model found, so an object it missed is in no field label: trained on as
it is, it would be taught as background. The teacher fills that gap for the COCO classes, as it does
on every source image (`teach_field`), except where an operator rejected a box of that class.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from cv.image import read_header
from training.build import ImageRecord, index_meta, load_index, read_labels, save_index, split_of

FIELD_SOURCE = "field"
FIELD_VAL_PERCENT = 25


def field_split(camera_id: str) -> str:
    return split_of(camera_id, FIELD_VAL_PERCENT)


def read_export(export_dir: Path) -> list[dict]:
    manifest = Path(export_dir) / "manifest.jsonl"
    if not manifest.exists():
        raise FileNotFoundError(f"{manifest} not found: make the export with `citypatrol export-dataset --out {export_dir}`")
    return [json.loads(line) for line in manifest.read_text(encoding="utf-8").splitlines() if line.strip()]


def merge_field(export_dir: str | Path, work: str | Path) -> dict:
    """Add the export's frames that are not merged yet; returns what was added and what is there in all."""
    export_dir, work = Path(export_dir).resolve(), Path(work)
    records = load_index(work)
    known = {r.name for r in records}
    added: list[ImageRecord] = []
    for line in read_export(export_dir):
        name = f"{FIELD_SOURCE}__{Path(line['image']).stem}"
        if name in known:
            continue
        split = field_split(line["camera_id"])
        image = work / "data" / "images" / split / f"{name}.jpg"
        label = work / "data" / "labels" / split / f"{name}.txt"
        image.parent.mkdir(parents=True, exist_ok=True)
        label.parent.mkdir(parents=True, exist_ok=True)
        data = (export_dir / line["image"]).read_bytes()
        header = read_header(data)
        shutil.copyfile(export_dir / line["label"], label)
        own_labels = work / "src_labels" / split / label.name  # what `teacher.merge` adds the teacher's to
        own_labels.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(label, own_labels)
        image.write_bytes(data)
        added.append(ImageRecord(
            name=name, source=FIELD_SOURCE, split=split, image=str(image), original=str(export_dir / line["image"]),
            width=header.width, height=header.height, complete=[], negatives=[], labels=len(read_labels(label)),
            extra={key: line.get(key) for key in ("camera_id", "frame_id", "review_outcomes", "model_version",
                                                   "machine_labels", "rejected_boxes", "licence")}))
        known.add(name)
    exports = sorted(set(index_meta(work).get("field_exports", [])) | {str(export_dir)})
    save_index(work, records + added, field_exports=exports)
    every = [r for r in records + added if r.source == FIELD_SOURCE]
    return {
        "export": str(export_dir),
        "frames_added": {split: sum(r.split == split for r in added) for split in ("train", "val")},
        "frames_total": {split: sum(r.split == split for r in every) for split in ("train", "val")},
        "cameras": {split: sorted({r.extra["camera_id"] for r in every if r.split == split}) for split in ("train", "val")},
        "labels_added": sum(r.labels for r in added),
        "split_rule": f"by camera: val if int(sha1(camera_id)[:8], 16) % 100 < {FIELD_VAL_PERCENT}",
    }


def teach_field(work: str | Path, teacher=None) -> dict:
    """The teacher's labels (COCO classes, at the dataset's measured threshold) on the field training frames
    it has not seen yet, merged like every source image's. The field validation frames keep what people
    labelled: the gate's field comparison measures against that. Returns how many labels it added."""
    from training.teacher import merge, run_teacher

    work = Path(work)
    threshold = index_meta(work).get("teacher", {}).get("threshold")
    if threshold is None:
        raise ValueError(f"{work} has no measured teacher threshold: run `citypatrol-train teacher` first")
    run_teacher(work, teacher, progress=False, only_missing=True,
                keep=lambda r: r.source == FIELD_SOURCE and r.split == "train")
    merge(work, threshold)
    taught = [r for r in load_index(work) if r.source == FIELD_SOURCE and r.split == "train"]
    return {"frames": len(taught), "labels": sum(r.extra.get("teacher_labels", 0) for r in taught),
            "threshold": threshold}
