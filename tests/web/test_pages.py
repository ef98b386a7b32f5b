"""The pages people see by role, the cameras page, live updates and the language switch, in a real
browser against a real server (SQLite: the page logic does not depend on the database)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select

from serve.models import Incident

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def test_login_leads_to_the_review_queue_and_refuses_a_wrong_password(web_live, browser, screenshot):
    context = browser.new_context(base_url=web_live.base_url, viewport={"width": 1280, "height": 800})
    try:
        page = context.new_page()
        page.goto("/reports/weekly?to=2026-01-04")  # after logging in, back to this very page
        page.wait_for_url("**/login?next=%2Freports%2Fweekly%3Fto%3D2026-01-04")
        screenshot(page, "login")
        page.get_by_label("用户名").fill("admin")
        page.get_by_label("密码").fill("wrong-password")
        page.get_by_role("button", name="登录").click()
        expect(page.get_by_role("alert")).to_have_text("用户名或密码错误")
        page.get_by_label("密码").fill(web_live.settings.admin_password)
        page.keyboard.press("Enter")
        page.wait_for_url("**/reports/weekly?to=2026-01-04")
        expect(page.locator(".weekly .period")).to_contain_text("2025-12-29 — 2026-01-04")
        page.get_by_role("button", name="退出").click()
        page.wait_for_url("**/login")
        page.goto("/")
        page.wait_for_url("**/login")
    finally:
        context.close()


def test_an_operator_sees_no_supervisor_or_admin_pages(web_live, open_page):
    web_live.add_user("olga", "operator")
    page = open_page("olga")
    nav = page.get_by_role("navigation", name="主导航")
    expect(nav.get_by_role("link")).to_have_text(["审核队列", "案件办理"])
    expect(page.get_by_text("olga · 座席员")).to_be_visible()
    for path in ("/cameras", "/reports", "/reports/weekly"):
        response = page.goto(path)
        assert response.status == 403
        expect(page.get_by_role("heading", name="无权访问")).to_be_visible()
    assert page.request.get("/v1/web/cameras").status == 403
    assert page.request.get("/v1/web/trend").status == 403
    assert page.request.get("/v1/reports/backlog").status == 403
    # Cases are shown to operators, without the supervisors' actions.
    page.goto("/cases")
    expect(page.get_by_role("heading", name="案件办理")).to_be_visible()
    expect(page.locator("button[data-action]")).to_have_count(0)


def test_an_admin_sees_each_cameras_latest_frame_with_its_zones(web_live, open_page, post_frames, screenshot):
    post_frames("cam-a")
    post_frames("cam-b")
    page = open_page("admin", web_live.settings.admin_password)
    expect(page.get_by_role("navigation", name="主导航").get_by_role("link")).to_have_text(
        ["审核队列", "案件办理", "测评报表", "摄像头与点位"])
    page.get_by_role("link", name="摄像头与点位").click()
    page.wait_for_url("**/cameras")
    for camera, zones in (("cam-a", ["a-wall", "a-sidewalk"]), ("cam-b", ["b-wall", "b-no-parking", "b-bike-bay"])):
        card = page.locator(f'article[data-camera="{camera}"]')
        expect(card.locator("polygon")).to_have_count(len(zones))
        assert card.locator("polygon").evaluate_all("ps => ps.map(p => p.dataset.zone)") == zones
        expect(card).to_contain_text(f"{camera}-7")  # the latest frame the camera sent
        card.locator("img").evaluate("img => img.decode()")
        assert card.locator("img").evaluate("img => img.naturalWidth") > 0
    expect(page.locator('article[data-camera="cam-b"]')).to_contain_text("b-no-parking 禁停区")
    screenshot(page, "cameras")


def test_a_new_violation_appears_in_the_queue_without_reloading(web_live, db, open_page, post_frames, screenshot):
    before = post_frames("cam-a")
    web_live.add_user("olga", "operator")
    page = open_page("olga")
    waiting = len([i for i in before if i["status"] == "violation"])
    expect(page.locator("#queue-count")).to_have_text(f"{waiting} 条待审")
    expect(page.locator("#live-status")).to_have_text("实时更新中")
    page.evaluate("window.loadedOnce = true")  # gone if the page reloaded

    arrived = [i["id"] for i in post_frames("cam-b") if i["status"] == "violation"]
    assert arrived
    expect(page.locator("#queue-count")).to_have_text(f"{waiting + len(arrived)} 条待审", timeout=15_000)
    for incident_id in arrived:
        item = page.locator(f'.queue-item[data-id="{incident_id}"]')
        expect(item).to_contain_text("文化巷")
        expect(item.locator(".badge.fresh")).to_have_text("新")
    expect(page.get_by_role("status")).to_contain_text("条新违规")  # announced (as they became violations)
    assert page.evaluate("window.loadedOnce") is True
    screenshot(page, "review-live")
    with db() as session:
        stored = session.scalar(select(func.count()).select_from(Incident).where(
            Incident.id.in_(arrived), Incident.camera_id == "cam-b", Incident.violation_at.is_not(None),
            Incident.case_status == "new"))
    assert stored == len(arrived)

    # Filtering by camera narrows the queue to the new camera's violations.
    page.get_by_label("摄像头").select_option("cam-b")
    expect(page.locator("#queue-count")).to_have_text(f"{len(arrived)} 条待审")
    expect(page.locator('.queue-item[aria-current="true"]')).to_have_attribute("data-id", str(max(arrived)))


def test_the_language_switch_shows_english_and_is_kept(web_live, open_page, post_frames):
    post_frames("cam-a")
    page = open_page("admin", web_live.settings.admin_password)
    expect(page.get_by_role("heading", level=1)).to_contain_text("待审核违规")
    page.get_by_role("button", name="切换语言").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Violations awaiting review")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("#d-status")).to_have_text("violation, ongoing")
    page.goto("/reports")  # kept across pages (a cookie)
    expect(page.get_by_role("heading", level=1)).to_have_text("Reports")
    expect(page.locator("#overall-rate")).to_have_text("100.0%")
    page.get_by_role("button", name="Switch language").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("测评报表")


UNLABELLED = """() => [...document.querySelectorAll('input, select, textarea, button, a[href]')]
  .filter((el) => el.offsetParent !== null)
  .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label') && !el.textContent.trim()
                  && !el.getAttribute('title'))
  .map((el) => el.outerHTML.slice(0, 120))"""

# WCAG contrast of every visible text against the first opaque background behind it.
LOW_CONTRAST = """() => {
  const rgb = (s) => (s.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => [r, g, b].map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; })
    .reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
  const background = (el) => {
    for (let node = el; node; node = node.parentElement) {
      const c = rgb(getComputedStyle(node).backgroundColor);
      if (c.length === 3 || c[3] === 1) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const low = [];
  for (const el of document.querySelectorAll('body *')) {
    if (el.closest('svg') || el.offsetParent === null && getComputedStyle(el).position !== 'fixed') continue;
    const text = [...el.childNodes].filter((n) => n.nodeType === 3).map((n) => n.textContent.trim()).join('');
    if (!text || getComputedStyle(el).opacity === '0') continue;
    const fg = lum(rgb(getComputedStyle(el).color).slice(0, 3)), bg = lum(background(el));
    const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
    if (ratio < 4.5) low.push(`${text.slice(0, 30)}: ${ratio.toFixed(2)}`);
  }
  return low;
}"""


def test_every_control_is_labelled_and_text_is_readable(web_live, open_page, post_frames):
    post_frames("cam-a")
    page = open_page("admin", web_live.settings.admin_password)
    expect(page.locator("#d-code")).not_to_be_empty()
    page.keyboard.press("1")  # one confirmed case for the cases page
    expect(page.get_by_role("status")).to_contain_text("已确认")
    for path in ("/review", "/cases", "/cameras", "/reports", "/reports/weekly"):
        page.goto(path)
        page.wait_for_load_state("load")
        page.wait_for_timeout(300)  # the scripts' first render
        assert page.evaluate(UNLABELLED) == [], path
        assert page.evaluate(LOW_CONTRAST) == [], path
    page.goto("/review")
    expect(page.locator("#d-code")).not_to_be_empty()
    for key, panel in (("2", "#reject-form"), ("3", "#correct-form")):
        page.keyboard.press(key)
        expect(page.locator(panel)).to_be_visible()
        assert page.evaluate(UNLABELLED) == [] and page.evaluate(LOW_CONTRAST) == [], panel
        page.keyboard.press("Escape")
        expect(page.locator(panel)).to_be_hidden()
    # The checks do see trouble: pale grey text on white, an unlabelled field.
    page.evaluate("""() => document.querySelector('.details').append(
        Object.assign(document.createElement('p'), {textContent: '浅灰文字', style: 'color: #bbb'}),
        document.createElement('input'))""")
    assert page.evaluate(LOW_CONTRAST)[0].startswith("浅灰文字")
    assert len(page.evaluate(UNLABELLED)) == 1
