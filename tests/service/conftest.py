"""A real citypatrol server (uvicorn on a free port, real HTTP) on a SQLite file or PostgreSQL.

The detector is the real ONNX stand-in model (tests/cv): deterministic, so posting the same
street image again and again makes the same observations, and incidents escalate on schedule.
"""

from __future__ import annotations

import socket
import threading
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
import uvicorn
from sqlalchemy import create_engine, update

from serve.app import create_app
from serve.db import normalise_url
from serve.models import Incident
from serve.settings import Settings

HERE = Path(__file__).resolve().parent
ADMIN_PASSWORD = "admin-pass-1234"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveService:
    def __init__(self, base_url: str, settings: Settings):
        self.base_url, self.settings = base_url, settings
        self.http = httpx.Client(base_url=base_url, timeout=60)
        self.admin = self.login("admin", ADMIN_PASSWORD)

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


@pytest.fixture
def service_settings(tmp_path, database_url, test_model) -> Settings:
    return Settings(data_dir=tmp_path / "data", database_url=database_url, model=test_model,
                    cameras_config=HERE / "city.yaml", admin_password=ADMIN_PASSWORD)


@pytest.fixture
def live_factory(service_settings):
    """Start servers with settings changed from the test defaults: `live_factory(detector_queue=1)`."""
    running = []

    def start(**changes) -> LiveService:
        settings = service_settings.model_copy(update=changes)
        server, thread, url = start_server(settings)
        running.append((server, thread))
        service = LiveService(url, settings)
        running.append(service)
        return service

    yield start
    for item in reversed(running):
        if isinstance(item, LiveService):
            item.http.close()
        else:
            server, thread = item
            server.should_exit = True
            thread.join(30)


@pytest.fixture
def live(live_factory) -> LiveService:
    return live_factory()


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
def module_live(tmp_path_factory, test_model):
    """One server for a whole test module (SQLite), for tests that make many requests."""
    folder = tmp_path_factory.mktemp("module-live")
    settings = Settings(data_dir=folder, model=test_model, cameras_config=HERE / "city.yaml",
                        admin_password=ADMIN_PASSWORD)
    server, thread, url = start_server(settings)
    service = LiveService(url, settings)
    yield service
    service.http.close()
    server.should_exit = True
    thread.join(30)
