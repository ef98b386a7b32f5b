"""Incident scenarios against a real database: a SQLite file and the local PostgreSQL
(the `database_url` fixture in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import sessionmaker

from cv.config import taxonomy_classes
from cv.detections import Detections
from cv.rules import RuleEngine
from serve.db import create_db_engine, migrate
from serve.incidents import FrameIn, FrameResult, IncidentBook
from serve.models import Incident

FRAME = (1000, 1000)  # boxes in the tests are pixels of it: the scenario city's coordinates ×1000
MODEL_VERSION = "test-model-v1"


@pytest.fixture
def engine(database_url) -> Iterator[Engine]:
    engine = create_db_engine(database_url)
    migrate(engine)
    yield engine
    engine.dispose()


class Street:
    """A camera feed: frames of hand-made detections go through the rules into the incident book."""

    def __init__(self, engine: Engine, rulebook, city, camera: str = "cam-street"):
        self.sessions = sessionmaker(engine, expire_on_commit=False)
        self.rules = RuleEngine(rulebook, city)
        self.book = IncidentBook(self.sessions, rulebook, city)
        self.camera = camera
        self.classes = taxonomy_classes()

    def frame(self, at: datetime, *objects, frame_id: str | None = None) -> FrameResult:
        """One frame at camera time `at` showing `(class, [x1, y1, x2, y2])` objects; its id is
        the camera's time unless given (one frame a second at most, as a camera numbers them)."""
        records = [{"class": name, "box": box, "confidence": 0.9} for name, box in objects]
        detections = Detections.from_records(records, self.classes)
        observations = self.rules.evaluate(self.camera, detections, FRAME, at)
        frame_id = frame_id or f"{self.camera}-{at.timestamp():.0f}"
        frame = FrameIn(self.camera, frame_id, at, observations, MODEL_VERSION)
        return self.book.record_frame(frame, received_at=at)

    def every(self, seconds: float, count: int, start: datetime, *objects) -> list[FrameResult]:
        return [self.frame(start + timedelta(seconds=i * seconds), *objects) for i in range(count)]

    def incidents(self) -> list[Incident]:
        with self.sessions() as session:
            return list(session.scalars(select(Incident).order_by(Incident.id)))


@pytest.fixture
def street_factory(rulebook, scenario_city):
    """street_factory(engine, rulebook?, city?) → a `Street` on that engine (a worker, a restart)."""

    def make(engine: Engine, book_rules=None, city=None) -> Street:
        return Street(engine, book_rules or rulebook, city or scenario_city)

    return make


@pytest.fixture
def street(engine, street_factory) -> Street:
    return street_factory(engine)
