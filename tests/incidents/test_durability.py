"""Restarts, concurrent workers, the schema and where the database lives."""

from __future__ import annotations

import random
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, select

from cv.rulebook import Rulebook
from cv.zones import CityConfig
from serve.db import create_db_engine, migrate, open_database
from serve.models import Base, Frame, IncidentStatus, Sighting
from serve.settings import Settings

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
CAR = ("car", [350, 600, 550, 700])
SCENARIO_CITY = "tests/rules/scenario_city.yaml"


def test_after_a_restart_the_same_incident_continues(database_url, repo_dir, street_factory):
    first_life = create_db_engine(database_url)
    migrate(first_life)
    before = street_factory(first_life)
    before.every(15, 10, T0, CAR)
    [incident] = before.incidents()
    assert incident.status == IncidentStatus.PREWARNING
    first_life.dispose()

    # A new process: new engine, configs loaded again from their files, migrations re-run.
    second_life = create_db_engine(database_url)
    migrate(second_life)
    after = street_factory(second_life, Rulebook.load(), CityConfig.load(repo_dir / SCENARIO_CITY))
    after.every(15, 31, T0 + timedelta(seconds=150), CAR)
    [continued] = after.incidents()
    assert continued.id == incident.id
    assert (continued.status, continued.hits, continued.first_seen) == (IncidentStatus.VIOLATION, 41, T0)
    second_life.dispose()


def test_workers_posting_the_same_camera_at_once_lose_nothing_and_duplicate_nothing(database_url, street_factory):
    """4 workers (each with its own engine, like separate processes) post all 40 frames of a parked
    car, each in its own order: every frame arrives 4 times, mostly at the same moment."""
    workers, frames = 4, 40
    engines = [create_db_engine(database_url) for _ in range(workers)]
    migrate(engines[0])
    streets = [street_factory(engine) for engine in engines]
    start = threading.Barrier(workers)

    def post_all(worker: int) -> int:
        order = list(range(frames))
        random.Random(worker).shuffle(order)
        start.wait()
        street = streets[worker]
        results = [street.frame(T0 + timedelta(seconds=15 * i), CAR) for i in order]
        return sum(not r.duplicate for r in results)

    with ThreadPoolExecutor(workers) as pool:
        recorded = list(pool.map(post_all, range(workers)))

    assert sum(recorded) == frames  # each frame applied exactly once, by whichever worker came first
    [incident] = streets[0].incidents()
    assert (incident.hits, incident.misses) == (frames, 0)
    assert (incident.first_seen, incident.last_seen) == (T0, T0 + timedelta(seconds=15 * (frames - 1)))
    assert incident.status == IncidentStatus.VIOLATION
    with streets[0].sessions() as session:
        assert session.scalar(select(func.count()).select_from(Frame)) == frames
        assert session.scalar(select(func.count()).select_from(Sighting)) == frames
    for engine in engines:
        engine.dispose()


def test_the_migrations_build_exactly_the_tables_the_models_describe(engine):
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []


def test_the_default_database_is_sqlite_in_wal_mode_under_the_data_dir(tmp_path, monkeypatch):
    monkeypatch.delenv("CITYPATROL_DATABASE_URL", raising=False)
    monkeypatch.delenv("CITYPATROL_DATA_DIR", raising=False)
    assert Settings().data_dir.as_posix() == "var"

    monkeypatch.setenv("CITYPATROL_DATA_DIR", str(tmp_path / "state"))
    settings = Settings()
    engine, _ = open_database(settings.resolved_database_url)
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    engine.dispose()
    assert (tmp_path / "state" / "citypatrol.sqlite3").is_file()

    monkeypatch.setenv("CITYPATROL_DATABASE_URL", "postgresql://postgres@db.example/citypatrol")
    assert Settings().resolved_database_url == "postgresql://postgres@db.example/citypatrol"
