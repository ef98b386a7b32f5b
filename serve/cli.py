"""`citypatrol`: the runtime command line (detect, and the service commands as they arrive)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path

from cv.model_card import CANDIDATES_DIR

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}


def _image_paths(paths: list[str]) -> Iterator[Path]:
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        else:
            yield path


def detect(args: argparse.Namespace) -> int:
    """Detect objects in images or folders; print a table or JSON lines; optionally save annotated JPEGs."""
    import cv2
    from tqdm import tqdm

    from cv import Detector, ImageError
    from cv.draw import annotate
    from cv.image import decode_image

    detector = Detector(args.model, conf=args.conf, iou=args.iou)
    paths = list(_image_paths(args.paths))[: args.limit or None]
    if not paths:
        print("no images found in " + " ".join(args.paths), file=sys.stderr)
        return 2
    if args.save_dir:
        Path(args.save_dir).mkdir(parents=True, exist_ok=True)
    if not args.json:
        print(f"model {detector.path.name} (version {detector.version}), conf ≥ {args.conf}")
        print(f"{'image':40} {'class':12} {'conf':>5}  box (x1, y1, x2, y2)")
    failures = 0
    progress = tqdm(paths, unit="img", file=sys.stderr, disable=len(paths) < 2 or None)
    for path in progress:
        try:
            # Decoded once: at full size when annotating, else as small as the model allows.
            data = path.read_bytes()
            decoded = decode_image(data, max_pixels=detector.max_pixels) if args.save_dir else detector.decode(data)
            dets = detector.detect(decoded)
        except (OSError, ImageError) as exc:
            failures += 1
            code = getattr(exc, "code", "io_error")
            if args.json:
                print(json.dumps({"path": str(path), "error": code, "message": str(exc)}, ensure_ascii=False))
            else:
                progress.write(f"{str(path):40} ERROR {code}: {exc}", file=sys.stderr)
            continue
        if args.json:
            size = {"width": decoded.header.width, "height": decoded.header.height}
            print(json.dumps({"path": str(path), **size, "detections": dets.to_records()}, ensure_ascii=False))
        else:
            for record in dets.to_records():
                box = ", ".join(f"{v:.0f}" for v in record["box"])
                progress.write(f"{path.name[-40:]:40} {record['class']:12} {record['confidence']:5.2f}  ({box})")
            if not len(dets):
                progress.write(f"{path.name[-40:]:40} (nothing)")
        if args.save_dir:
            cv2.imwrite(str(Path(args.save_dir) / f"{path.stem}.jpg"), annotate(decoded.pixels, dets))
    if args.save_dir and not args.json:
        print(f"annotated images written to {args.save_dir}")
    return 1 if failures else 0


def _limit_malloc_arenas(arenas: int = 2) -> None:
    """glibc gives threads that allocate at once their own malloc arenas (up to 8 per core), and their
    freed memory stays mapped: with request threads and detector streams side by side that was ~50 MB
    of the server's RSS (bench/service.py: 443 → 395 MB), for no measurable speed."""
    import ctypes

    try:
        ctypes.CDLL("libc.so.6").mallopt(-8, arenas)  # M_ARENA_MAX
    except (OSError, AttributeError):  # not glibc: nothing to limit
        pass


def serve(args: argparse.Namespace) -> int:
    """Run the service (uvicorn): migrates the database, loads configs and model, creates the admin."""
    _limit_malloc_arenas()
    import uvicorn

    from serve.app import create_app
    from serve.auth import MIN_PASSWORD_LENGTH
    from serve.settings import Settings

    settings = Settings()
    if settings.admin_password is not None and len(settings.admin_password) < MIN_PASSWORD_LENGTH:
        # refused here, in one line: at start-up it would end the server with a traceback
        raise ValueError(f"CITYPATROL_ADMIN_PASSWORD needs at least {MIN_PASSWORD_LENGTH} characters")
    print(f"citypatrol: data in {settings.data_dir.resolve()}, database "
          f"{'PostgreSQL' if settings.database_url else 'SQLite'}; log in at http://{args.host}:{args.port}/",
          flush=True)
    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_config=None, access_log=False)
    return 0


def demo(args: argparse.Namespace) -> int:
    from serve.demo import run_demo

    return run_demo(args.url, cameras=args.cameras, rounds=args.rounds, interval_s=args.interval)


def export_dataset(args: argparse.Namespace) -> int:
    """Write operators' reviewed evidence frames as a YOLO dataset (incremental)."""
    from datetime import datetime

    from cv.rulebook import Rulebook
    from cv.zones import CityConfig
    from serve.dataset_export import DatasetExporter
    from serve.db import open_database
    from serve.evidence import EvidenceStore
    from serve.settings import Settings

    settings = Settings()
    since = datetime.fromisoformat(args.since) if args.since else None
    if since is not None and since.tzinfo is None:
        print("citypatrol export-dataset: --since needs a time zone, e.g. 2026-11-16T00:00:00+08:00", file=sys.stderr)
        return 2
    engine, sessions = open_database(settings.resolved_database_url)
    try:
        with sessions() as session:
            exporter = DatasetExporter(session, EvidenceStore(settings.evidence_dir), Rulebook.load(settings.rulebook),
                                       CityConfig.load(settings.cameras_config))
            summary = exporter.export(Path(args.out), since)
    finally:
        engine.dispose()
    print(f"{summary.frames_written} frames written to {summary.out} ({summary.near_duplicates_skipped} near-duplicates "
          f"skipped, {summary.frames_considered} reviewed frames considered); labels: "
          + (", ".join(f"{name} {n}" for name, n in sorted(summary.labels.items())) or "none"))
    return 0


def model_list(args: argparse.Namespace) -> int:
    from serve.model_promotion import list_models
    from serve.settings import Settings

    rows = list_models(Settings().models_dir, Path(args.candidates))
    for row in rows:
        print(f"{'*' if row['in_service'] else ' '} {row['version']:<16} {row['where']:<10} gate {row['gate'] or '-':<8} "
              f"parent {row['parent'] or '-':<12} {row['file']}")
    return 0


def model_promote(args: argparse.Namespace) -> int:
    """Promote a version; with --url, make the running service reload it now."""
    import os

    from serve.model_promotion import PromotionError, promote, reload_service
    from serve.settings import Settings

    settings = Settings()
    try:
        record = promote(args.version, settings.models_dir, Path(args.candidates), force=args.force)
        print(f"promoted {record['version']} ({record['file']}, gate {record['gate']}) in {settings.models_dir}"
              + (f"; previously {record['previous']}" if record["previous"] else ""))
        if args.url:
            password = os.environ.get("CITYPATROL_PASSWORD")
            if not password:
                print("citypatrol model promote: --url needs the admin's password in CITYPATROL_PASSWORD",
                      file=sys.stderr)
                return 2
            versions = reload_service(args.url, args.user, password)
            print(f"{args.url} now runs model {versions['model']} ({versions['model_file']})")
    except PromotionError as exc:
        print(f"citypatrol model promote: {exc}", file=sys.stderr)
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="citypatrol", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser("detect", help="detect objects in images or folders of images")
    p.add_argument("paths", nargs="+", metavar="PATH", help="image files or folders (searched recursively)")
    p.add_argument("--model", help="ONNX model with its card beside it (default: newest in models/)")
    p.add_argument("--conf", type=float, default=0.25, help="minimum confidence (default 0.25)")
    p.add_argument("--iou", type=float, default=0.7, help="NMS IoU threshold (default 0.7)")
    p.add_argument("--json", action="store_true", help="print one JSON object per image")
    p.add_argument("--save-dir", metavar="D", help="write annotated JPEGs into this folder")
    p.add_argument("--limit", type=int, default=0, help="stop after this many images (0: all)")
    p.set_defaults(handler=detect)

    p = commands.add_parser("serve", help="run the service (settings from CITYPATROL_* variables)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.set_defaults(handler=serve)

    p = commands.add_parser("demo", help="post a realistic sequence of frames as several cameras to a running service")
    p.add_argument("--url", default="http://127.0.0.1:8000")
    p.add_argument("--cameras", type=int, default=4, help="how many of the config's cameras to play")
    p.add_argument("--rounds", type=int, default=20, help="frames per camera")
    p.add_argument("--interval", type=float, default=3.0, help="wall-clock seconds between rounds")
    p.set_defaults(handler=demo)

    p = commands.add_parser("export-dataset", help="export reviewed evidence frames as a YOLO dataset (incremental)")
    p.add_argument("--out", required=True, help="dataset folder (created; a second export adds only new frames)")
    p.add_argument("--since", help="only incidents reviewed at or after this ISO time (with zone)")
    p.set_defaults(handler=export_dataset)

    p = commands.add_parser("model", help="the models in service: list them, promote a version")
    actions = p.add_subparsers(dest="action", required=True)
    q = actions.add_parser("list", help="shipped and candidate models; * marks the one in service")
    q.add_argument("--candidates", default=str(CANDIDATES_DIR), help="where retrained candidates wait")
    q.set_defaults(handler=model_list)
    q = actions.add_parser("promote", help="make VERSION the model in service (CITYPATROL_MODELS_DIR)")
    q.add_argument("version", metavar="VERSION")
    q.add_argument("--candidates", default=str(CANDIDATES_DIR), help="where retrained candidates wait")
    q.add_argument("--force", action="store_true", help="promote even though the gate refused it (recorded)")
    q.add_argument("--url", help="a running service to reload now, e.g. http://127.0.0.1:8000")
    q.add_argument("--user", default="admin", help="admin user for --url (password in CITYPATROL_PASSWORD)")
    q.set_defaults(handler=model_promote)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except ValueError as exc:  # configuration problems: model card, bad arguments
        print(f"citypatrol {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
