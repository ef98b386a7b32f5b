"""`citypatrol demo`: play several cameras of the camera config against a running service.

Each camera shows one real street scene from ../shared/datasets — the one on which the model and
the rules find the most for that camera's zones — re-encoded with a little light change per frame
as a real feed would be. Camera clocks run ~10× fast, inside the skew the service allows
(±300 s by default), so pre-warnings with dwell times of 4–5 minutes become violations within
about a minute of wall time; longer dwells (10–15 min) stay pre-warnings. Camera keys are issued
straight in the service's database (same CITYPATROL_* settings), audited as actor "demo".
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import httpx
import numpy as np

from cv.detector import Detector
from cv.rulebook import Rulebook
from cv.rules import RuleEngine
from cv.zones import CityConfig
from serve.auth import issue_camera_key
from serve.db import open_database
from serve.settings import Settings

DATASETS = Path(__file__).resolve().parent.parent.parent / "shared" / "datasets"
CLOCK_SPAN_S = 560  # camera time covered by a demo run: within ±300 s of now


def _pick_scenes(cameras, city: CityConfig, rulebook: Rulebook, detector: Detector, candidates: int = 24) -> dict:
    """For each camera, the street image on which the rules find the most that can become a
    violation within the demo (dwell ≤ the camera time it covers); no image is used twice."""
    images = [p for folder in ("street_vehicles", "garbage_bags", "facades")
              for p in sorted((DATASETS / folder / "images").glob("*.jpg"))[::7][:candidates]]
    if not images:
        raise SystemExit(f"no demo images in {DATASETS}: the demo needs ../shared beside the repository")
    engine, now = RuleEngine(rulebook, city), datetime.now(UTC)
    detections = {path: detector.detect(path.read_bytes()) for path in images}
    sizes = {path: cv2.imread(str(path)).shape[1::-1] for path in images}
    chosen: dict[str, Path] = {}
    for camera in cameras:
        def promise(path: Path) -> int:
            observations = engine.evaluate(camera.id, detections[path], sizes[path], now)
            return sum(rulebook.rules[o.code].dwell_s <= CLOCK_SPAN_S for o in observations)

        best = max((p for p in images if p not in chosen.values()), key=promise)
        chosen[camera.id] = best
    return chosen


def _jittered(scene: np.ndarray, rng: np.random.Generator) -> bytes:
    gain = rng.uniform(0.97, 1.03)
    frame = cv2.convertScaleAbs(scene, alpha=gain, beta=rng.uniform(-3, 3))
    return cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 88])[1].tobytes()


def run_demo(url: str, cameras: int = 4, rounds: int = 20, interval_s: float = 3.0) -> int:
    settings = Settings()
    city = CityConfig.load(settings.cameras_config)
    chosen = city.cameras[:cameras]
    engine, sessions = open_database(settings.resolved_database_url)
    with sessions.begin() as session:
        keys = {camera.id: issue_camera_key(session, camera.id, "demo") for camera in chosen}
    engine.dispose()

    print("choosing a street scene for each camera…", flush=True)
    picked = _pick_scenes(chosen, city, Rulebook.load(settings.rulebook), Detector(settings.model))
    scenes = {camera_id: cv2.imread(str(path)) for camera_id, path in picked.items()}
    rng = np.random.default_rng(7)
    start = datetime.now(UTC) - timedelta(seconds=CLOCK_SPAN_S / 2)
    step = timedelta(seconds=CLOCK_SPAN_S / max(rounds - 1, 1))
    print(f"citypatrol demo: {len(chosen)} cameras × {rounds} frames to {url}; camera clocks run "
          f"{step.total_seconds() / interval_s:.0f}× fast so dwell times of a few minutes pass in about a minute")
    violations: set[int] = set()
    with httpx.Client(base_url=url, timeout=120) as http:
        for r in range(rounds):
            captured_at = start + step * r
            for camera in chosen:
                response = http.post(
                    f"/v1/cameras/{camera.id}/frames",
                    content=_jittered(scenes[camera.id], rng),
                    headers={"X-Camera-Key": keys[camera.id], "X-Frame-Id": f"demo-{captured_at.timestamp():.0f}",
                             "X-Captured-At": captured_at.isoformat(), "Content-Type": "image/jpeg"},
                )
                if response.status_code != 200:
                    print(f"  {camera.id}: {response.status_code} {response.json().get('code')}")
                    continue
                for incident in response.json()["incidents"]:
                    if incident["change"] in ("opened", "escalated"):
                        print(f"  {captured_at:%H:%M:%S} {camera.id:22} #{incident['id']:<4} {incident['code']:12} "
                              f"{incident['change']:9} → {incident['status']}")
                    if incident["status"] == "violation":
                        violations.add(incident["id"])
            time.sleep(interval_s)
    print(f"done: {len(violations)} violations await review at {url}/")
    return 0
