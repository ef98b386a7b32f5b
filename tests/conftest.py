"""Fixtures shared by every test area (each area has its own conftest.py in its folder).

Databases: every database test runs on a SQLite file and on the local PostgreSQL
(`CITYPATROL_TEST_POSTGRES_URL`, default postgresql://postgres@127.0.0.1:5432/test), each test in a
schema of its own, dropped afterwards. If PostgreSQL cannot be reached the PostgreSQL variants are
skipped, visibly; with CI=true they fail.

Live servers: `run_server(settings)` starts a real citypatrol server (uvicorn on a free port, real
HTTP) and gives a `LiveService` client (logged in as the settings' admin) and a stop function.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import psycopg
import pytest
import uvicorn
from sqlalchemy import create_engine, update

if TYPE_CHECKING:
    from serve.settings import Settings

REPO = Path(__file__).resolve().parent.parent
SHARED = (REPO.parent / "shared").resolve()
POSTGRES_URL = os.environ.get("CITYPATROL_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def repo_dir() -> Path:
    return REPO


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not (SHARED / "datasets").is_dir():
        pytest.fail(f"../shared/datasets not found at {SHARED}: the suite runs with ../shared beside the clone")
    return SHARED


@pytest.fixture(scope="session")
def test_model(shared_dir) -> Path:
    """The stand-in detector (training/standin.py): a real exported ONNX model with its card."""
    from training.standin import standin_model

    return standin_model(shared_dir / "weights" / "yolov5n-coco.pt")[0]


@pytest.fixture(scope="session")
def rulebook():
    """The shipped rulebook, validated against the taxonomy."""
    from cv.rulebook import Rulebook

    return Rulebook.load()


@pytest.fixture(scope="session")
def scenario_city():
    """A small city of rectangular zones that the rule and incident scenarios run in."""
    from cv.zones import CityConfig

    return CityConfig.load(REPO / "tests" / "rules" / "scenario_city.yaml")


def _postgres_or_skip() -> None:
    try:
        psycopg.connect(POSTGRES_URL, connect_timeout=3).close()
    except psycopg.OperationalError as exc:
        message = f"PostgreSQL not reachable at {POSTGRES_URL}: {exc}".strip()
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a PostgreSQL schema of this test's own."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'citypatrol.sqlite3'}"
        return
    _postgres_or_skip()
    schema = f"test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
    separator = "&" if "?" in POSTGRES_URL else "?"
    try:
        yield f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveService:
    """An HTTP client of a running server, with the helpers tests use (people, camera keys, frames)."""

    def __init__(self, base_url: str, settings: Settings):
        self.base_url, self.settings = base_url, settings
        self.http = httpx.Client(base_url=base_url, timeout=60)
        self.admin = self.login(settings.admin_username, settings.admin_password)

    def login(self, username: str, password: str) -> dict[str, str]:
        """Bearer headers for a person."""
        response = self.http.post("/v1/auth/login", json={"username": username, "password": password})
        assert response.status_code == 200, response.text
        self.http.cookies.clear()  # the shared client must not carry the last login into other requests
        return {"Authorization": f"Bearer {response.json()['token']}"}

    def add_user(self, username: str, role: str, password: str = "password-123") -> dict[str, str]:
        response = self.http.post("/v1/admin/users", headers=self.admin,
                                  json={"username": username, "password": password, "role": role})
        assert response.status_code == 201, response.text
        return self.login(username, password)

    def camera_key(self, camera_id: str) -> str:
        response = self.http.post(f"/v1/admin/cameras/{camera_id}/keys", headers=self.admin)
        assert response.status_code == 201, response.text
        return response.json()["key"]

    def act(self, headers: dict[str, str], incident_id: int, action: str, **kwargs) -> httpx.Response:
        """A review or dispatch action (confirm, reject, …) on an incident, as the person of `headers`."""
        return self.http.post(f"/v1/incidents/{incident_id}/{action}", headers=headers, **kwargs)

    def set_incident(self, incident_id: int, **values) -> None:
        """Change an incident behind the service's back (e.g. a deadline that has passed)."""
        from serve.db import normalise_url
        from serve.models import Incident

        engine = create_engine(normalise_url(self.settings.resolved_database_url))
        try:
            with engine.begin() as connection:
                connection.execute(update(Incident).where(Incident.id == incident_id).values(**values))
        finally:
            engine.dispose()

    def post_frame(self, camera_id: str, key: str, image: bytes, frame_id: str, at: datetime,
                   content_type: str = "image/jpeg") -> httpx.Response:
        headers = {"X-Camera-Key": key, "X-Frame-Id": frame_id, "X-Captured-At": at.isoformat(),
                   "Content-Type": content_type}
        return self.http.post(f"/v1/cameras/{camera_id}/frames", content=image, headers=headers)


def start_server(settings: Settings):
    from serve.app import create_app

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    return server, thread, f"http://127.0.0.1:{port}"


@pytest.fixture(scope="session")
def run_server() -> Callable:
    """`run_server(settings)` → (LiveService, stop): a real server for these settings."""

    def start(settings: Settings) -> tuple[LiveService, Callable[[], None]]:
        server, thread, url = start_server(settings)
        service = LiveService(url, settings)

        def stop() -> None:
            service.http.close()
            server.should_exit = True
            thread.join(30)

        return service, stop

    return start


@pytest.fixture(scope="session")
def street_jpeg(shared_dir) -> bytes:
    """A real street photo on which the stand-in model sees fly-posters, umbrellas, cars…"""
    return (shared_dir / "datasets" / "street_vehicles" / "images" / "0045a3115cf57633.jpg").read_bytes()


@pytest.fixture
def camera_times():
    """Camera times a minute apart, ending now (the camera clock, in the city's zone)."""
    shanghai = timezone(timedelta(hours=8))

    def times(count: int, step_s: float = 60) -> list[datetime]:
        now = datetime.now(UTC)
        return [(now - timedelta(seconds=step_s * (count - 1 - i))).astimezone(shanghai) for i in range(count)]

    return times
