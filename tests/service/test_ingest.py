"""Cameras post frames over real HTTP: the whole flow, idempotent repeats, and every bad input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import cv2
import numpy as np
from sqlalchemy import create_engine, func, select

from serve.db import normalise_url
from serve.models import Frame, Incident


def count_rows(settings, table) -> int:
    engine = create_engine(normalise_url(settings.resolved_database_url))
    try:
        with engine.connect() as connection:
            return connection.execute(select(func.count()).select_from(table)).scalar_one()
    finally:
        engine.dispose()


def test_frames_become_incidents_and_repeats_change_nothing(live, street_jpeg, camera_times):
    key = live.camera_key("cam-a")
    times = camera_times(6, step_s=90)
    answers = [live.post_frame("cam-a", key, street_jpeg, f"f{i}", t) for i, t in enumerate(times)]
    assert all(a.status_code == 200 for a in answers), answers[-1].text
    first, last = answers[0].json(), answers[-1].json()
    assert first["detections"] and first["observations"] and first["incidents"]
    assert {i["change"] for i in first["incidents"]} == {"opened"}
    assert (first["width"], first["height"]) == (640, 640)
    assert any(i["status"] == "violation" for i in last["incidents"]), "dwell passed: some became violations"
    assert {i["id"] for i in last["incidents"]} == {i["id"] for i in first["incidents"]}, "one incident per event"

    incidents_before = count_rows(live.settings, Incident)
    repeat = live.post_frame("cam-a", key, street_jpeg, "f0", times[0])
    assert repeat.status_code == 200
    assert repeat.json() == {**first, "duplicate": True}
    assert count_rows(live.settings, Incident) == incidents_before
    assert count_rows(live.settings, Frame) == 6

    evidence = list((live.settings.evidence_dir).rglob("*.jpg"))
    assert len(evidence) == 2, "the frame and its annotated copy, each stored once though sent six times"


def test_multipart_upload(live, street_jpeg):
    key = live.camera_key("cam-b")
    response = live.http.post(
        "/v1/cameras/cam-b/frames", headers={"X-Camera-Key": key},
        files={"image": ("frame.jpg", street_jpeg, "image/jpeg")},
        data={"frame_id": "m1", "captured_at": datetime.now(UTC).isoformat()},
    )
    assert response.status_code == 200, response.text
    assert response.json()["frame_id"] == "m1"


def test_bad_input_is_a_clear_4xx_and_stores_nothing(live, street_jpeg):
    key = live.camera_key("cam-a")
    now = datetime.now(UTC)
    png = cv2.imencode(".png", np.zeros((64, 64, 3), np.uint8))[1].tobytes()

    def post(camera="cam-a", body=street_jpeg, frame_id="bad", at=now.isoformat(), camera_key=key, **headers):
        h = {"X-Frame-Id": frame_id, "X-Captured-At": at, "Content-Type": "image/jpeg", **headers}
        if camera_key is not None:
            h["X-Camera-Key"] = camera_key
        return live.http.post(f"/v1/cameras/{camera}/frames", content=body, headers=h)

    cases = {
        "not_an_image": post(body=b"hello, I am not a picture"),
        "image_truncated": post(body=street_jpeg[: len(street_jpeg) // 2]),
        "image_empty": post(body=b""),
        "image_format_unsupported": post(body=b"GIF89a" + b"\0" * 64),
        "camera_unknown": post(camera="cam-nowhere"),
        "camera_key_missing": post(camera_key=None),
        "camera_key_invalid": post(camera_key="cpk_wrong"),
        "camera_key_wrong_camera": post(camera="cam-b"),
        "frame_time_out_of_range": post(at=(now - timedelta(days=3)).isoformat()),
        "captured_at_invalid": post(at="yesterday-ish"),
        "captured_at_missing": post(at=""),
        "frame_id_invalid": post(frame_id=""),
        "unsupported_media_type": post(**{"Content-Type": "text/plain"}),
        "frame_too_large": post(body=b"\xff" * (live.settings.max_frame_bytes + 1)),
    }
    expected_status = {"camera_unknown": 404, "camera_key_missing": 401, "camera_key_invalid": 401,
                       "camera_key_wrong_camera": 403, "frame_too_large": 413, "unsupported_media_type": 415}
    for code, response in cases.items():
        assert response.status_code == expected_status.get(code, 422), (code, response.status_code, response.text)
        assert response.json()["code"] == code, (code, response.json())
    # a PNG is fine
    assert post(body=png, frame_id="png-ok").status_code == 200
    assert count_rows(live.settings, Frame) == 1
    assert not list(live.settings.evidence_dir.rglob("*.jpg")), "no evidence from refused frames"


def second_look_crops(live) -> float:
    for line in live.http.get("/metrics").text.splitlines():
        if line.startswith("citypatrol_second_look_crops_total"):
            return float(line.split()[-1])
    return 0.0


def test_walls_get_a_full_resolution_second_look_at_most_once_a_minute(live, street_jpeg, camera_times):
    """cam-b's wall zone asks for fly-posters: a 1280×720 frame is detected again in crops of its wall,
    and the camera's next frames only once the interval (60 s of camera time) has passed."""
    frame = cv2.imencode(".jpg", cv2.resize(cv2.imdecode(np.frombuffer(street_jpeg, np.uint8), cv2.IMREAD_COLOR),
                                            (1280, 720)))[1].tobytes()
    key, (t0, t1, t2) = live.camera_key("cam-b"), camera_times(3, step_s=40)
    first = live.post_frame("cam-b", key, frame, "w0", t0)
    assert first.status_code == 200, first.text
    looked = second_look_crops(live)
    assert looked == 4, "the wall covers the whole frame: four windows at twice the zoom"
    assert live.post_frame("cam-b", key, frame, "w1", t1).status_code == 200  # 40 s later: not yet
    assert second_look_crops(live) == looked
    assert live.post_frame("cam-b", key, frame, "w2", t2).status_code == 200  # 80 s after the first
    assert second_look_crops(live) == 2 * looked
    # what the crops found is in the frame's own pixels, like every other detection
    assert all(0 <= v <= 1280 for d in first.json()["detections"] for v in d["box"][::2])
