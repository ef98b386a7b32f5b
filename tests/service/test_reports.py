"""Reports over real HTTP: the pass-rate score sheet (JSON and CSV) and the backlog, checked against
what was posted and reviewed."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

CITY_TZ = ZoneInfo("Asia/Shanghai")  # tests/service/city.yaml
GARBAGE, POSTING = "垃圾清运及时、分类收集，无积存垃圾", "无乱张贴乱涂写乱刻画现象"
TRADE, PARKING = "无占道经营现象", "机动车、非机动车有序规范停放、不占用绿化带、不影响行人通行"


def ids_of(incidents: list[dict], code: str, status: str = "violation") -> list[int]:
    return [i["id"] for i in incidents if i["code"] == code and i["status"] == status]


def local_days(first: date, last: date) -> list[str]:
    return [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]


def test_pass_rate_sheet_fails_a_point_where_a_confirmed_violation_was_open(live, escalate):
    a_incidents, a_times = escalate("cam-a")
    b_incidents, b_times = escalate("cam-b")
    supervisor = live.add_user("sam", "supervisor")
    poster_a = ids_of(a_incidents, "0201")[0]
    assert live.act(supervisor, poster_a, "confirm").status_code == 200  # P-MAIN fails 无乱张贴
    stall_a = ids_of(a_incidents, "0501")[0]
    assert live.act(supervisor, stall_a, "reject", json={"reason": "exempt_location"}).status_code == 200
    poster_b, false_b = ids_of(b_incidents, "0201")[:2]
    corrected = live.act(supervisor, poster_b, "correct", json={"code": "0505"})  # a car, not a poster: parking fails
    assert corrected.status_code == 200
    assert live.act(supervisor, false_b, "reject", json={"reason": "false_detection"}).status_code == 200
    # cam-b's stall (0501) stays unreviewed: an unconfirmed violation fails nothing.

    today = a_times[-1].astimezone(CITY_TZ).date()
    response = live.http.get("/v1/reports/pass-rate", headers=supervisor,
                             params={"from": today.isoformat(), "to": today.isoformat()})
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["first_day"], report["last_day"], report["timezone"]) == (today.isoformat(), today.isoformat(),
                                                                             "Asia/Shanghai")
    sheet = {(r["point_id"], r["standard"]): r for r in report["sheet"]}
    assert set(sheet) == {(p, s) for p in ("P-MAIN", "P-LANE") for s in (GARBAGE, POSTING, TRADE, PARKING)}
    assert sheet[("P-MAIN", PARKING)]["codes"] == ["0505", "0506"] and sheet[("P-MAIN", TRADE)]["codes"] == ["0501"]
    failed = {key for key, row in sheet.items() if row["failed"]}
    assert failed == {("P-MAIN", POSTING), ("P-LANE", PARKING)}
    for key, row in sheet.items():
        assert (row["observations"], row["passed"] + row["failed"]) == (1, 1), key
        assert row["failed_days"] == ([today.isoformat()] if key in failed else [])
    main = sheet[("P-MAIN", POSTING)]
    assert (main["point_name"], main["point_type"], main["department"], main["district"], main["keeper"]) == (
        "测试主干道", "主次干道", "测试区城管执法中队", "测试区", "路长 张三")

    assert report["overall"] == {"name": "all", "points": 2, "observations": 8, "passed": 6, "failed": 2,
                                 "pass_rate": 0.75}
    expected = {"points": 1, "observations": 4, "passed": 3, "failed": 1, "pass_rate": 0.75}
    assert {g["name"]: {k: v for k, v in g.items() if k != "name"} for g in report["by_point_type"]} == {
        "主次干道": expected, "背街小巷": expected}
    assert {g["name"] for g in report["by_department"]} == {"测试区城管执法中队", "测试街道办事处"}
    assert [(g["name"], g["observations"], g["passed"]) for g in report["by_district"]] == [("测试区", 8, 6)]

    # Over several days only the days the cameras sent frames are observations.
    first = today - timedelta(days=2)
    week = live.http.get("/v1/reports/pass-rate", headers=supervisor,
                         params={"from": first.isoformat(), "to": today.isoformat()}).json()
    frame_days = {t.astimezone(CITY_TZ).date().isoformat() for t in a_times + b_times}
    violation_at = datetime.fromisoformat(live.http.get(f"/v1/incidents/{poster_a}", headers=supervisor)
                                          .json()["violation_at"]).astimezone(CITY_TZ).date()
    for row in week["sheet"]:
        assert row["observations"] == len(frame_days)
    assert next(r for r in week["sheet"] if (r["point_id"], r["standard"]) == ("P-MAIN", POSTING))[
        "failed_days"] == local_days(violation_at, today)
    ages = live.http.get("/v1/reports/pass-rate", headers=supervisor,
                         params={"from": "0001-01-01", "to": "9999-12-31"}).json()
    assert [(r["observations"], r["failed_days"]) for r in ages["sheet"]] == [
        (r["observations"], r["failed_days"]) for r in week["sheet"]], "days without frames are no observations"
    ahead = live.http.get("/v1/reports/pass-rate", headers=supervisor, params={
        "from": (today + timedelta(days=1)).isoformat(), "to": (today + timedelta(days=3)).isoformat()}).json()
    assert ahead["overall"]["observations"] == 0 and ahead["overall"]["pass_rate"] is None

    as_csv = live.http.get("/v1/reports/pass-rate", headers=supervisor,
                           params={"from": today.isoformat(), "to": today.isoformat(), "format": "csv"})
    assert as_csv.status_code == 200 and as_csv.headers["content-type"].startswith("text/csv")
    assert "attachment" in as_csv.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(as_csv.content.decode("utf-8-sig"))))
    assert len(rows) == len(report["sheet"])
    for row, json_row in zip(rows, report["sheet"]):
        assert (row["point_id"], row["standard"], int(row["observations"]), int(row["failed"])) == (
            json_row["point_id"], json_row["standard"], json_row["observations"], json_row["failed"])
        assert float(row["pass_rate"]) == json_row["pass_rate"]
        assert row["failed_days"] == " ".join(json_row["failed_days"])


def test_backlog_per_department_and_review_precision(live, escalate):
    incidents, _ = escalate("cam-a")
    supervisor = live.add_user("sam", "supervisor")
    posters, stall = ids_of(incidents, "0201"), ids_of(incidents, "0501")[0]
    for incident_id in (*posters[:3], stall):
        assert live.act(supervisor, incident_id, "confirm").status_code == 200
    assert live.act(supervisor, posters[3], "correct", json={"code": "0102"}).status_code == 200
    for incident_id in posters[4:6]:
        assert live.act(supervisor, incident_id, "reject", json={"reason": "false_detection"}).status_code == 200
    for incident_id in (posters[0], posters[1], posters[3], stall):
        assert live.act(supervisor, incident_id, "dispatch").status_code == 200
    live.set_incident(posters[0], deadline_at=datetime.now(UTC) - timedelta(hours=1))
    resolved_at = datetime.fromisoformat(live.act(supervisor, stall, "resolve", json={"note": "已劝离"})
                                         .json()["case"]["resolved_at"])
    live.set_incident(stall, dispatched_at=resolved_at - timedelta(minutes=90))
    assert live.act(supervisor, stall, "close", json={"verification": "inspection"}).status_code == 200

    response = live.http.get("/v1/reports/backlog", headers=supervisor)
    assert response.status_code == 200, response.text
    backlog = response.json()
    violations = len([i for i in incidents if i["status"] == "violation"])
    assert (backlog["awaiting_review"], backlog["awaiting_dispatch"]) == (violations - 7, 1)
    assert backlog["departments"] == [
        {"department": "城管执法中队", "open": 2, "overdue": 1, "dispatched": 3, "resolved": 1, "mean_disposal_h": 1.5},
        {"department": "区环卫所", "open": 1, "overdue": 0, "dispatched": 1, "resolved": 0, "mean_disposal_h": None},
    ]
    assert backlog["review_by_code"] == [
        {"key": "0201", "reviewed": 6, "confirmed": 3, "corrected": 1, "rejected": 2, "precision": 0.6667},
        {"key": "0501", "reviewed": 1, "confirmed": 1, "corrected": 0, "rejected": 0, "precision": 1.0},
    ]
    (model,) = backlog["review_by_model"]
    assert (model["key"], model["reviewed"], model["precision"]) == (_model_version(live, stall), 7, 0.7143)


def _model_version(live, incident_id: int) -> str:
    return live.http.get(f"/v1/incidents/{incident_id}", headers=live.admin).json()["model_version"]


def test_reports_are_for_supervisors_and_check_their_parameters(live):
    operator = live.add_user("olga", "operator")
    for path in ("/v1/reports/pass-rate", "/v1/reports/backlog"):
        assert live.http.get(path).status_code == 401
        response = live.http.get(path, headers=operator)
        assert (response.status_code, response.json()["code"]) == (403, "forbidden_role")
        assert live.http.get(path, headers=live.admin).status_code == 200
    for params in ({"from": "last week"}, {"to": "1732320000"}, {"format": "xlsx"}):
        response = live.http.get("/v1/reports/pass-rate", headers=live.admin, params=params)
        assert (response.status_code, response.json()["code"]) == (422, "invalid_request"), response.text
    reversed_range = live.http.get("/v1/reports/pass-rate", headers=live.admin,
                                   params={"from": "2026-11-20", "to": "2026-11-19"}).json()
    assert reversed_range["overall"]["observations"] == 0 and reversed_range["sheet"]
