"""`citypatrol-train`: build → teacher → synth → train → eval → export (+ parity, gate, card).

    citypatrol-train build                       # manifests → var/train (fixed val split)
    citypatrol-train teacher                     # COCO teacher labels; threshold measured on street_vehicles
    citypatrol-train synth                       # fly-posters + pasted garbage
    citypatrol-train synth --poster-variants 3   # three poster scenes per training background
    citypatrol-train train --hours 1.2           # ultralytics, resumable with --resume
    citypatrol-train train --start models/citypatrol-0.3.0.pt --oversample fly_poster=3   # fine-tune a shipped model
    citypatrol-train train --start models/citypatrol-0.7.0.pt --hard-negatives models/citypatrol-0.7.0.onnx
    citypatrol-train blend models/citypatrol-0.3.0.pt var/runs/ft/weights/last.pt --alpha 0.5   # → var/runs/blend-0.5
    citypatrol-train pack --out var/pack         # a compact copy of the training split for a GPU machine
    citypatrol-train eval var/runs/citypatrol/weights/last.pt
    citypatrol-train export var/runs/citypatrol/weights/last.pt --version 0.1.0   # ONNX, parity, eval, gate, card
    citypatrol-train gate models/citypatrol-0.2.0.onnx --shipped models/citypatrol-0.1.0.onnx
    citypatrol-train retrain --from var/field-export    # reviews → fine-tuned, gated candidate in var/candidates
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from cv.config import ConfigError
from cv.model_card import CANDIDATES_DIR
from training.build import DEFAULT_WORK, VAL_PERCENT
from training.gate import MIN_INSTANCES
from training.retrain import EPOCHS, REPLAY
from training.manifest import DEFAULT_DATA_ROOT, ManifestError
from training.train import DEFAULT_RUNS, last_checkpoint

REPO = Path(__file__).resolve().parent.parent


def _print(obj) -> None:
    print(json.dumps(obj, indent=1, ensure_ascii=False))


def cmd_build(args) -> int:
    from training.build import build, source_counts

    records = build(args.work, args.data_root, args.manifests, limit=args.limit, val_percent=args.val_percent)
    _print(source_counts(records))
    return 0


def cmd_teacher(args) -> int:
    from training import offline

    offline.prepare()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    from training.teacher import Teacher, measure_threshold, merge, run_teacher, save_measurement

    if not args.skip_run:
        run_teacher(args.work, Teacher(imgsz=args.imgsz), only_missing=not args.rerun)
    measurement = None
    try:
        measurement = measure_threshold(args.work, source=args.reference)
        save_measurement(args.work, measurement)
    except ValueError as exc:  # no reference images in a tiny slice
        print(f"threshold not measured: {exc}", file=sys.stderr)
    threshold = args.threshold if args.threshold is not None else (
        measurement["chosen_threshold"] if measurement else 0.35)
    added = merge(args.work, threshold)
    _print({"threshold": threshold, "measured": measurement["chosen"] if measurement else None,
            "teacher_labels_added": added})
    return 0


def cmd_synth(args) -> int:
    from training.synth import synthesize

    _print(synthesize(args.work, seed=args.seed, poster_variants=args.poster_variants,
                      clean_wall_crops=args.clean_wall_crops))
    return 0


def _repeat(text: str) -> tuple[str, int]:
    kind, _, times = text.partition("=")
    if not times.isdigit() or int(times) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: expected KIND=N with N >= 1")
    return kind, int(times)


def cmd_train(args) -> int:
    from training.train import oversampled_images, train

    tuning = {k: v for k, v in (("freeze", args.freeze), ("lr0", args.lr0), ("mosaic", args.mosaic)) if v is not None}
    if tuning and args.start is None:
        raise ValueError("--freeze, --lr0 and --mosaic adjust a fine-tune: they need --start WEIGHTS")
    if args.repeat_rare is not None and not 0 < args.repeat_rare <= 1:
        raise ValueError(f"--repeat-rare {args.repeat_rare}: the threshold is a share of images, in (0, 1]")
    if args.hard_repeats < 1:
        raise ValueError(f"--hard-repeats {args.hard_repeats}: an image is shown at least once")
    sampling = ({"repeats": dict(args.oversample or []), "rare_threshold": args.repeat_rare}
                if args.oversample or args.repeat_rare or args.hard_negatives else None)
    record = sampling
    if args.hard_negatives:
        from training.hard_negatives import MINE_CONF, false_detections, summary

        found = false_detections(args.hard_negatives, args.work, classes=args.hard_classes)
        sampling["image_repeats"] = {name: args.hard_repeats for name in found}
        mined = {"model": str(args.hard_negatives), "conf": MINE_CONF, "classes": args.hard_classes or "settled",
                 "repeats": args.hard_repeats, "images": len(found), "false_detections": summary(found)}
        record = {**sampling, "hard_negatives": mined}  # the run record says how the repeats were mined
        print(f"hard negatives: {len(found)} images, {mined['false_detections']}")
    last = train(args.work, args.runs, args.name, epochs=args.epochs, imgsz=args.imgsz, batch=args.batch,
                 hours=args.hours, resume=args.resume, workers=args.workers, close_mosaic=args.close_mosaic,
                 cache=False if args.no_cache else "ram", threads=args.threads, device=args.device,
                 coco_weights=args.coco_weights, start=args.start,
                 fine_tune=tuning, sampling=record,
                 train_images=oversampled_images(args.work, **sampling) if sampling else None)
    print(f"weights: {last}")
    return 0


def cmd_blend(args) -> int:
    from training.blend import blend

    out = blend(args.start, args.tuned, args.alpha, last_checkpoint(args.runs, args.name or f"blend-{args.alpha:g}"))
    print(f"weights: {out}")
    return 0


def cmd_pack(args) -> int:
    from training.pack import pack

    _print(pack(args.work, args.out, max_side=args.max_side, quality=args.quality, reduced_side=args.reduced_side,
                min_object_px=args.min_object_px, progress=not args.quiet))
    return 0


def cmd_eval(args) -> int:
    from training.evaluate import evaluate, save

    result = evaluate(args.weights, args.work, imgsz=args.imgsz, second_look=True)
    out = args.out or Path(args.work) / "eval" / f"{Path(args.weights).stem}.json"
    save(result, out)
    _print(result)
    return 0


def cmd_gate(args) -> int:
    from cv.model_card import shipped_models
    from training.gate import gate

    shipped = args.shipped
    if shipped is None:
        others = [p for p in shipped_models(args.models_dir) if p.resolve() != Path(args.candidate).resolve()]
        shipped = others[-1] if others else None
    result, _, _ = gate(args.candidate, shipped, args.work, margin=args.margin, imgsz=args.imgsz,
                        min_instances=args.min_instances)
    _print(result.to_dict())
    return 0 if result.passed else 1


def cmd_export(args) -> int:
    from training.release import release

    card = release(args.weights, args.version, work=args.work, runs_dir=Path(args.weights).parent.parent,
                   imgsz=args.imgsz, models_dir=args.models_dir, margin=args.margin, force=args.force,
                   parity_images=args.parity_images, notes=args.notes, min_instances=args.min_instances)
    _print({k: card[k] for k in ("name", "version", "sha256", "gate", "parity") if k in card})
    return 0 if card["gate"]["passed"] or args.force else 1


def cmd_retrain(args) -> int:
    from training.retrain import retrain

    card = retrain(args.from_dir, work=args.work, models_dir=args.models_dir, parent=args.parent, out_dir=args.out,
                   epochs=args.epochs, imgsz=args.imgsz, hours=args.hours, batch=args.batch, version=args.version,
                   margin=args.margin, workers=args.workers, replay=args.replay, blend_alpha=args.blend)
    _print({"candidate": str(Path(args.out) / f"{card['name']}.onnx"), "version": card["version"],
            "lineage": card["lineage"], "gate": card["gate"]})
    print(f"next: citypatrol model promote {card['version']}" if card["gate"]["passed"] else
          f"the gate refused {card['version']}: it stays a candidate", file=sys.stderr)
    return 0 if card["gate"]["passed"] else 1


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="citypatrol-train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)

    def common(sp):
        sp.add_argument("--work", type=Path, default=DEFAULT_WORK, help="dataset work folder (default var/train)")
        return sp

    s = common(sub.add_parser("build", help="manifests → one YOLO dataset with a fixed validation split"))
    s.add_argument("--data-root", type=Path, default=DEFAULT_DATA_ROOT)
    s.add_argument("--manifests", type=Path, default=None, help="folder of manifests (default datasets/)")
    s.add_argument("--limit", type=int, default=None, help="at most N images per source and split (a tiny slice)")
    s.add_argument("--val-percent", type=int, default=VAL_PERCENT)
    s.set_defaults(func=cmd_build)

    s = common(sub.add_parser("teacher", help="COCO teacher pseudo-labels, threshold measurement, label merge"))
    s.add_argument("--threshold", type=float, default=None, help="override the measured threshold")
    s.add_argument("--reference", default="street_vehicles", help="source whose real labels set the threshold")
    s.add_argument("--imgsz", type=int, default=640)
    s.add_argument("--threads", type=int, default=None)
    s.add_argument("--rerun", action="store_true", help="run the network again on images already done")
    s.add_argument("--skip-run", action="store_true", help="only measure and merge stored detections")
    s.set_defaults(func=cmd_teacher)

    s = common(sub.add_parser("synth", help="synthetic fly-posters and pasted garbage (and clean wall crops)"))
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--poster-variants", type=int, default=1, metavar="N",
                   help="poster scenes per training background (validation keeps one: the same images)")
    s.add_argument("--clean-wall-crops", action="store_true",
                   help="also a full-resolution crop of each real training frame, nothing pasted (training only)")
    s.set_defaults(func=cmd_synth)

    s = common(sub.add_parser("train", help="ultralytics training from the COCO backbone or, with --start, from a "
                                            "shipped model's weights (resumable)"))
    s.add_argument("--runs", type=Path, default=DEFAULT_RUNS)
    s.add_argument("--name", default="citypatrol")
    s.add_argument("--epochs", type=int, default=30)
    s.add_argument("--hours", type=float, default=None, help="stop after this many hours (ultralytics time=)")
    s.add_argument("--imgsz", type=int, default=480)
    s.add_argument("--batch", type=int, default=16)
    s.add_argument("--workers", type=int, default=2)
    s.add_argument("--close-mosaic", type=int, default=2)
    s.add_argument("--threads", type=int, default=None)
    s.add_argument("--no-cache", action="store_true")
    s.add_argument("--resume", action="store_true")
    s.add_argument("--device", default="cpu", help='"cpu", or a CUDA device such as "0"')
    s.add_argument("--coco-weights", type=Path, default=None,
                   help="the COCO checkpoint (default ../shared/weights/yolov5n-coco.pt)")
    s.add_argument("--start", type=Path, default=None,
                   help="fine-tune these weights (a shipped model's .pt) instead of starting from COCO")
    s.add_argument("--freeze", type=int, default=None,
                   help="with --start: layers kept fixed (default 10, the backbone)")
    s.add_argument("--lr0", type=float, default=None, help="with --start: learning rate (default 0.0003)")
    s.add_argument("--mosaic", type=float, default=None,
                   help="with --start: share of mosaic batches (default ultralytics' 1.0; 0 shows frames at "
                        "the scale they are detected at)")
    s.add_argument("--oversample", type=_repeat, nargs="+", metavar="KIND=N",
                   help="show each synthetic image of KIND (fly_poster, fly_poster_crop, garbage, wall_crop) "
                        "N times an epoch")
    s.add_argument("--repeat-rare", type=float, default=None, metavar="T",
                   help="repeat-factor sampling: show an image round(sqrt(T / f)) times, f the share of training "
                        "images holding its rarest class (e.g. 0.1)")
    s.add_argument("--hard-negatives", type=Path, default=None, metavar="MODEL",
                   help="show the training images on which MODEL (.onnx) finds what their labels say is not "
                        "there (e.g. a plaque taken for a fly-poster) --hard-repeats times")
    s.add_argument("--hard-repeats", type=int, default=4, metavar="N", help="with --hard-negatives (default 4)")
    s.add_argument("--hard-classes", nargs="+", default=None, metavar="CLASS",
                   help="with --hard-negatives: only these classes' false detections (default: all)")
    s.set_defaults(func=cmd_train)

    s = sub.add_parser("blend", help="a fine-tune's weights averaged with its start's (keeps its gains, less drift)")
    s.add_argument("start", type=Path, help="the weights the fine-tune started from (a shipped model's .pt)")
    s.add_argument("tuned", type=Path, help="the fine-tune's weights (its run's weights/last.pt)")
    s.add_argument("--alpha", type=float, required=True, help="the fine-tune's share, 0..1")
    s.add_argument("--runs", type=Path, default=DEFAULT_RUNS)
    s.add_argument("--name", default=None, help="run folder of the blend (default blend-ALPHA)")
    s.set_defaults(func=cmd_blend)

    s = common(sub.add_parser("pack", help="a compact, self-contained copy of the training split (WebP)"))
    s.add_argument("--out", type=Path, default=Path("var/pack"))
    s.add_argument("--max-side", type=int, default=640, help="long side of the packed images (the training imgsz)")
    s.add_argument("--reduced-side", type=int, default=512, help="long side of images whose objects are all large")
    s.add_argument("--min-object-px", type=int, default=16, help="what 'large' means: short side of the smallest box")
    s.add_argument("--quality", type=int, default=70, help="WebP quality")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=cmd_pack)

    s = common(sub.add_parser("eval", help="per-class AP50/AP50-95 on the fixed split + fly-poster FP"))
    s.add_argument("weights", type=Path)
    s.add_argument("--imgsz", type=int, default=640)
    s.add_argument("--out", type=Path, default=None)
    s.set_defaults(func=cmd_eval)

    s = common(sub.add_parser("export", help="ONNX + parity + eval + gate + card; ships into models/ if it passes"))
    s.add_argument("weights", type=Path)
    s.add_argument("--version", required=True)
    s.add_argument("--imgsz", type=int, default=640)
    s.add_argument("--models-dir", type=Path, default=REPO / "models")
    s.add_argument("--margin", type=float, default=0.05)
    s.add_argument("--min-instances", type=int, default=MIN_INSTANCES, help="fewer objects: a class is not judged")
    s.add_argument("--parity-images", type=int, default=12)
    s.add_argument("--force", action="store_true", help="ship even if the gate refuses (recorded in the card)")
    s.add_argument("--notes", default="", help="free text for the card")
    s.set_defaults(func=cmd_export)

    s = common(sub.add_parser("gate", help="candidate vs shipped on the same split; exit 1 if refused"))
    s.add_argument("candidate", type=Path)
    s.add_argument("--shipped", type=Path, default=None, help="default: the newest other model in models/")
    s.add_argument("--models-dir", type=Path, default=REPO / "models")
    s.add_argument("--margin", type=float, default=0.05)
    s.add_argument("--min-instances", type=int, default=MIN_INSTANCES, help="fewer objects: a class is not judged")
    s.add_argument("--imgsz", type=int, default=640)
    s.set_defaults(func=cmd_gate)

    s = common(sub.add_parser("retrain", help="operators' reviews (export-dataset DIR) → a gated candidate model"))
    s.add_argument("--from", dest="from_dir", type=Path, required=True, help="a `citypatrol export-dataset` folder")
    s.add_argument("--models-dir", type=Path, default=REPO / "models", help="where the parent model is")
    s.add_argument("--parent", type=Path, default=None, help="default: the model in service (promoted, else newest)")
    s.add_argument("--out", type=Path, default=CANDIDATES_DIR, help="where the candidate goes")
    s.add_argument("--version", default=None, help="default: the parent's patch version + 1")
    s.add_argument("--epochs", type=int, default=EPOCHS)
    s.add_argument("--hours", type=float, default=None)
    s.add_argument("--imgsz", type=int, default=None, help="training size (default: the parent's)")
    s.add_argument("--batch", type=int, default=16)
    s.add_argument("--workers", type=int, default=2)
    s.add_argument("--margin", type=float, default=0.05)
    s.add_argument("--replay", type=int, default=REPLAY, help="old training images beside the field frames (0: all)")
    s.add_argument("--blend", type=float, default=None, metavar="ALPHA",
                   help="the candidate is the fine-tune averaged with the parent's weights (the fine-tune's share)")
    s.set_defaults(func=cmd_retrain)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    started = time.time()
    try:
        code = args.func(args)
    except (ManifestError, ConfigError, FileNotFoundError, ValueError) as exc:  # bad input: manifest, taxonomy, model card, weights
        print(f"citypatrol-train {args.command}: {exc}", file=sys.stderr)
        return 2
    print(f"{args.command} done in {time.time() - started:.0f} s", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())

