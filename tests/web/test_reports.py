"""The reports page over weeks of history: the pass-rate trend chart and the bar charts show what the
reports API computes from the database."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import cv2
import numpy as np
import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select

from serve.models import Incident

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

CITY_TZ = ZoneInfo("Asia/Shanghai")
CLEAN_JPEG = cv2.imencode(".jpg", np.full((640, 640, 3), 128, np.uint8))[1].tobytes()
CLEARED_AFTER = timedelta(seconds=901)  # longer than any rule's clear_after_s


def post_day(live, keys, street_jpeg, camera_id: str, day: date, violations: bool) -> list[int]:
    """One day of frames from a camera: the street photo for 12 minutes (its incidents become
    violations) then the empty street until they clear; or only the empty street."""
    start = datetime.combine(day, time(9, 0), tzinfo=CITY_TZ)
    frames = [(start + timedelta(seconds=90 * i), street_jpeg) for i in range(8)] if violations else []
    last = frames[-1][0] if frames else start
    frames.append((last + CLEARED_AFTER, CLEAN_JPEG))
    raised: set[int] = set()
    for i, (at, image) in enumerate(frames):
        answer = live.post_frame(camera_id, keys[camera_id], image, f"{camera_id}-{day}-{i}", at)
        assert answer.status_code == 200, answer.text
        raised |= {i["id"] for i in answer.json()["incidents"] if i["status"] == "violation"}
    return sorted(raised)


def test_the_reports_chart_the_pass_rate_over_weeks(web_live, db, open_page, street_jpeg, screenshot):
    keys = {camera: web_live.camera_key(camera) for camera in ("cam-a", "cam-b")}
    today = datetime.now(CITY_TZ).date()
    # Six weeks back to this one: the main road fails more standards in the early weeks, then improves.
    for weeks_back, confirmed in ((5, 3), (4, 3), (3, 2), (2, 2), (1, 1), (0, 1)):
        monday = today - timedelta(days=7 * weeks_back + 5)
        for offset in range(3):
            day = monday + timedelta(days=offset)
            raised = post_day(web_live, keys, street_jpeg, "cam-a", day, violations=offset == 0)
            post_day(web_live, keys, street_jpeg, "cam-b", day, violations=False)
            codes_done: set[str] = set()
            for incident_id in raised:
                detail = web_live.http.get(f"/v1/incidents/{incident_id}", headers=web_live.admin).json()
                if detail["code"] not in codes_done and len(codes_done) < confirmed:
                    codes_done.add(detail["code"])
                    assert web_live.act(web_live.admin, incident_id, "confirm").status_code == 200
                    if weeks_back >= 3:  # the older ones went to their departments
                        assert web_live.act(web_live.admin, incident_id, "dispatch").status_code == 200
                elif detail["case_status"] == "new":
                    assert web_live.act(web_live.admin, incident_id, "reject",
                                        json={"reason": "duplicate"}).status_code == 200

    web_live.add_user("sam", "supervisor")
    page = open_page("sam")
    page.goto("/reports")
    trend = page.request.get("/v1/web/trend?weeks=8").json()
    assert [w["last_day"] for w in trend][-1] == today.isoformat()
    overall = [w["overall"]["pass_rate"] for w in trend]
    assert overall[:2] == [None, None] and all(r is not None for r in overall[2:])
    assert overall[2] < overall[-1]  # it improved
    series = page.locator("#chart-trend g[data-series='总体'] circle")
    expect(series).to_have_count(6)
    assert series.evaluate_all("cs => cs.map(c => Number(c.dataset.rate))") == pytest.approx(overall[2:])
    expect(page.locator("#chart-trend g[data-series='主次干道'] circle")).to_have_count(6)

    week = page.request.get("/v1/reports/pass-rate").json()
    expect(page.locator("#overall-rate")).to_have_text(f"{week['overall']['pass_rate'] * 100:.1f}%")
    for group in week["by_department"]:
        expect(page.locator(f"#chart-department g[data-name='{group['name']}']")).to_contain_text(
            f"({group['passed']}/{group['observations']})")
    with db() as session:
        confirmed = dict(session.execute(select(Incident.code, func.count()).where(
            Incident.review_outcome == "confirmed").group_by(Incident.code)).all())
    assert confirmed
    for code, count in confirmed.items():
        expect(page.locator(f"#precision-table tr[data-code='{code}'] td").nth(2)).to_have_text(str(count))
    screenshot(page, "reports")

    # The cases page over the same history: an overdue case leads its department.
    with db() as session:
        dispatched = session.scalars(select(Incident.id).where(Incident.case_status == "dispatched")
                                     .order_by(Incident.id)).all()
    web_live.set_incident(dispatched[0], deadline_at=datetime.now(CITY_TZ) - timedelta(hours=3))
    page.goto("/cases")
    late = page.locator(f'tr[data-id="{dispatched[0]}"]')
    expect(late.locator(".badge.overdue")).to_be_visible()
    expect(page.locator("section.department").first.locator("h2")).to_contain_text("超期 1")
    late.get_by_text("历史").click()
    expect(late.locator(".history")).to_contain_text("admin 派遣")
    assert page.locator("tbody tr").first.get_attribute("data-id") == str(dispatched[0])  # overdue first
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, "cases")
