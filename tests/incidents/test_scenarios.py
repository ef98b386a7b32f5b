"""From frames over time to incidents: one record per real event, in SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from serve.incidents import Change
from serve.models import IncidentStatus

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))  # a Monday
CAR = ("car", [350, 600, 550, 700])  # standing in the no-parking zone
CAR_IN_BAY = ("car", [50, 800, 250, 950])
STALL = [("umbrella", [420, 500, 560, 600]), ("table", [440, 600, 540, 680]), ("chair", [545, 620, 590, 680])]


def seconds(s: float) -> timedelta:
    return timedelta(seconds=s)


def test_car_parked_ten_minutes_is_one_incident_that_turns_into_a_violation_at_dwell(street, rulebook, scenario_city):
    rule = rulebook.rules["0505"]
    results = street.every(15, 41, T0, CAR)  # ten minutes, a frame every 15 s

    [incident] = street.incidents()
    assert (incident.code, incident.point_id, incident.zone_id) == ("0505", "P-ROAD", "no-parking")
    assert incident.department == rule.department
    assert incident.point_department == scenario_city.point("P-ROAD").department
    assert incident.status == IncidentStatus.VIOLATION
    assert incident.violation_at == T0 + seconds(rule.dwell_s)
    assert (incident.first_seen, incident.last_seen) == (T0, T0 + seconds(600))
    assert (incident.hits, incident.misses) == (41, 0)
    assert (incident.rulebook_version, incident.cameras_version) == (rulebook.content_version, scenario_city.content_version)
    assert len(incident.rulebook_version) == 64 and incident.model_version == "test-model-v1"

    changes = [r.changes[0] for r in results]
    assert changes[0].change == Change.OPENED and changes[0].status == IncidentStatus.PREWARNING
    escalated_at = int(rule.dwell_s // 15)
    assert all(c.status == IncidentStatus.PREWARNING for c in changes[:escalated_at])
    assert changes[escalated_at].change == Change.ESCALATED
    assert all(c.incident_id == incident.id for c in changes)


def test_the_same_car_in_a_parking_bay_raises_nothing(street):
    street.every(15, 41, T0, CAR_IN_BAY)
    assert street.incidents() == []


def test_a_car_passing_through_is_a_dismissed_prewarning(street, rulebook):
    street.every(15, 2, T0, CAR)
    clear_after = rulebook.rules["0505"].clear_after_s
    results = street.every(15, int(clear_after // 15) + 1, T0 + seconds(30))  # empty street afterwards

    [incident] = street.incidents()
    assert incident.status == IncidentStatus.DISMISSED
    assert incident.violation_at is None
    assert incident.ended_at == T0 + seconds(15 + clear_after)
    assert [c.change for r in results for c in r.changes] == [Change.DISMISSED]


def test_two_cars_side_by_side_are_two_incidents_and_the_one_that_leaves_clears(street, rulebook):
    left, right = ("car", [100, 600, 280, 700]), ("car", [300, 600, 480, 700])
    street.every(15, 25, T0, left, right)  # 6 minutes: both violations
    clear_after = rulebook.rules["0505"].clear_after_s
    street.every(15, int(clear_after // 15) + 2, T0 + seconds(375), left)  # the right one has left

    stayed, left_ = street.incidents()
    assert stayed.status == IncidentStatus.VIOLATION and stayed.x1 == pytest.approx(0.1)
    assert left_.status == IncidentStatus.CLEARED
    assert left_.ended_at - left_.last_seen == seconds(clear_after)


def test_a_persisting_fly_poster_is_one_violation_despite_jittery_boxes(street, rulebook):
    rule = rulebook.rules["0201"]
    for i in range(int(rule.dwell_s // 60) + 3):
        jitter = (-4, 3, 5, -2)[i % 4]  # a small box: IoU would swing, the centre stays put
        street.frame(T0 + seconds(60 * i), ("fly_poster", [700 + jitter, 200 - jitter, 740 + jitter, 262]))

    [incident] = street.incidents()
    assert (incident.code, incident.zone_id, incident.status) == ("0201", "wall", IncidentStatus.VIOLATION)


def test_garbage_at_the_bin_is_bin_overflow_and_on_the_pavement_exposed_garbage(street, rulebook):
    at_bin, on_pavement = ("garbage", [860, 600, 940, 660]), ("garbage", [650, 800, 700, 840])
    minutes = int(max(rulebook.rules["BIN_OVERFLOW"].dwell_s, rulebook.rules["0102"].dwell_s) // 60) + 1
    street.every(60, minutes, T0, at_bin, on_pavement)

    by_code = {i.code: i for i in street.incidents()}
    assert sorted(by_code) == ["0102", "BIN_OVERFLOW"]
    assert by_code["BIN_OVERFLOW"].zone_id == "bins" and by_code["0102"].zone_id == "sidewalk"
    assert all(i.status == IncidentStatus.VIOLATION for i in by_code.values())


def test_a_stall_outside_its_allowed_hours_is_a_violation_and_inside_them_nothing(street, rulebook):
    street.camera = "cam-market"  # stalls are allowed in its lane 06:00–09:00
    minutes = int(rulebook.rules["0501"].dwell_s // 60) + 2
    street.every(60, minutes, T0.replace(hour=7), *STALL)
    assert street.incidents() == []

    street.every(60, minutes, T0.replace(hour=10), *STALL)
    [incident] = street.incidents()
    assert (incident.code, incident.point_id, incident.status) == ("0501", "P-MARKET", IncidentStatus.VIOLATION)


def test_a_flickering_detector_still_gives_one_incident(street, rulebook):
    for i in range(41):
        street.frame(T0 + seconds(15 * i), *([] if i % 3 == 2 else [CAR]))  # misses 1 frame in 3

    [incident] = street.incidents()
    assert incident.status == IncidentStatus.VIOLATION
    assert (incident.hits, incident.misses) == (28, 13)


def test_a_repeated_frame_changes_nothing(street):
    first = street.frame(T0, CAR, frame_id="cam-street-000001")
    again = street.frame(T0, CAR, frame_id="cam-street-000001")
    assert not first.duplicate and again.duplicate
    assert again.frame_pk == first.frame_pk and again.changes == ()
    [incident] = street.incidents()
    assert incident.hits == 1


def test_a_late_frame_counts_its_sighting_but_no_miss(street):
    street.frame(T0, CAR)
    street.frame(T0 + seconds(30), CAR)
    street.frame(T0 + seconds(15), CAR)  # arrives after the 30 s frame
    street.frame(T0 - seconds(10))  # older than every sighting, shows nothing
    [incident] = street.incidents()
    assert (incident.hits, incident.misses) == (3, 0)
    assert (incident.first_seen, incident.last_seen) == (T0, T0 + seconds(30))


def test_a_late_frame_does_not_reopen_what_has_cleared(street, rulebook):
    clear_after = rulebook.rules["0505"].clear_after_s
    street.every(15, 2, T0, CAR)
    street.frame(T0 + seconds(15 + clear_after))  # dismissed
    street.frame(T0 + seconds(20), CAR)  # held up somewhere, arrives now
    [incident] = street.incidents()
    assert (incident.status, incident.hits) == (IncidentStatus.DISMISSED, 2)


def test_frame_time_far_from_ours_is_refused_and_stores_nothing(street, scenario_city):
    from serve.incidents import FrameIn, FrameTimeError

    skew = scenario_city.camera("cam-street").max_clock_skew_s
    frame = FrameIn("cam-street", "f-skewed", T0, [], "test-model-v1")
    with pytest.raises(FrameTimeError, match="allows"):
        street.book.record_frame(frame, received_at=T0 + seconds(skew + 1))
    assert street.book.record_frame(frame, received_at=T0 + seconds(skew - 1)).duplicate is False
