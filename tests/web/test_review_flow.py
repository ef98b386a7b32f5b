"""An operator's and a supervisor's shift in a real browser: three violations reviewed with the keys
(confirm, reject with a reason, correct the code), one dispatched from the cases page, and the
reports showing it — each step checked on the page and in the database."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import cv2
import numpy as np
import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from serve.models import AuditEntry, Incident


def queue_ids(page) -> list[int]:
    return [int(i) for i in page.locator(".queue-item").evaluate_all("items => items.map(i => i.dataset.id)")]


def frame_loaded(page) -> None:
    """Waits for the evidence frame's pixels: until then the frame, and the overlay drawn on it, has no size."""
    page.wait_for_function("() => { const img = document.getElementById('frame-img'); "
                           "return img.complete && img.naturalWidth > 0; }")


def gone_from_queue(page, incident_id: int) -> None:
    expect(page.locator(f'.queue-item[data-id="{incident_id}"]')).to_have_count(0)


def test_review_three_with_the_keyboard_dispatch_one_and_see_the_report_change(web_live, db, open_page, post_frames,
                                                                                screenshot, rulebook):
    incidents = post_frames("cam-a")
    violations = [i for i in incidents if i["status"] == "violation"]
    assert len(violations) >= 4
    web_live.add_user("olga", "operator")
    web_live.add_user("sam", "supervisor")

    # The supervisor's reports before anyone reviewed: every observation passes, no cases.
    supervisor = open_page("sam")
    supervisor.goto("/reports")
    expect(supervisor.locator("#overall-rate")).to_have_text("100.0%")
    expect(supervisor.locator("#backlog-table tbody")).to_contain_text("暂无数据")
    expect(supervisor.locator("#awaiting-review")).to_have_text(str(len(violations)))

    operator = open_page("olga")
    expect(operator.get_by_role("navigation")).to_contain_text("审核队列")
    expect(operator.locator("#queue-count")).to_have_text(f"{len(violations)} 条待审")
    expect(operator.locator("#live-status")).to_have_text("实时更新中")
    ids = queue_ids(operator)
    assert ids == sorted((v["id"] for v in violations), reverse=True)  # newest first
    first, second, third = ids[:3]
    with db() as session:
        codes = {i.id: i.code for i in session.scalars(select(Incident).where(Incident.id.in_(ids[:4])))}
    rule = rulebook.rules[codes[first]]
    expect(operator.locator("#d-code")).to_have_text(codes[first])
    expect(operator.locator("#d-standard")).to_have_text(rule.standard)
    expect(operator.locator("#d-point")).to_have_text("人民路（中山路至解放路） · 主次干道")
    expect(operator.locator("#frame-img")).to_have_attribute("src", re.compile(r"^/v1/evidence/"))
    frame_loaded(operator)
    screenshot(operator, "review")

    # 1: confirm. The next violation comes up in its place.
    operator.keyboard.press("1")
    gone_from_queue(operator, first)
    expect(operator.locator("#d-code")).to_have_text(codes[second])
    expect(operator.locator('.queue-item[aria-current="true"]')).to_have_attribute("data-id", str(second))

    # 2: reject, with a reason picked by arrow key, submitted with Enter.
    operator.keyboard.press("2")
    expect(operator.locator("#reject-form")).to_be_visible()
    operator.keyboard.press("ArrowDown")
    expect(operator.locator('#reject-form input[value="exempt_location"]')).to_be_checked()
    screenshot(operator, "review-reject")
    operator.keyboard.press("Enter")
    gone_from_queue(operator, second)
    expect(operator.locator("#reject-form")).to_be_hidden()

    # 3: correct the code: another code from the list, submitted with Enter.
    operator.keyboard.press("3")
    expect(operator.locator("#correct-form")).to_be_visible()
    expect(operator.locator("#correct-code")).to_be_focused()
    operator.keyboard.press("ArrowDown")
    corrected = operator.locator("#correct-code").input_value()
    assert corrected != codes[third] and corrected in rulebook.rules
    operator.keyboard.press("Enter")
    gone_from_queue(operator, third)
    expect(operator.locator("#queue-count")).to_have_text(f"{len(violations) - 3} 条待审")
    expect(operator.locator("#d-code")).to_have_text(codes[ids[3]])

    with db() as session:
        reviewed = {i.id: i for i in session.scalars(select(Incident).where(Incident.id.in_([first, second, third])))}
        audit = session.execute(select(AuditEntry.incident_id, AuditEntry.actor, AuditEntry.action)
                                .where(AuditEntry.incident_id.is_not(None)).order_by(AuditEntry.id)).all()
        untouched = session.get(Incident, ids[3])
    assert (reviewed[first].case_status, reviewed[first].review_outcome, reviewed[first].reviewed_by) == (
        "confirmed", "confirmed", "olga")
    assert (reviewed[second].case_status, reviewed[second].reject_reason) == ("rejected", "exempt_location")
    assert (reviewed[third].case_status, reviewed[third].review_outcome, reviewed[third].corrected_code) == (
        "confirmed", "corrected", corrected)
    assert [tuple(a) for a in audit] == [(first, "olga", "confirm"), (second, "olga", "reject"),
                                         (third, "olga", "correct")]
    assert untouched.case_status == "new"

    # The supervisor dispatches the confirmed one from the cases page, to the rule's department.
    supervisor.goto("/cases")
    row = supervisor.locator(f'tr[data-id="{first}"]')
    expect(row).to_contain_text("待派遣")
    expect(supervisor.locator(f'section[data-department="{rule.department}"]')).to_contain_text(f"#{first}")
    row.get_by_role("button", name="派遣").click()
    dialog = supervisor.locator("#case-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_label("派遣至")).to_have_value(rule.department)
    dialog.get_by_label("备注").fill("请于时限内清理")
    dialog.get_by_role("button", name="提交").click()
    expect(dialog).to_be_hidden()
    expect(row).to_contain_text("处置中")
    expect(row).to_contain_text("剩余")
    row.get_by_text("历史").click()
    expect(row.locator(".history")).to_contain_text("olga 确认")
    expect(row.locator(".history")).to_contain_text(f"sam 派遣 → {rule.department}：请于时限内清理")

    with db() as session:
        case = session.get(Incident, first)
    assert (case.case_status, case.dispatched_to) == ("dispatched", rule.department)
    assert case.deadline_at - case.dispatched_at == timedelta(hours=rule.disposal_limit_h)

    # The reports now show the failed standard and the department's open case.
    supervisor.goto("/reports")
    api = supervisor.request.get("/v1/reports/pass-rate").json()
    assert api["overall"]["pass_rate"] < 1 and api["overall"]["failed"] >= 1
    expect(supervisor.locator("#overall-rate")).to_have_text(f"{api['overall']['pass_rate'] * 100:.1f}%")
    department_row = supervisor.locator(f'#backlog-table tr[data-department="{rule.department}"]')
    expect(department_row.locator("td").nth(1)).to_have_text("1")  # open
    expect(supervisor.locator("#awaiting-review")).to_have_text(str(len(violations) - 3))
    expect(supervisor.locator("#chart-type g[data-name='主次干道']")).to_have_attribute(
        "data-rate", str(next(g["pass_rate"] for g in api["by_point_type"] if g["name"] == "主次干道")))
    expect(supervisor.locator("#chart-trend g[data-series='总体'] circle")).not_to_have_count(0)

    # The weekly report: printable, with the failing point, and its CSV.
    supervisor.locator("#weekly-link").click()
    supervisor.wait_for_url("**/reports/weekly**")
    expect(supervisor.locator("#weekly-problems")).to_contain_text("人民路（中山路至解放路）")
    expect(supervisor.locator("#weekly-cases")).to_contain_text(rule.department)
    screenshot(supervisor, "weekly-report")
    supervisor.emulate_media(media="print")  # printed: the report alone
    expect(supervisor.locator(".topbar")).to_be_hidden()
    expect(supervisor.locator(".print-bar")).to_be_hidden()
    expect(supervisor.locator("#weekly-title")).to_be_visible()
    supervisor.emulate_media(media="screen")
    csv = supervisor.request.get(supervisor.get_by_role("link", name="下载 CSV").get_attribute("href"))
    assert csv.ok and csv.headers["content-type"].startswith("text/csv")
    assert "人民路（中山路至解放路）" in csv.text() and csv.text().startswith("\ufeffpoint_id,")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_drag_a_corrected_box_on_the_frame(web_live, db, open_page, post_frames):
    post_frames("cam-a")
    web_live.add_user("olga", "operator")
    page = open_page("olga")
    expect(page.locator("#d-code")).not_to_be_empty()  # the queue has come up
    target = queue_ids(page)[0]
    page.get_by_role("button", name="更正").click()
    frame_loaded(page)
    frame = page.locator("#frame-overlay").bounding_box()
    page.mouse.move(frame["x"] + frame["width"] * 0.2, frame["y"] + frame["height"] * 0.3)
    page.mouse.down()
    page.mouse.move(frame["x"] + frame["width"] * 0.5, frame["y"] + frame["height"] * 0.6, steps=5)
    page.mouse.up()
    expect(page.locator("#draw-box")).to_have_attribute("visibility", "visible")
    page.get_by_role("button", name="提交").click()
    gone_from_queue(page, target)
    with db() as session:
        incident = session.get(Incident, target)
    assert incident.review_outcome == "corrected" and incident.corrected_code is None
    assert incident.corrected_box == pytest.approx([0.2, 0.3, 0.5, 0.6], abs=0.01)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_queue_orders_and_filters(web_live, open_page, post_frames):
    incidents = post_frames("cam-a")
    violations = sorted(i["id"] for i in incidents if i["status"] == "violation")
    web_live.add_user("olga", "operator")
    page = open_page("olga")
    expect(page.locator(".queue-item").first).to_have_attribute("data-id", str(violations[-1]))
    page.get_by_label("排序").select_option("oldest")
    expect(page.locator(".queue-item").first).to_have_attribute("data-id", str(violations[0]))
    assert queue_ids(page) == violations
    expect(page.locator('.queue-item[aria-current="true"]')).to_have_attribute("data-id", str(violations[0]))
    page.get_by_label("事件类型", exact=True).select_option("0201")
    posters = sorted(i["id"] for i in incidents if i["status"] == "violation" and i["code"] == "0201")
    expect(page.locator("#queue-count")).to_have_text(f"{len(posters)} 条待审")
    assert queue_ids(page) == posters
    page.get_by_label("点位类型").select_option("背街小巷")  # no camera of that type has seen anything
    expect(page.locator("#queue-empty")).to_be_visible()
    expect(page.locator(".queue-item")).to_have_count(0)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_supervisor_takes_a_case_from_dispatch_to_closed_and_reopens_it(web_live, db, open_page, post_frames,
                                                                          rulebook):
    incidents = post_frames("cam-a")
    case_id, late_id = [i["id"] for i in incidents if i["status"] == "violation"][:2]
    for incident_id in (case_id, late_id):
        assert web_live.act(web_live.admin, incident_id, "confirm").status_code == 200
    assert web_live.act(web_live.admin, late_id, "dispatch").status_code == 200
    web_live.set_incident(late_id, deadline_at=datetime.now(UTC) - timedelta(hours=1))
    web_live.add_user("sam", "supervisor")
    page = open_page("sam")
    page.goto("/cases")
    dialog = page.locator("#case-dialog")

    def act(button: str, fill: dict[str, str] | None = None, select: dict[str, str] | None = None) -> None:
        page.locator(f'tr[data-id="{case_id}"]').get_by_role("button", name=button).click()
        for label, value in (fill or {}).items():
            dialog.get_by_label(label).fill(value)
        for label, value in (select or {}).items():
            dialog.get_by_label(label).select_option(value)
        dialog.get_by_role("button", name="提交").click()
        expect(dialog).to_be_hidden()

    late = page.locator(f'tr[data-id="{late_id}"]')
    expect(late.locator(".badge.overdue")).to_have_text("超期")
    expect(late).to_contain_text("已超期")
    page.get_by_label("仅看超期").check()
    expect(page.locator("tbody tr")).to_have_count(1)
    page.get_by_label("仅看超期").uncheck()

    act("派遣", select={"派遣至": "区环卫所"})
    row = page.locator(f'tr[data-id="{case_id}"]')
    expect(page.locator('section[data-department="区环卫所"]')).to_contain_text(f"#{case_id}")
    photo = cv2.imencode(".jpg", np.full((48, 64, 3), 200, np.uint8))[1].tobytes()
    dialog_photo = {"name": "after.jpg", "mimeType": "image/jpeg", "buffer": photo}
    page.locator(f'tr[data-id="{case_id}"]').get_by_role("button", name="登记反馈").click()
    dialog.get_by_label("处置情况").fill("已清理")
    dialog.get_by_label("处置后照片").set_input_files(dialog_photo)
    dialog.get_by_role("button", name="提交").click()
    expect(dialog).to_be_hidden()
    expect(row).to_contain_text("已反馈")
    row.get_by_text("历史").click()
    link = row.get_by_role("link", name="处置后照片")
    expect(link).to_be_visible()
    assert page.request.get(link.get_attribute("href")).body() == photo
    with db() as session:
        assert session.get(Incident, case_id).resolution_note == "已清理"
    act("结案", select={"核查方式": "inspection"})
    expect(row).to_have_count(0)  # closed cases are hidden unless asked for
    page.get_by_label("显示已结案").check()
    expect(row).to_contain_text("已结案")
    act("重新派遣", fill={"重新派遣原因": "复查仍有小广告"})
    expect(row).to_contain_text("处置中")

    with db() as session:
        case = session.get(Incident, case_id)
        actions = session.scalars(select(AuditEntry.action).where(AuditEntry.incident_id == case_id)
                                  .order_by(AuditEntry.id)).all()
    assert (case.case_status, case.dispatched_to, case.closed_at, case.resolution_note) == (
        "dispatched", "区环卫所", None, None)
    assert actions == ["confirm", "dispatch", "resolve", "close", "reopen"]
