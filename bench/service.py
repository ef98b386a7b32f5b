"""Service throughput and latency: 8 cameras posting 1280×720 JPEGs over HTTP, side by side with
`cv.Detector` alone on the same frames (issue 6's targets).

    .venv/bin/python bench/service.py [--frames 160] [--cameras 8] [--rounds 4] [--model M.onnx]

Starts `citypatrol serve` as its own process (SQLite in a temporary data dir, the sample city's
8 cameras), issues camera keys, then alternates rounds of (a) detector alone in this process, one
frame at a time (`detect`, as a request uses it) and with `detect_many` (one stream per core, the
most the detector can do with the whole machine to itself), and (b) the cameras posting concurrently, each frame once per camera
with its own frame id. Prints frames/s, p50/p95 latency, the ratio (target ≥ 0.8), and the
server's RSS (target < 400 MB).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.detector import make_frames  # noqa: E402
from cv import Detector  # noqa: E402
from cv.detector import machine_threads  # noqa: E402
from cv.zones import CityConfig  # noqa: E402

ADMIN_PASSWORD = "bench-admin-password"


def start_server(data_dir: Path, model: Path | None, port: int) -> subprocess.Popen:
    env = {**os.environ, "CITYPATROL_DATA_DIR": str(data_dir), "CITYPATROL_ADMIN_PASSWORD": ADMIN_PASSWORD,
           "CITYPATROL_LOG_LEVEL": "WARNING"}
    if model:
        env["CITYPATROL_MODEL"] = str(model)
    server = subprocess.Popen([sys.executable, "-m", "serve.cli", "serve", "--port", str(port)], cwd=REPO, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    for _ in range(600):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.1)
    server.kill()
    raise RuntimeError(f"server did not start: {server.stderr.read().decode()[-2000:]}")


def rss_mb(pid: int) -> tuple[int, int]:
    status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return int(status["VmRSS"].split()[0]) // 1024, int(status["VmHWM"].split()[0]) // 1024


def stage_means(metrics: str) -> dict[str, float]:
    """Mean milliseconds per stage from the server's Prometheus histogram sums and counts."""
    sums, counts = {}, {}
    for line in metrics.splitlines():
        if line.startswith("citypatrol_stage_seconds_sum") or line.startswith("citypatrol_stage_seconds_count"):
            name, value = line.rsplit(" ", 1)
            stage = name.split('stage="')[1].split('"')[0]
            (sums if "_sum" in name else counts)[stage] = float(value)
    return {stage: 1000 * sums[stage] / counts[stage] for stage in sums if counts.get(stage)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=160)
    parser.add_argument("--cameras", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--model", type=Path, help="ONNX model (default: the service's default, the newest in models/)")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="citypatrol-bench-service-"))
    jpegs = [p.read_bytes() for p in make_frames(args.frames, workdir)]
    server = start_server(workdir / "data", args.model, args.port)
    try:
        url = f"http://127.0.0.1:{args.port}"
        http = httpx.Client(base_url=url, timeout=120, limits=httpx.Limits(max_connections=args.cameras * 2))
        token = http.post("/v1/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}).json()["token"]
        admin = {"Authorization": f"Bearer {token}"}
        cameras = [c.id for c in CityConfig.load(REPO / "configs" / "cameras.example.yaml").cameras][: args.cameras]
        keys = {c: http.post(f"/v1/admin/cameras/{c}/keys", headers=admin).json()["key"] for c in cameras}
        model_file = http.get("/readyz").json()["model_file"]
        # the detector alone as one request uses it (one frame at a time, all cores), and at its best
        # (as many frames side by side as the server runs detector streams: one per core)
        model = args.model or REPO / "models" / model_file
        detector, streamed = Detector(model), Detector(model, streams=machine_threads())

        def post(job: tuple[str, int, int]) -> float:
            camera, round_no, index = job
            started = time.perf_counter()
            response = http.post(f"/v1/cameras/{camera}/frames", content=jpegs[index], headers={
                "X-Camera-Key": keys[camera], "X-Frame-Id": f"r{round_no}-{index}",
                "X-Captured-At": datetime.now(UTC).isoformat(), "Content-Type": "image/jpeg"})
            if response.status_code != 200:
                raise RuntimeError(f"{camera}: {response.status_code} {response.text[:300]}")
            return time.perf_counter() - started

        for index in range(4):  # warm-up every path
            detector.detect(jpegs[index])
            streamed.detect(jpegs[index])
            post((cameras[0], -1, index))
        alone_s = streamed_s = service_s = 0.0
        latencies: list[float] = []
        chunks = np.array_split(np.arange(args.frames), args.rounds)
        with ThreadPoolExecutor(max_workers=args.cameras) as pool:
            for round_no, chunk in enumerate(chunks):
                t0 = time.perf_counter()
                for index in chunk:
                    detector.detect(jpegs[index])
                alone_s += time.perf_counter() - t0
                t0 = time.perf_counter()
                for _ in streamed.detect_many(jpegs[index] for index in chunk):
                    pass
                streamed_s += time.perf_counter() - t0
                # Each frame is sent by one camera (round-robin), all cameras at once.
                jobs = [(cameras[i % len(cameras)], round_no, int(index)) for i, index in enumerate(chunk)]
                t0 = time.perf_counter()
                latencies += list(pool.map(post, jobs))
                service_s += time.perf_counter() - t0
        rss, peak = rss_mb(server.pid)
        stages = stage_means(http.get("/metrics").text)
    finally:
        server.terminate()
        server.wait(30)

    alone, streamed_rate, service = args.frames / alone_s, args.frames / streamed_s, args.frames / service_s
    p50, p95 = np.percentile(latencies, [50, 95]) * 1000
    print(f"machine: {os.cpu_count()} cores; model {model_file}; {args.frames} frames 1280×720 JPEG; "
          f"{len(cameras)} cameras posting concurrently")
    print(f"  cv.Detector alone, detect() one frame at a time   {alone:6.1f} frames/s")
    print(f"  cv.Detector alone, detect_many() one stream a core {streamed_rate:6.1f} frames/s")
    print(f"  service over HTTP ({len(cameras)} concurrent cameras)      {service:6.1f} frames/s   "
          f"latency p50 {p50:.0f} ms, p95 {p95:.0f} ms")
    print(f"  service / detector alone = {service / alone:.2f}   (≥ 0.8);  "
          f"service / detect_many = {service / streamed_rate:.2f} (no target: the detector then has both cores)")
    print(f"  server RSS {rss} MB (peak {peak} MB)   (< 400 MB)")
    print("  mean time per frame in each server stage: "
          + ", ".join(f"{stage} {ms:.0f} ms" for stage, ms in stages.items()))


if __name__ == "__main__":
    main()
