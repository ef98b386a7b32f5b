"""Review and dispatch over real HTTP: from posted frames to a closed case with its audit trail,
rejections and corrections, illegal transitions, roles, overdue cases, and the list's filters."""

from __future__ import annotations

import base64
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import cv2
import httpx
import numpy as np
import pytest

CLEAN_JPEG = cv2.imencode(".jpg", np.full((640, 640, 3), 128, np.uint8))[1].tobytes()


def first(incidents: list[dict], code: str, status: str = "violation") -> int:
    return next(i["id"] for i in incidents if i["code"] == code and i["status"] == status)


@pytest.fixture
def people(live):
    return {"operator": live.add_user("olga", "operator"), "supervisor": live.add_user("sam", "supervisor")}


def test_posted_frames_become_a_confirmed_dispatched_resolved_and_closed_case(live, people, escalate, street_jpeg):
    incidents, times = escalate("cam-a")
    stall = first(incidents, "0501")
    operator, supervisor = people["operator"], people["supervisor"]

    detail = live.http.get(f"/v1/incidents/{stall}", headers=operator).json()
    assert (detail["status"], detail["case_status"], detail["overdue"]) == ("violation", "new", False)
    assert detail["standard"] == "无占道经营现象" and detail["name"] == "无照经营游商"
    assert detail["point"] == {"id": "P-MAIN", "name": "测试主干道", "type": "主次干道", "department": "测试区城管执法中队",
                               "district": "测试区", "keeper": "路长 张三"}
    assert detail["sightings"]["count"] == len(times) == detail["hits"]
    assert [detail["evidence"][k]["frame_id"] for k in ("first", "last")] == ["cam-a-0", f"cam-a-{len(times) - 1}"]
    for url in (detail["evidence"]["best"]["image_url"], detail["evidence"]["best"]["annotated_url"]):
        image = live.http.get(url, headers=operator)
        assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"
    assert live.http.get(detail["evidence"]["first"]["image_url"], headers=operator).content == street_jpeg

    confirmed = live.act(operator, stall, "confirm", json={"comment": "摊位占道"})
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["case_status"] == "confirmed" and confirmed.json()["case"]["reviewed_by"] == "olga"

    dispatched = live.act(supervisor, stall, "dispatch").json()
    case = dispatched["case"]
    assert dispatched["case_status"] == "dispatched" and case["dispatched_to"] == "城管执法中队"  # the rule's
    deadline = datetime.fromisoformat(dispatched["deadline_at"])
    assert deadline - datetime.fromisoformat(case["dispatched_at"]) == timedelta(hours=2)  # 0501: 2 h

    photo = cv2.imencode(".jpg", np.full((48, 64, 3), 200, np.uint8))[1].tobytes()
    resolved = live.act(supervisor, stall, "resolve", data={"note": "摊贩已劝离"},
                   files={"photo": ("after.jpg", photo, "image/jpeg")})
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["case"]["resolution_note"] == "摊贩已劝离"
    assert live.http.get(resolved.json()["case"]["resolution_photo_url"], headers=supervisor).content == photo

    # The camera sees the place clean for longer than clear_after_s: that verifies the disposal.
    clean_at = times[-1] + timedelta(seconds=detail["clear_after_s"] + 1)
    cleared = live.post_frame("cam-a", live.camera_key("cam-a"), CLEAN_JPEG, "clean", clean_at).json()
    assert next(i["change"] for i in cleared["incidents"] if i["id"] == stall) == "cleared"
    closed = live.act(supervisor, stall, "close", json={"comment": "复核无摊位"}).json()
    assert (closed["case_status"], closed["case"]["close_verification"]) == ("closed", "camera")

    history = closed["history"]
    assert [(h["actor"], h["action"]) for h in history] == [
        ("olga", "confirm"), ("sam", "dispatch"), ("sam", "resolve"), ("sam", "close")]
    assert history[0]["comment"] == "摊位占道" and history[3]["comment"] == "复核无摊位"
    assert history[1]["before"] == {"case_status": "confirmed", "dispatched_to": None, "dispatched_at": None,
                                    "deadline_at": None}
    assert history[1]["after"]["case_status"] == "dispatched"
    assert history[3]["after"] == {"case_status": "closed", "closed_at": history[3]["after"]["closed_at"],
                                   "close_verification": "camera"}
    assert all(datetime.fromisoformat(a["at"]) <= datetime.fromisoformat(b["at"]) for a, b in zip(history, history[1:]))
    listed = live.http.get("/v1/incidents", headers=supervisor, params={"case_status": "closed"}).json()
    assert [i["id"] for i in listed["items"]] == [stall]


def test_rejections_need_a_listed_reason_and_corrections_keep_the_label(live, people, escalate):
    incidents, _ = escalate("cam-a")
    posters = [i["id"] for i in incidents if i["code"] == "0201"]
    operator, supervisor = people["operator"], people["supervisor"]

    assert live.act(operator, posters[0], "reject", json={}).json()["code"] == "invalid_request"
    assert live.act(operator, posters[0], "reject", json={"reason": "looks_fine"}).status_code == 422
    other = live.act(operator, posters[0], "reject", json={"reason": "other"})
    assert (other.status_code, other.json()["code"]) == (422, "comment_required")
    rejected = live.act(operator, posters[0], "reject", json={"reason": "false_detection", "comment": "门牌"}).json()
    assert (rejected["case_status"], rejected["review_outcome"], rejected["case"]["reject_reason"]) == (
        "rejected", "rejected", "false_detection")

    refused = {
        "code_unknown": live.act(operator, posters[1], "correct", json={"code": "9999"}),
        "correction_empty": live.act(operator, posters[1], "correct", json={"code": "0201"}),
        "box_invalid": live.act(operator, posters[1], "correct", json={"box": [0.5, 0.5, 0.2, 0.9]}),
        "invalid_request": live.act(operator, posters[1], "correct", json={"box": [0.1, 0.2, 1.5, 0.4]}),
    }
    for code, response in refused.items():
        assert (response.status_code, response.json()["code"]) == (422, code), response.text
    # A rejected review may be revised before dispatch: it was exposed garbage, drawn here.
    corrected = live.act(operator, posters[0], "correct", json={"code": "0102", "box": [0.1, 0.2, 0.3, 0.4]}).json()
    assert (corrected["case_status"], corrected["review_outcome"], corrected["effective_code"]) == (
        "confirmed", "corrected", "0102")
    case = corrected["case"]
    assert (case["corrected_code"], case["corrected_box"]) == ("0102", [0.1, 0.2, 0.3, 0.4])
    assert case["reject_reason"] is None, "a revised review keeps nothing of the rejection"
    assert (corrected["code"], corrected["standard"]) == ("0201", "垃圾清运及时、分类收集，无积存垃圾")
    box_only = live.act(operator, posters[1], "correct", json={"box": [0.2, 0.2, 0.4, 0.5]}).json()
    assert (box_only["effective_code"], box_only["case"]["corrected_box"]) == ("0201", [0.2, 0.2, 0.4, 0.5])

    # Dispatch goes by the corrected code's rule: 区环卫所 within 4 h (0201 would be 城管执法中队, 24 h).
    dispatched = live.act(supervisor, posters[0], "dispatch").json()
    assert dispatched["case"]["dispatched_to"] == "区环卫所"
    assert datetime.fromisoformat(dispatched["deadline_at"]) - datetime.fromisoformat(
        dispatched["case"]["dispatched_at"]) == timedelta(hours=4)
    elsewhere = live.act(supervisor, posters[1], "dispatch", json={"department": "某街道办"}).json()
    assert elsewhere["department"] == "某街道办"
    filtered = live.http.get("/v1/incidents", headers=operator, params={"code": "0102"}).json()
    assert [i["id"] for i in filtered["items"]] == [posters[0]]
    assert [h["action"] for h in dispatched["history"]] == ["reject", "correct", "dispatch"]
    assert dispatched["history"][1]["before"]["reject_reason"] == "false_detection"


def test_actions_the_state_does_not_allow_are_409_and_change_nothing(live, people, escalate):
    incidents, _ = escalate("cam-a")
    supervisor = people["supervisor"]
    poster, stall = first(incidents, "0201"), first(incidents, "0501")
    # two frames a minute apart: cam-b's poster has not yet lasted its dwell (any hour: no schedule)
    prewarning = first(escalate("cam-b", frames=2)[0], "0201", "prewarning")

    def refused(incident_id, action, code, **kwargs):
        response = live.act(supervisor, incident_id, action, **kwargs)
        assert (response.status_code, response.json()["code"]) == (409, code), (action, response.text)

    refused(prewarning, "confirm", "not_a_violation_yet")
    refused(poster, "dispatch", "invalid_transition")
    refused(poster, "resolve", "invalid_transition", json={"note": "done"})
    refused(poster, "close", "invalid_transition")
    refused(poster, "reopen", "invalid_transition", json={"comment": "again"})
    assert live.act(supervisor, stall, "confirm").status_code == 200  # admins and supervisors may review too
    assert live.act(supervisor, stall, "dispatch").status_code == 200
    refused(stall, "confirm", "invalid_transition")
    refused(stall, "reject", "invalid_transition", json={"reason": "duplicate"})
    refused(stall, "dispatch", "invalid_transition")
    refused(stall, "close", "invalid_transition")
    assert live.act(supervisor, stall, "resolve", json={"note": "劝离"}).status_code == 200
    refused(stall, "close", "verification_required")  # the camera still sees the stall
    refused(stall, "close", "camera_not_verified", json={"verification": "camera"})

    missing = live.act(supervisor, 999999, "confirm")
    assert (missing.status_code, missing.json()["code"]) == (404, "incident_not_found")
    assert live.http.get("/v1/incidents/999999", headers=supervisor).json()["code"] == "incident_not_found"
    untouched = live.http.get(f"/v1/incidents/{poster}", headers=supervisor).json()
    assert (untouched["case_status"], untouched["history"]) == ("new", [])
    stall_now = live.http.get(f"/v1/incidents/{stall}", headers=supervisor).json()
    assert [h["action"] for h in stall_now["history"]] == ["confirm", "dispatch", "resolve"]

    closed = live.act(supervisor, stall, "close", json={"verification": "inspection"}).json()
    assert (closed["case_status"], closed["case"]["close_verification"]) == ("closed", "inspection")


def test_roles_decide_who_may_do_what(live, people, escalate):
    incidents, _ = escalate("cam-a")
    stall, poster = first(incidents, "0501"), first(incidents, "0201")
    operator = people["operator"]
    camera_key = live.camera_key("cam-b")

    for headers in ({}, {"X-Camera-Key": camera_key}, {"Authorization": f"Bearer {camera_key}"}):
        response = live.http.get("/v1/incidents", headers=headers)
        assert response.status_code == 401 and response.json()["code"] in ("not_authenticated", "session_invalid")
        assert live.http.post(f"/v1/incidents/{stall}/confirm", headers=headers).status_code == 401

    assert live.http.get("/v1/incidents", headers=operator).json()["total"] == len(incidents)
    assert live.act(operator, stall, "confirm").status_code == 200
    for action, body in (("dispatch", {}), ("resolve", {"note": "x"}), ("close", {}), ("reopen", {"comment": "x"})):
        response = live.act(operator, stall, action, json=body)
        assert (response.status_code, response.json()["code"]) == (403, "forbidden_role"), (action, response.text)
    assert live.act(live.admin, stall, "dispatch").status_code == 200  # admin includes supervisor
    assert live.act(live.admin, poster, "reject", json={"reason": "duplicate"}).status_code == 200
    history = live.http.get(f"/v1/incidents/{stall}", headers=operator).json()["history"]
    assert [(h["actor"], h["action"]) for h in history] == [("olga", "confirm"), ("admin", "dispatch")]


def test_cases_past_their_deadline_are_overdue_until_handled(live, people, escalate):
    incidents, _ = escalate("cam-a")
    late, on_time = [i["id"] for i in incidents if i["code"] == "0201"][:2]
    supervisor = people["supervisor"]
    for incident_id in (late, on_time):
        assert live.act(supervisor, incident_id, "confirm").status_code == 200
        assert live.act(supervisor, incident_id, "dispatch").status_code == 200

    def overdue_ids() -> list[int]:
        page = live.http.get("/v1/incidents", headers=supervisor, params={"overdue": "true"}).json()
        return [i["id"] for i in page["items"]]

    assert overdue_ids() == []
    now = datetime.now(UTC)
    live.set_incident(late, deadline_at=now - timedelta(minutes=5))
    assert overdue_ids() == [late]
    assert live.http.get(f"/v1/incidents/{late}", headers=supervisor).json()["overdue"] is True
    not_overdue = live.http.get("/v1/incidents", headers=supervisor, params={"overdue": "false"}).json()
    assert late not in [i["id"] for i in not_overdue["items"]] and not_overdue["total"] == len(incidents) - 1

    # Feedback after the deadline: still overdue until closed. Feedback in time: not overdue.
    assert live.act(supervisor, late, "resolve", json={"note": "已清除"}).json()["overdue"] is True
    in_time = live.act(supervisor, on_time, "resolve", json={"note": "已清除"}).json()
    resolved_at = datetime.fromisoformat(in_time["case"]["resolved_at"])
    live.set_incident(on_time, deadline_at=resolved_at + timedelta(milliseconds=1))  # passed since
    assert overdue_ids() == [late]

    closed = live.act(supervisor, late, "close", json={"verification": "inspection"}).json()
    assert closed["overdue"] is False and overdue_ids() == []
    assert live.act(supervisor, late, "reopen", json={}).status_code == 422  # a reason is required
    reopened = live.act(supervisor, late, "reopen", json={"comment": "又贴上了"}).json()
    assert (reopened["case_status"], reopened["overdue"]) == ("dispatched", False)
    assert reopened["case"]["resolved_at"] is None
    assert datetime.fromisoformat(reopened["deadline_at"]) > datetime.now(UTC) + timedelta(hours=23)  # 0201: 24 h
    assert reopened["history"][-1]["before"]["close_verification"] == "inspection"


def test_resolution_photo_as_base64_must_be_a_jpeg(live, people, escalate):
    incidents, _ = escalate("cam-a")
    stall = first(incidents, "0501")
    supervisor = people["supervisor"]
    live.act(supervisor, stall, "confirm")
    live.act(supervisor, stall, "dispatch")
    png = cv2.imencode(".png", np.zeros((8, 8, 3), np.uint8))[1].tobytes()
    jpeg = cv2.imencode(".jpg", np.zeros((8, 8, 3), np.uint8))[1].tobytes()
    cases = {
        "invalid_request": {"note": "x", "photo_base64": "not base64!"},
        "photo_not_jpeg": {"note": "x", "photo_base64": base64.b64encode(png).decode()},
        "image_truncated": {"note": "x", "photo_base64": base64.b64encode(jpeg[:-20]).decode()},
    }
    for code, body in [*cases.items(), ("invalid_request", {"photo_base64": base64.b64encode(jpeg).decode()})]:
        response = live.act(supervisor, stall, "resolve", json=body)
        assert 400 <= response.status_code < 500 and response.json()["code"] == code, (code, response.text)
    assert live.http.get(f"/v1/incidents/{stall}", headers=supervisor).json()["case_status"] == "dispatched"
    photo = base64.b64encode(jpeg).decode()
    resolved = live.act(supervisor, stall, "resolve", json={"note": "ok", "photo_base64": photo})
    assert live.http.get(resolved.json()["case"]["resolution_photo_url"], headers=supervisor).content == jpeg


def test_the_list_filters_and_pages(live, people, escalate, camera_times):
    a_incidents, a_times = escalate("cam-a")
    b_incidents, _ = escalate("cam-b")
    operator = people["operator"]

    def ids(**params) -> list[int]:
        response = live.http.get("/v1/incidents", headers=operator, params=params)
        assert response.status_code == 200, response.text
        assert response.json()["total"] == len(response.json()["items"])
        return sorted(i["id"] for i in response.json()["items"])

    every = sorted(i["id"] for i in a_incidents + b_incidents)
    assert ids(limit=500) == every
    assert ids(camera="cam-b") == sorted(i["id"] for i in b_incidents)
    assert ids(point="P-LANE") == ids(point_type="背街小巷") == ids(camera="cam-b")
    assert ids(district="测试区") == every
    assert ids(code="0501, 0506") == sorted(i["id"] for i in a_incidents + b_incidents if i["code"] in ("0501", "0506"))
    assert ids(status="prewarning") == sorted(i["id"] for i in a_incidents + b_incidents if i["status"] == "prewarning")
    assert ids(department="交警大队") == []
    assert ids(department="城管执法中队") == every  # 0201, 0501 and 0506 all go to 城管执法中队
    assert ids(case_status="new") == every and ids(case_status="confirmed") == []
    after = a_times[-1] + timedelta(hours=1)
    assert ids(**{"from": after.isoformat()}) == [] and ids(**{"to": a_times[0].isoformat()}) == []
    assert ids(**{"from": a_times[0].isoformat(), "to": after.isoformat()}) == every

    pages = [live.http.get("/v1/incidents", headers=operator, params={"limit": 4, "offset": o}).json()
             for o in range(0, len(every), 4)]
    assert {p["total"] for p in pages} == {len(every)}
    paged = [i["id"] for p in pages for i in p["items"]]
    assert paged == sorted(every, reverse=True), "newest first, each once"

    bad = {"limit": 0, "status": "violation,gone", "from": "2026-11-23T08:00:00", "to": "1732320000",
           "overdue": "maybe", "code": ""}
    for name, value in bad.items():
        response = live.http.get("/v1/incidents", headers=operator, params={name: value})
        assert (response.status_code, response.json()["code"]) == (422, "invalid_request"), (name, response.text)
    repeated = live.http.get("/v1/incidents", headers=operator, params=[("code", "0501"), ("code", "0506")])
    assert (repeated.status_code, repeated.json()["code"]) == (422, "parameter_repeated")


def test_two_people_acting_on_one_case_at_once_do_it_once(live, people, escalate):
    incidents, _ = escalate("cam-a")
    stall = first(incidents, "0501")
    supervisor = people["supervisor"]
    assert live.act(supervisor, stall, "confirm").status_code == 200
    clients = [httpx.Client(base_url=live.base_url, headers=supervisor, timeout=60) for _ in range(4)]
    try:
        with ThreadPoolExecutor(len(clients)) as pool:
            answers = list(pool.map(lambda c: c.post(f"/v1/incidents/{stall}/dispatch"), clients))
    finally:
        for client in clients:
            client.close()
    assert sorted(a.status_code for a in answers) == [200, 409, 409, 409]
    history = live.http.get(f"/v1/incidents/{stall}", headers=supervisor).json()["history"]
    assert [h["action"] for h in history] == ["confirm", "dispatch"]
