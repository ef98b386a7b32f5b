"""Which detections become which observations: zones, exemptions, composites, schedules."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
import yaml

from cv.config import taxonomy_classes
from cv.detections import Detections
from cv.rulebook import DEFAULT_RULEBOOK, Rulebook
from cv.rules import Observation, RuleEngine
from cv.zones import DEFAULT_CAMERAS, CityConfig

FRAME = (1000, 1000)  # boxes below are pixels of it: the scenario city's coordinates ×1000
SHANGHAI = ZoneInfo("Asia/Shanghai")
MONDAY_10AM = datetime(2026, 3, 2, 10, 0, tzinfo=SHANGHAI)

CAR_IN_NO_PARKING = ("car", [350, 600, 550, 700])
CAR_IN_BAY = ("car", [50, 800, 250, 950])
STALL = [("umbrella", [420, 500, 560, 600]), ("table", [440, 600, 540, 680]), ("chair", [545, 620, 590, 680])]
VENDOR = ("person", [595, 540, 640, 680])


@pytest.fixture(scope="module")
def rule_engine(rulebook, scenario_city) -> RuleEngine:
    return RuleEngine(rulebook, scenario_city)


@pytest.fixture
def evaluate(rule_engine):
    """evaluate(camera, (class, [x1, y1, x2, y2], confidence?), …, at=datetime) → observations."""
    classes = taxonomy_classes()

    def run(camera: str, *objects, at: datetime = MONDAY_10AM) -> list[Observation]:
        records = [{"class": o[0], "box": o[1], "confidence": o[2] if len(o) > 2 else 0.9} for o in objects]
        return rule_engine.evaluate(camera, Detections.from_records(records, classes), FRAME, at)

    return run


def codes(observations) -> list[str]:
    return sorted(o.code for o in observations)


def test_car_standing_in_no_parking_is_observed_with_its_point_and_zone(evaluate):
    [observation] = evaluate("cam-street", CAR_IN_NO_PARKING)
    assert (observation.code, observation.point_id, observation.zone_id) == ("0505", "P-ROAD", "no-parking")
    assert observation.box == pytest.approx((0.35, 0.6, 0.55, 0.7))
    assert observation.evidence == (0,)
    assert observation.score == pytest.approx(0.9)


def test_car_in_parking_bay_inside_no_parking_is_exempt(evaluate):
    assert evaluate("cam-street", CAR_IN_BAY) == []


def test_ground_objects_are_placed_by_bottom_centre_not_by_overlap(evaluate):
    # Mostly above the no-parking area (in the junction), but standing inside it.
    [observation] = evaluate("cam-street", ("car", [100, 320, 300, 520]))
    assert observation.zone_id == "no-parking"
    # Mostly inside the no-parking area, but standing in the junction further up.
    [observation] = evaluate("cam-street", ("car", [100, 480, 300, 490]))
    assert (observation.point_id, observation.zone_id) == ("P-CROSSING", "junction")


def test_detections_below_the_rules_minimum_score_do_not_count(evaluate, rulebook):
    low = rulebook.rules["0505"].min_score - 0.01
    assert evaluate("cam-street", (*CAR_IN_NO_PARKING, low)) == []


def test_fly_poster_counts_by_the_fraction_of_its_box_on_the_wall(evaluate, rulebook):
    on_wall = evaluate("cam-street", ("fly_poster", [700, 200, 740, 260]))
    assert [(o.code, o.zone_id) for o in on_wall] == [("0201", "wall")]
    # Straddles the wall's edge at x=600 with a quarter of its box on the wall.
    assert rulebook.rules["0201"].min_overlap > 0.25
    assert evaluate("cam-street", ("fly_poster", [570, 200, 610, 260])) == []
    # A legal shop sign on the same wall is no violation.
    assert evaluate("cam-street", ("shop_sign", [700, 200, 900, 260])) == []


def test_garbage_at_a_bin_is_bin_overflow_and_on_the_pavement_exposed_garbage(evaluate):
    at_bin = evaluate("cam-street", ("garbage", [860, 600, 940, 660]))
    assert [(o.code, o.zone_id) for o in at_bin] == [("BIN_OVERFLOW", "bins")]
    on_pavement = evaluate("cam-street", ("garbage", [650, 800, 700, 840]))
    assert [(o.code, o.zone_id) for o in on_pavement] == [("0102", "sidewalk")]


def test_a_large_heap_is_also_accumulated_garbage(evaluate, rulebook):
    heap = ("garbage", [620, 750, 760, 900])  # 2.1 % of the frame
    assert rulebook.rules["0103"].min_area < 0.021
    assert codes(evaluate("cam-street", heap)) == ["0102", "0103"]


def test_stall_is_a_cluster_of_parts_with_the_vendor_beside_it(evaluate):
    [observation] = evaluate("cam-market", *STALL, VENDOR, at=MONDAY_10AM)
    assert (observation.code, observation.zone_id) == ("0501", "lane")
    assert observation.evidence == (0, 1, 2, 3)  # the vendor is evidence too …
    assert observation.box == pytest.approx((0.42, 0.5, 0.59, 0.68))  # … but the stall's box is its parts'


def test_lone_furniture_or_people_are_no_stall(evaluate):
    assert evaluate("cam-market", ("chair", [100, 600, 140, 660])) == []
    assert evaluate("cam-market", VENDOR, ("person", [200, 500, 240, 650])) == []
    # Two chairs far apart (many box heights) are two lone chairs.
    assert evaluate("cam-market", ("chair", [100, 600, 140, 660]), ("chair", [800, 600, 840, 660])) == []


def test_two_stalls_apart_are_two_observations(evaluate):
    far = [("umbrella", [20, 500, 160, 600]), ("table", [40, 600, 140, 680])]
    observations = evaluate("cam-market", *STALL, *far)
    assert codes(observations) == ["0501", "0501"]
    assert sorted(o.evidence for o in observations) == [(0, 1, 2), (3, 4)]


def test_market_stall_is_allowed_in_morning_market_hours_only(evaluate):
    morning = MONDAY_10AM.replace(hour=7)
    assert evaluate("cam-market", *STALL, at=morning) == []
    assert codes(evaluate("cam-market", *STALL, at=MONDAY_10AM)) == ["0501"]


def test_stall_in_the_shopfront_band_is_trading_outside_the_shop_only(evaluate):
    in_band = [("table", [910, 800, 960, 850]), ("chair", [962, 810, 990, 850])]
    observations = evaluate("cam-street", *in_band)
    assert [(o.code, o.zone_id) for o in observations] == [("0504", "shopfront")]


def test_rule_schedule_limits_when_it_is_enforced(evaluate, rulebook):
    bike_on_pavement = ("bicycle", [700, 700, 760, 780])
    assert rulebook.rules["0506"].schedule is not None
    assert codes(evaluate("cam-street", bike_on_pavement, at=MONDAY_10AM)) == ["0506"]
    assert evaluate("cam-street", bike_on_pavement, at=MONDAY_10AM.replace(hour=23)) == []


def test_school_gate_forbids_stopping_at_school_hours_on_school_days(evaluate):
    car = ("car", [300, 700, 500, 800])
    assert codes(evaluate("cam-school", car, at=MONDAY_10AM.replace(hour=7, minute=30))) == ["0505"]
    assert codes(evaluate("cam-school", car, at=MONDAY_10AM.replace(hour=17))) == ["0505"]
    assert evaluate("cam-school", car, at=MONDAY_10AM.replace(hour=12)) == []
    saturday = MONDAY_10AM.replace(day=7, hour=7, minute=30)
    assert evaluate("cam-school", car, at=saturday) == []


def test_schedules_read_the_camera_time_in_the_city_time_zone(evaluate):
    # 23:30 UTC on Sunday is 07:30 on Monday in Shanghai.
    sunday_night_utc = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)
    assert sunday_night_utc.astimezone(SHANGHAI).hour == 7
    assert codes(evaluate("cam-school", ("car", [300, 700, 500, 800]), at=sunday_night_utc)) == ["0505"]


def test_a_camera_time_without_time_zone_is_refused(rule_engine):
    with pytest.raises(ValueError, match="time zone"):
        rule_engine.evaluate("cam-street", Detections.empty(taxonomy_classes()), FRAME, datetime(2026, 3, 2, 10))


def test_rules_apply_only_at_their_point_types(tmp_path, scenario_city):
    document = yaml.safe_load(DEFAULT_RULEBOOK.read_text(encoding="utf-8"))
    document["rules"]["0505"]["point_types"] = ["农贸市场"]
    path = tmp_path / "rulebook.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    engine = RuleEngine(Rulebook.load(path), scenario_city)
    car = Detections.from_records([{"class": "car", "confidence": 0.9, "box": CAR_IN_NO_PARKING[1]}], taxonomy_classes())
    assert engine.evaluate("cam-street", car, FRAME, MONDAY_10AM) == []


def test_the_sample_city_zones_mean_what_they_say(rulebook):
    """A 1920×1080 frame of cam-renmin-north: its bays, bike bay, bins and wall behave as drawn."""
    engine = RuleEngine(rulebook, CityConfig.load(DEFAULT_CAMERAS))
    width, height = 1920, 1080

    def seen(name: str, x1: float, y1: float, x2: float, y2: float) -> dict:
        return {"class": name, "confidence": 0.8, "box": [x1 * width, y1 * height, x2 * width, y2 * height]}

    frame = [
        seen("car", 0.35, 0.70, 0.50, 0.85),  # in the no-parking area
        seen("car", 0.10, 0.80, 0.25, 0.95),  # in a marked bay
        seen("bicycle", 0.85, 0.75, 0.90, 0.85),  # in the bike bay
        seen("bicycle", 0.62, 0.85, 0.66, 0.95),  # on the pavement
        seen("garbage", 0.67, 0.58, 0.72, 0.66),  # at the bins
        seen("fly_poster", 0.85, 0.30, 0.87, 0.33),  # on the wall
    ]
    detections = Detections.from_records(frame, taxonomy_classes())
    observations = engine.evaluate("cam-renmin-north", detections, (width, height), MONDAY_10AM)
    assert sorted((o.code, o.zone_id, o.evidence) for o in observations) == [
        ("0201", "rm1-wall", (5,)),
        ("0505", "rm1-no-parking", (0,)),
        ("0506", "rm1-sidewalk", (3,)),
        ("BIN_OVERFLOW", "rm1-bins", (4,)),
    ]


def test_the_fly_poster_rule_looks_again_at_the_walls_in_full_resolution_crops():
    engine = RuleEngine(Rulebook.load(DEFAULT_RULEBOOK), CityConfig.load(DEFAULT_CAMERAS))
    camera = "cam-renmin-north"
    zones, classes = engine.second_look_zones(camera)
    assert classes == {"fly_poster"} and {zone.kind.value for zone in zones} == {"wall"}
    crops = engine.crops_for(camera, (1920, 1080), 640)
    assert crops is not None and crops.classes == {"fly_poster"} and 1 <= len(crops.windows) <= 4
    wall = zones[0].vertices
    for x, y in wall:  # every corner of the wall is inside some window
        assert any(x0 - 1e-9 <= x <= x1 + 1e-9 and y0 - 1e-9 <= y <= y1 + 1e-9 for x0, y0, x1, y1 in crops.windows)
    assert engine.crops_for(camera, (640, 360), 640) is None  # nothing to gain: the frame is the input


def test_no_second_look_without_a_rule_that_asks_for_it(tmp_path):
    data = yaml.safe_load(DEFAULT_RULEBOOK.read_text(encoding="utf-8"))
    for rule in data["rules"].values():
        rule.pop("second_look", None)
    path = tmp_path / "rulebook.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    engine = RuleEngine(Rulebook.load(path), CityConfig.load(DEFAULT_CAMERAS))
    assert engine.second_look_zones("cam-renmin-north") == ([], frozenset())
    assert engine.crops_for("cam-renmin-north", (1920, 1080), 640) is None
