"""Running the service: roles, reload without restart, backpressure, health, metrics, logs."""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path


def test_roles_guard_admin_work(live):
    operator = live.add_user("op1", "operator")
    supervisor = live.add_user("sup1", "supervisor")
    key = live.camera_key("cam-a")
    for headers, expected in ((operator, 403), (supervisor, 403), ({}, 401),
                              ({"Authorization": f"Bearer {key}"}, 401), (live.admin, 200)):
        response = live.http.get("/v1/admin/users", headers=headers)
        assert response.status_code == expected, (headers, response.text)
        if expected != 200:
            assert response.json()["code"] in ("forbidden_role", "not_authenticated", "session_invalid")
    assert live.http.post("/v1/admin/reload", headers=operator).status_code == 403
    assert live.http.post("/v1/admin/cameras/cam-a/keys", headers=supervisor).status_code == 403
    assert live.http.get("/v1/auth/me", headers=operator).json() == {"username": "op1", "role": "operator"}


def test_login_logout_and_bad_credentials(live):
    assert live.http.post("/v1/auth/login", json={"username": "admin", "password": "wrong"}).json()["code"] == "login_failed"
    assert live.http.post("/v1/auth/login", json={"username": "nobody", "password": "x"}).status_code == 401
    assert live.http.post("/v1/auth/login", json={"username": "admin"}).json()["code"] == "invalid_request"
    headers = live.login("admin", "admin-pass-1234")
    assert live.http.post("/v1/auth/logout", headers=headers).status_code == 204
    assert live.http.get("/v1/auth/me", headers=headers).json()["code"] == "session_invalid"
    duplicate = live.http.post("/v1/admin/users", headers=live.admin,
                               json={"username": "admin", "password": "long-enough", "role": "operator"})
    assert duplicate.status_code == 409 and duplicate.json()["code"] == "user_exists"


def test_rotated_camera_key_stops_working(live, street_jpeg):
    old = live.camera_key("cam-b")
    new = live.camera_key("cam-b")
    now = datetime.now(UTC)
    assert live.post_frame("cam-b", old, street_jpeg, "r1", now).json()["code"] == "camera_key_invalid"
    assert live.post_frame("cam-b", new, street_jpeg, "r1", now).status_code == 200


def test_reload_with_a_bad_file_keeps_the_service_working(live_factory, tmp_path, street_jpeg):
    cameras = tmp_path / "cameras.yaml"
    shutil.copy(Path(__file__).with_name("city.yaml"), cameras)
    live = live_factory(cameras_config=cameras)
    key = live.camera_key("cam-a")
    before = live.http.get("/readyz").json()

    cameras.write_text(cameras.read_text().replace("kind: wall", "kind: walll", 1))
    refused = live.http.post("/v1/admin/reload", headers=live.admin)
    assert refused.status_code == 422 and refused.json()["code"] == "config_invalid"
    message = refused.json()["message"]
    assert "cameras.yaml: cameras[0].views[0].zones[0].kind" in message and "'wall'" in message
    assert live.http.get("/readyz").json()["cameras"] == before["cameras"]
    assert live.post_frame("cam-a", key, street_jpeg, "after-bad-reload", datetime.now(UTC)).status_code == 200

    cameras.write_text(cameras.read_text().replace("walll", "wall").replace("主干道 1 号杆", "主干道 1 号杆（新）"))
    accepted = live.http.post("/v1/admin/reload", headers=live.admin)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["cameras"] != before["cameras"]
    assert live.http.get("/readyz").json()["cameras"] == accepted.json()["cameras"]


def test_saturated_detector_answers_503_with_retry_after(live_factory, street_jpeg):
    live = live_factory(detector_queue=1, detector_batch=1)
    key = live.camera_key("cam-a")
    now = datetime.now(UTC)
    with ThreadPoolExecutor(max_workers=12) as pool:
        responses = list(pool.map(lambda i: live.post_frame("cam-a", key, street_jpeg, f"burst-{i}", now), range(12)))
    statuses = sorted(r.status_code for r in responses)
    assert set(statuses) <= {200, 503}, statuses
    refused = [r for r in responses if r.status_code == 503]
    assert refused and statuses.count(200) >= 1
    for r in refused:
        assert r.json()["code"] == "detector_saturated" and int(r.headers["Retry-After"]) >= 1


def test_health_readiness_and_metrics(live, street_jpeg):
    assert live.http.get("/healthz").json() == {"status": "ok"}
    ready = live.http.get("/readyz").json()
    assert ready["status"] == "ready" and ready["model"].startswith("test")
    key = live.camera_key("cam-a")
    live.post_frame("cam-a", key, street_jpeg, "m1", datetime.now(UTC))
    text = live.http.get("/metrics").text
    assert 'citypatrol_frames_total{outcome="accepted"} 1.0' in text
    assert 'citypatrol_stage_seconds_count{stage="detect"} 1.0' in text
    assert "citypatrol_detections_total{cls=" in text
    assert 'citypatrol_incidents{code="0201",status="prewarning"}' in text
    assert "citypatrol_detector_queue_depth 0.0" in text
    response = live.http.get("/healthz", headers={"X-Request-ID": "trace-me-42"})
    assert response.headers["X-Request-ID"] == "trace-me-42"


def test_unknown_routes_and_methods_have_codes(live):
    assert live.http.get("/v1/nothing-here").json()["code"] == "not_found"
    assert live.http.get("/v1/cameras/cam-a/frames").json()["code"] == "method_not_allowed"


def test_a_too_short_admin_password_is_refused_before_the_server_starts(monkeypatch, tmp_path, capsys):
    from serve.cli import main

    monkeypatch.setenv("CITYPATROL_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CITYPATROL_ADMIN_PASSWORD", "short")
    assert main(["serve", "--port", "0"]) == 2
    assert "CITYPATROL_ADMIN_PASSWORD needs at least 8 characters" in capsys.readouterr().err
    assert not list(tmp_path.iterdir()), "nothing was created"
