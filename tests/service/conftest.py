"""A real citypatrol server (uvicorn on a free port, real HTTP; tests/conftest.py) on a SQLite file or PostgreSQL.

The detector is the real ONNX stand-in model (tests/cv): deterministic, so posting the same
street image again and again makes the same observations, and incidents escalate on schedule.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from serve.settings import Settings

HERE = Path(__file__).resolve().parent
ADMIN_PASSWORD = "admin-pass-1234"


@pytest.fixture
def service_settings(tmp_path, database_url, test_model) -> Settings:
    return Settings(data_dir=tmp_path / "data", database_url=database_url, model=test_model,
                    cameras_config=HERE / "city.yaml", admin_password=ADMIN_PASSWORD)


@pytest.fixture
def live_factory(service_settings, run_server):
    """Start servers with settings changed from the test defaults: `live_factory(detector_queue=1)`."""
    running = []

    def start(**changes):
        settings = service_settings.model_copy(update=changes)
        service, stop = run_server(settings)
        running.append(stop)
        return service

    yield start
    for stop in reversed(running):
        stop()


@pytest.fixture
def live(live_factory):
    return live_factory()


@pytest.fixture
def escalate(live, street_jpeg, camera_times):
    """Post the street photo from a camera, a minute apart up to now, until its incidents have become
    violations (0201 fly-posters, 0501 stall) or are still pre-warnings (0506); returns the incidents
    of the last answer and the camera times used."""

    def post(camera_id: str, frames: int = 8) -> tuple[list[dict], list[datetime]]:
        key, times = live.camera_key(camera_id), camera_times(frames, 60)
        answers = [live.post_frame(camera_id, key, street_jpeg, f"{camera_id}-{i}", t) for i, t in enumerate(times)]
        assert all(a.status_code == 200 for a in answers), answers[-1].text
        return answers[-1].json()["incidents"], times

    return post


@pytest.fixture(scope="module")
def module_live(tmp_path_factory, test_model, run_server):
    """One server for a whole test module (SQLite), for tests that make many requests."""
    folder = tmp_path_factory.mktemp("module-live")
    settings = Settings(data_dir=folder, model=test_model, cameras_config=HERE / "city.yaml",
                        admin_password=ADMIN_PASSWORD)
    service, stop = run_server(settings)
    yield service
    stop()
