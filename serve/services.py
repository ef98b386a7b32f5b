"""What the app runs on: the database, the detector queue, the configs in force, evidence, metrics.

`Services.reload()` validates the new camera config, rulebook and model first and only then swaps
them in, as one `ActiveConfig` value: a request in flight keeps the config it started with, and
a bad file leaves everything as it was.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from cv.detector import Detector, machine_threads
from cv.model_card import default_model_path
from cv.rulebook import Rulebook
from cv.rules import RuleEngine
from cv.zones import CityConfig
from serve.db import open_database
from serve.detection_queue import DetectionQueue
from serve.evidence import EvidenceStore
from serve.incidents import IncidentBook
from serve.metrics import Metrics
from serve.models import AuditEntry
from serve.settings import Settings

log = logging.getLogger("citypatrol.services")


@dataclass(frozen=True)
class ActiveConfig:
    city: CityConfig
    rulebook: Rulebook
    rules: RuleEngine
    incidents: IncidentBook


class SecondLookSchedule:
    """When a camera's walls are looked at again in full-resolution crops: at most once per interval
    of camera time. The crops cost an inference each, and fly-posters stay for days: one look a minute
    keeps their incidents sighted (dwell 5 min, clear after 15) at a fraction of the cost. Kept in
    memory: after a restart the first frame of each camera gets a look, which is harmless."""

    def __init__(self, interval_s: float):
        self.interval_s = interval_s
        self._last: dict[str, datetime] = {}
        self._lock = threading.Lock()

    def due(self, camera_id: str, captured_at: datetime) -> bool:
        with self._lock:
            last = self._last.get(camera_id)
            if last is not None and timedelta(0) <= captured_at - last < timedelta(seconds=self.interval_s):
                return False
            self._last[camera_id] = captured_at
            return True


class Services:
    def __init__(self, settings: Settings, engine: Engine, sessions: sessionmaker[Session]):
        self.settings, self.engine, self.sessions = settings, engine, sessions
        self.metrics = Metrics()
        self.evidence = EvidenceStore(settings.evidence_dir)
        self.second_looks = SecondLookSchedule(settings.second_look_interval_s)
        self.config = self._load_config()
        self.queue = DetectionQueue(self._load_detector(), max_batch=settings.detector_batch,
                                    max_waiting=settings.detector_queue)

    @classmethod
    def start(cls, settings: Settings) -> Services:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine, sessions = open_database(settings.resolved_database_url)
        return cls(settings, engine, sessions)

    def _load_config(self) -> ActiveConfig:
        city = CityConfig.load(self.settings.cameras_config)
        rulebook = Rulebook.load(self.settings.rulebook)
        return ActiveConfig(city, rulebook, RuleEngine(rulebook, city), IncidentBook(self.sessions, rulebook, city))

    def _load_detector(self) -> Detector:
        model = self.settings.model or default_model_path(self.settings.models_dir)
        return Detector(model, conf=self.settings.conf, max_pixels=self.settings.max_frame_pixels,
                        streams=self.settings.detector_streams or machine_threads(),
                        max_images_per_run=self.settings.detector_batch)

    @property
    def detector(self) -> Detector:
        return self.queue.detector

    def reload(self, session: Session, actor: str) -> dict:
        """Re-read configs and model; raises (ConfigError, ModelCardError) and changes nothing if any is bad.

        The audit entry goes into the caller's `session` (the request's one transaction).
        """
        config = self._load_config()
        detector = self._load_detector()
        before = self.versions()
        self.config = config
        self.queue.swap_detector(detector)
        after = self.versions()
        session.add(AuditEntry(at=datetime.now(UTC), actor=actor, action="reload", before=before, after=after))
        log.info("configuration reloaded", extra={"before": before, "after": after})
        return after

    def versions(self) -> dict[str, str]:
        return {
            "cameras": self.config.city.content_version,
            "rulebook": self.config.rulebook.content_version,
            "model": self.detector.version,
            "model_file": Path(self.detector.path).name,
        }

    def close(self) -> None:
        self.queue.close()
        self.engine.dispose()
