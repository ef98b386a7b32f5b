"""`retrain --from DIR`: operators' reviews (an `export-dataset` folder) → a candidate model.

Merges the field frames into the fixed-split dataset (their own split, by camera: training.field),
fills their gaps with the teacher's labels (COCO classes, not where an operator rejected), fine-tunes the model in service from its shipped weights, exports the candidate to the candidates
folder, evaluates candidate and parent side by side on the old split and on the field split, and
gates: no class worse by more than the margin on the old split, and a win on the field split. The
card records the lineage (parent, data added). `citypatrol model promote VERSION` puts it in service.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from pathlib import Path

from cv.model_card import CANDIDATES_DIR, MODELS_DIR, ModelCard, default_model_path, sha256_of
from training.blend import blend, check_alpha
from training.build import DEFAULT_WORK, load_index
from training.evaluate import evaluate, subset_images
from training.export import export_onnx, parity_check, save_weights
from training.field import FIELD_SOURCE, merge_field, teach_field
from training.gate import DEFAULT_MARGIN, compare_retrained
from training.train import DEFAULT_RUNS, last_checkpoint, train

RETRAIN_SUBSETS = ("all", "garbage_street", "field")
# Old training images replayed beside the field frames (a fixed sample, by name hash): enough that the
# model keeps what it knew, few enough that the field frames and their hard negatives weigh, and that a
# weekly retrain takes minutes on a CPU. Measured with bench/retrain_week.py on 0.3.0 (32 held-out
# frames): 600 replayed, 3 epochs: 1.69 → 1.66 false alarms per frame at the same recall; 300, 4 epochs:
# 1.69 → 1.22 (mAP50 0.616 → 0.590).
REPLAY = 300
EPOCHS = 4


def retrain_images(work: Path, replay: int | None) -> list[str] | None:
    """Every field training frame plus `replay` old training images; None (all of them) without replay."""
    if not replay:
        return None
    records = [r for r in load_index(work) if r.split == "train"]
    field = [r for r in records if r.source == FIELD_SOURCE]
    old = sorted((r for r in records if r.source != FIELD_SOURCE), key=lambda r: hashlib.sha1(r.name.encode()).hexdigest())
    # the links' own paths (not resolved): ultralytics finds each label by the image path
    return [os.path.abspath(r.image) for r in field + old[:replay]]


def next_version(parent: str, *folders: Path) -> str:
    """The parent's patch version + 1 (0.2.0 → 0.2.1), or parent.r1; never one that exists already."""
    match = re.fullmatch(r"(\d+)\.(\d+)\.(\d+)", parent)
    taken = {p.stem.removeprefix("citypatrol-") for folder in folders for p in Path(folder).glob("*.onnx")}
    step = 1
    while True:
        version = (f"{match[1]}.{match[2]}.{int(match[3]) + step}" if match else f"{parent}.r{step}")
        if version not in taken:
            return version
        step += 1


def retrain(export_dir: str | Path, work: str | Path = DEFAULT_WORK, models_dir: str | Path = MODELS_DIR,
            parent: str | Path | None = None, out_dir: str | Path = CANDIDATES_DIR, epochs: int = EPOCHS,
            imgsz: int | None = None, hours: float | None = None, batch: int = 16, version: str | None = None,
            margin: float = DEFAULT_MARGIN, runs: str | Path = DEFAULT_RUNS, workers: int = 2,
            replay: int | None = REPLAY, parity_images: int = 4, blend_alpha: float | None = None) -> dict:
    """Returns the candidate's card (also written beside it in `out_dir`). `blend_alpha`: the candidate is
    the fine-tune averaged with the parent's weights, the fine-tune's share being `blend_alpha`
    (training.blend)."""
    work, models_dir, out_dir = Path(work), Path(models_dir), Path(out_dir)
    if blend_alpha is not None:
        check_alpha(blend_alpha)
    parent_onnx = Path(parent) if parent else default_model_path(models_dir)
    parent_card = ModelCard.load_for(parent_onnx)
    parent_pt = parent_onnx.with_suffix(".pt")
    if not parent_pt.exists():
        raise FileNotFoundError(f"{parent_pt} not found: a retrain fine-tunes the parent's own weights, which "
                                f"ship beside its ONNX file (models released before 0.2.0 have none)")
    recorded = ((parent_card.model_extra or {}).get("weights") or {}).get("sha256")
    if recorded and recorded != sha256_of(parent_pt):
        raise ValueError(f"{parent_pt} is not the weights its card {parent_onnx.with_suffix('.json').name} records")
    field = merge_field(export_dir, work)
    field["teacher_labels_added"] = teach_field(work)
    version = version or next_version(parent_card.version, out_dir, models_dir)
    train_imgsz = imgsz or (parent_card.model_extra or {}).get("training", {}).get("settings", {}).get("imgsz") \
        or parent_card.imgsz
    images = retrain_images(work, replay)
    started = time.time()
    weights = train(work, runs, name=f"retrain-{version}", epochs=epochs, imgsz=train_imgsz, batch=batch,
                    hours=hours, workers=workers, start=parent_pt, train_images=images, verbose=False)
    if blend_alpha is not None:
        weights = blend(parent_pt, weights, blend_alpha, last_checkpoint(runs, f"retrain-{version}-blend"))
    seconds = round(time.time() - started)
    onnx = export_onnx(weights, out_dir / f"citypatrol-{version}.onnx", imgsz=parent_card.imgsz, version=version)
    trained = save_weights(weights, onnx.with_suffix(".pt"))
    real = subset_images(load_index(work), "real")
    parity = parity_check(onnx, real[:: max(len(real) // max(parity_images, 1), 1)][:parity_images],
                          imgsz=parent_card.imgsz)
    candidate = evaluate(onnx, work, imgsz=parent_card.imgsz, subsets=RETRAIN_SUBSETS)
    before = evaluate(parent_onnx, work, imgsz=parent_card.imgsz, subsets=RETRAIN_SUBSETS)
    gate = compare_retrained(candidate, before, margin, parent_name=parent_onnx.name)
    card = json.loads(ModelCard.path_for(onnx).read_text(encoding="utf-8"))
    card.update({
        "lineage": {"parent": {"version": parent_card.version, "file": parent_onnx.name, "sha256": parent_card.sha256,
                               "weights_sha256": sha256_of(parent_pt)},
                    "field_data": field},
        "training": {"kind": "fine-tune of the parent on the field frames + replayed old training images",
                     "replayed": replay or "all", "train_images": len(images) if images else "all",
                     "epochs": epochs, "imgsz": train_imgsz, "batch": batch, "hours": hours, "seconds": seconds,
                     "blend_alpha": blend_alpha},
        "metrics": candidate,
        "parent_metrics": before["subsets"],
        "gate": gate.to_dict(),
        "parity": parity,
        "weights": {"file": trained.name, "sha256": sha256_of(trained)},
        "data": (parent_card.model_extra or {}).get("data"),
    })
    ModelCard.model_validate(card)
    ModelCard.path_for(onnx).write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return card

