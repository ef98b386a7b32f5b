"""Detector throughput and memory, side by side in one run (issue 3's targets).

    .venv/bin/python bench/detector.py [--frames 200] [--model M.onnx --pt M.pt] [--rounds 20]

On 1280×720 JPEG frames made from ../shared/datasets images, images/s for:
  (a) cv.Detector end to end from JPEG bytes (decode, letterbox, ONNX Runtime, decode, NMS):
      `detect_many` with one stream per core (each run single-threaded, frames side by side)
  (a1) the same one frame at a time with `detect`, one stream on all cores (lowest latency)
  (a4) `detect_batch` of 4 frames, one stream on all cores
  (b) bare InferenceSession.run of (a)'s session on pre-made input tensors, as many runs side by side
      as (a) has streams: the ceiling for (a); (b1) the same for (a1), one run at a time
  (c) ultralytics YOLO(onnx).predict from the same JPEGs (files), imgsz 640, its defaults (it
      letterboxes a dynamic ONNX to 640×384 like we do)
  (c-rect) the same with rect=True said explicitly
  (d) ultralytics YOLO(pt).predict from the same JPEGs, same weights in torch, its defaults
Configurations run in interleaved rounds so that a busy machine slows them all alike.
Then the RSS of a fresh process that imported `cv`, loaded the model and detected one frame.
Default model: the COCO-backbone stand-in (the only one we have as both .onnx and .pt).
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from cv import Detector  # noqa: E402
from cv.detector import letterbox, machine_threads, rect_shape  # noqa: E402


def make_frames(count: int, folder: Path) -> list[Path]:
    """`count` real street/facade images resized to 1280×720 and saved as JPEG (quality 90)."""
    shared = REPO.parent / "shared" / "datasets"
    sources = sorted((shared / "facades" / "images").glob("*.jpg")) + sorted(
        (shared / "street_vehicles" / "images").glob("*.jpg"))
    rng = np.random.default_rng(0)
    paths = []
    for i, src in enumerate(rng.choice(sources, count, replace=False)):
        frame = cv2.resize(cv2.imread(str(src)), (1280, 720), interpolation=cv2.INTER_AREA)
        path = folder / f"frame{i:03d}.jpg"
        cv2.imwrite(str(path), frame, [cv2.IMWRITE_JPEG_QUALITY, 90])
        paths.append(path)
    return paths


RSS_PROBE = """
import sys, cv
detector = cv.Detector(sys.argv[1], streams=cv.detector.machine_threads())
frame = open(sys.argv[2], 'rb').read()
list(detector.detect_many([frame] * 8))
status = dict(line.split(':', 1) for line in open('/proc/self/status'))
print(int(status['VmRSS'].split()[0]) // 1024, int(status['VmHWM'].split()[0]) // 1024)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--model", type=Path, help="ONNX model (default: the stand-in)")
    parser.add_argument("--pt", type=Path, help="the same weights as an ultralytics .pt, for (d)")
    args = parser.parse_args()

    from training import offline

    offline.prepare()
    from ultralytics import YOLO

    if args.model is None:
        from training.standin import standin_model

        args.model, args.pt = standin_model()
    workdir = Path(tempfile.mkdtemp(prefix="citypatrol-bench-"))
    paths = make_frames(args.frames, workdir)
    jpegs = [p.read_bytes() for p in paths]

    streams = machine_threads()
    detector = Detector(args.model, streams=streams)
    one_stream = Detector(args.model)
    shape = rect_shape(720, 1280, detector.imgsz, detector.stride)
    tensors = []
    for data in jpegs[:50]:  # (b) cycles over 50 pre-made tensors: the input copy is not what it measures
        fitted, _ = letterbox(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR), shape, detector.imgsz)
        tensors.append(np.ascontiguousarray(fitted[..., ::-1].transpose(2, 0, 1))[None].astype(np.float32) / 255)
    yolo_onnx = YOLO(str(args.model), task="detect")
    yolo_pt = YOLO(str(args.pt)) if args.pt else None
    predict = dict(imgsz=detector.imgsz, conf=detector.conf, iou=detector.iou, verbose=False)
    side_by_side = ThreadPoolExecutor(max_workers=streams)

    def run_a(chunk):
        for _ in detector.detect_many(jpegs[i] for i in chunk):
            pass

    def run_a1(chunk):
        for i in chunk:
            one_stream.detect(jpegs[i])

    def run_a4(chunk):
        for start in range(0, len(chunk), 4):
            one_stream.detect_batch([jpegs[i] for i in chunk[start:start + 4]])

    def run_b(chunk):
        bare = detector.session.run
        list(side_by_side.map(lambda i: bare(None, {detector.input_name: tensors[i % len(tensors)]}), chunk))

    def run_b1(chunk):
        for i in chunk:
            one_stream.session.run(None, {one_stream.input_name: tensors[i % len(tensors)]})

    def run_c(chunk):
        for i in chunk:
            yolo_onnx.predict(str(paths[i]), **predict)

    def run_c_rect(chunk):
        for i in chunk:
            yolo_onnx.predict(str(paths[i]), rect=True, **predict)

    def run_d(chunk):
        for i in chunk:
            yolo_pt.predict(str(paths[i]), **predict)

    configs = {
        f"(a) cv.Detector.detect_many, {streams} streams": run_a,
        "(a1) cv.Detector.detect, one at a time": run_a1,
        "(a4) cv.Detector.detect_batch(4)": run_a4,
        f"(b) bare InferenceSession.run ×{streams}": run_b,
        "(b1) bare InferenceSession.run, one": run_b1,
        "(c) ultralytics YOLO(onnx).predict": run_c,
        "(c-rect) ultralytics, rect=True": run_c_rect,
    }
    if yolo_pt:
        configs["(d) ultralytics YOLO(pt).predict"] = run_d
    for run in configs.values():  # warm-up: sessions, allocators, ultralytics predictor set-up
        run(list(range(8)))
    elapsed = dict.fromkeys(configs, 0.0)
    rounds = np.array_split(np.arange(args.frames), args.rounds)
    for chunk in rounds:
        for name, run in configs.items():
            t0 = time.perf_counter()
            run(list(chunk))
            elapsed[name] += time.perf_counter() - t0
    rate = {name: args.frames / seconds for name, seconds in elapsed.items()}

    probe = subprocess.run([sys.executable, "-c", RSS_PROBE, str(args.model), str(paths[0])],
                           capture_output=True, text=True, check=True, cwd=REPO)
    rss, peak = map(int, probe.stdout.split())

    a, a1, a4, b, b1, c, c_rect = (rate[k] for k in list(configs)[:7])
    print(f"machine: {platform.processor() or platform.machine()}, {streams} cores; "
          f"model {args.model.name}; {args.frames} frames 1280×720 JPEG; input {shape[1]}×{shape[0]}")
    for name, value in rate.items():
        print(f"  {name:40} {value:7.1f} images/s")
    print("ratios (target):")
    print(f"  (a) / (b)  = {a / b:5.2f}   (≥ 0.85)")
    print(f"  (a) / (c)  = {a / c:5.2f}   (≥ 1.3)")
    if yolo_pt:
        print(f"  (a) / (d)  = {a / rate['(d) ultralytics YOLO(pt).predict']:5.2f}   (≥ 1.3)")
    print(f"  (a4) / (a1) = {a4 / a1:5.2f}   (≥ 1.0: a batch of 4 at least as fast as single frames)")
    print(f"  for reference: (a1) / (b1) = {a1 / b1:4.2f}, (a1) / (c) = {a1 / c:4.2f}, (a) / (c-rect) = {a / c_rect:4.2f}")
    print(f"RSS after import cv + load ({streams} streams) + 8 frames: {rss} MB (peak {peak} MB)   (< 250 MB)")


if __name__ == "__main__":
    main()
