"""Detector workers (one per detector stream) fed by a bounded queue: frames waiting together are
detected in one batch.

Request handlers decode their frame, then `await queue.detect(decoded)`. When more frames are
waiting than `max_waiting`, `detect` refuses at once with `DetectorSaturated` (the API answers
503 with Retry-After) instead of letting memory and latency grow without bound.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass

from cv.detections import Detections
from cv.detector import Crops, Detector
from cv.image import DecodedImage


class DetectorSaturated(RuntimeError):
    """More frames are waiting than the queue allows; retry after about `retry_after_s`."""

    def __init__(self, waiting: int, retry_after_s: int):
        super().__init__(f"{waiting} frames are already waiting for the detector")
        self.retry_after_s = retry_after_s


@dataclass
class _Job:
    frame: DecodedImage
    crops: Crops | None
    detector: Detector
    result: Future

    @property
    def views(self) -> int:
        """Images this frame puts into a session run: itself and its crops."""
        return 1 + (len(self.crops.windows) if self.crops else 0)


class DetectionQueue:
    def __init__(self, detector: Detector, *, max_batch: int = 4, max_waiting: int = 32):
        self.detector = detector
        self.max_batch, self.max_waiting = max_batch, max_waiting
        self._jobs: deque[_Job] = deque()
        self._ready = threading.Condition()
        self._closed = False
        self._seconds_per_frame = 0.1  # running estimate, for Retry-After
        # One worker per detector stream: batches run side by side, each on its share of the cores.
        self._workers = [threading.Thread(target=self._run, name=f"detector-{i}", daemon=True)
                         for i in range(detector.streams)]
        for worker in self._workers:
            worker.start()

    @property
    def waiting(self) -> int:
        return len(self._jobs)

    def swap_detector(self, detector: Detector) -> None:
        """Use `detector` for frames queued from now on; frames already queued keep theirs."""
        self.detector = detector

    def submit(self, frame: DecodedImage, crops: Crops | None = None) -> Future:
        with self._ready:
            if self._closed:
                raise RuntimeError("the detection queue is closed")
            if len(self._jobs) >= self.max_waiting:
                retry = max(1, round(len(self._jobs) * self._seconds_per_frame / len(self._workers)))
                raise DetectorSaturated(len(self._jobs), retry)
            job = _Job(frame, crops, self.detector, Future())
            self._jobs.append(job)
            self._ready.notify()
        return job.result

    async def detect(self, frame: DecodedImage, crops: Crops | None = None) -> tuple[Detections, str]:
        """Detections for `frame` (and its `crops`) and the version of the model that produced them."""
        return await asyncio.wrap_future(self.submit(frame, crops))

    def _next_batch(self) -> list[_Job]:
        with self._ready:
            while not self._jobs and not self._closed:
                self._ready.wait()
            if not self._jobs:
                return []  # closed and drained
            batch = [self._jobs.popleft()]
            views = batch[0].views
            # Only frames for the same model share a batch (a reload may sit between them), and a
            # batch holds at most max_batch images: a frame with wall crops counts each crop.
            while self._jobs and views + self._jobs[0].views <= self.max_batch \
                    and self._jobs[0].detector is batch[0].detector:
                views += self._jobs[0].views
                batch.append(self._jobs.popleft())
            return batch

    def _run(self) -> None:
        while batch := self._next_batch():
            detector = batch[0].detector
            started = time.perf_counter()
            try:
                results = detector.detect_batch([job.frame for job in batch], [job.crops for job in batch])
            except Exception as exc:  # noqa: BLE001 — handed to every waiting request
                for job in batch:
                    job.result.set_exception(exc)
                continue
            per_frame = (time.perf_counter() - started) / len(batch)
            self._seconds_per_frame = 0.8 * self._seconds_per_frame + 0.2 * per_frame
            for job, dets in zip(batch, results):
                job.result.set_result((dets, detector.version))

    def close(self, timeout: float = 30) -> None:
        """Finish the frames already queued, then stop the worker."""
        with self._ready:
            self._closed = True
            self._ready.notify_all()
        for worker in self._workers:
            worker.join(timeout)
