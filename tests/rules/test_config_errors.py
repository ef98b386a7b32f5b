"""The shipped configs load; every kind of bad config fails at start with file, key path and why."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from cv.config import ConfigError
from cv.rulebook import DEFAULT_RULEBOOK, Rulebook
from cv.zones import DEFAULT_CAMERAS, CityConfig, ZoneKind

REQUIRED_CODES = {"0102", "0103", "0201", "0501", "0504", "0505", "0506", "BIN_OVERFLOW"}


def test_the_sample_city_covers_every_zone_kind_and_schedules():
    city = CityConfig.load(DEFAULT_CAMERAS)
    zones = [zone for camera in city.cameras for _, zone in camera.zones]
    assert len(city.cameras) >= 6 and len(city.points) >= 10
    assert {zone.kind for zone in zones} == set(ZoneKind)
    assert any(zone.schedule for zone in zones)
    assert any(len(camera.views) > 1 for camera in city.cameras)  # a camera seeing several points
    assert city.timezone == "Asia/Shanghai"
    assert len(city.content_version) == 64


def test_the_rulebook_has_every_required_event_code():
    rulebook = Rulebook.load(DEFAULT_RULEBOOK)
    assert REQUIRED_CODES <= set(rulebook.rules)
    assert len(rulebook.content_version) == 64


def test_the_version_is_the_content_hash(tmp_path):
    copy_ = tmp_path / "rulebook.yaml"
    copy_.write_bytes(DEFAULT_RULEBOOK.read_bytes())
    assert Rulebook.load(copy_).content_version == Rulebook.load().content_version
    copy_.write_bytes(DEFAULT_RULEBOOK.read_bytes() + b"\n# a comment changes the version\n")
    assert Rulebook.load(copy_).content_version != Rulebook.load().content_version


def _set(path: tuple, value) -> Callable[[dict], None]:
    def mutate(document: dict) -> None:
        target = document
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return mutate


def _duplicate_camera(document: dict) -> None:
    document["cameras"].append(copy.deepcopy(document["cameras"][0]))


def _duplicate_zone(document: dict) -> None:
    views = document["cameras"][0]["views"]
    views[1]["zones"].append(copy.deepcopy(views[0]["zones"][2]))


def _duplicate_point(document: dict) -> None:
    document["points"][1]["id"] = document["points"][0]["id"]


ZONE = ("cameras", 0, "views", 0, "zones", 0)
CAMERA_CASES = {
    "polygon with 2 points": (
        _set((*ZONE, "polygon"), [[0, 0], [1, 1]]),
        "cameras[0].views[0].zones[0].polygon", "at least 3 points",
    ),
    "polygon outside 0-1": (
        _set((*ZONE, "polygon"), [[0, 0], [1.2, 0], [1, 1]]),
        "cameras[0].views[0].zones[0].polygon", "outside 0–1",
    ),
    "polygon without area": (
        _set((*ZONE, "polygon"), [[0, 0], [0.5, 0.5], [1, 1]]),
        "cameras[0].views[0].zones[0].polygon", "no area",
    ),
    "unknown zone kind": (
        _set((*ZONE, "kind"), "no_parkin"), "cameras[0].views[0].zones[0].kind", "'no_parking'",
    ),
    "misspelt key": (_set((*ZONE, "polygn"), [[0, 0]]), "cameras[0].views[0].zones[0].polygn", "unknown key"),
    "duplicate camera id": (_duplicate_camera, "cameras[8].id", "duplicate camera id 'cam-renmin-north'"),
    "duplicate zone id": (_duplicate_zone, "cameras[0].views[1].zones[1].id", "duplicate zone id 'rm1-sidewalk'"),
    "duplicate point id": (_duplicate_point, "points[1].id", "duplicate point id 'GL-RM-01'"),
    "unknown point": (_set(("cameras", 0, "views", 0, "point"), "GL-XX-99"), "cameras[0].views[0].point", "unknown point 'GL-XX-99'"),
    "unknown point type": (_set(("points", 0, "type"), "大马路"), "points[0].type", "unknown point type '大马路'"),
    "hour out of range": (
        _set((*ZONE, "schedule"), {"windows": ["25:00-26:00"]}),
        "cameras[0].views[0].zones[0].schedule.windows[0]", "not a time of day",
    ),
    "window not HH:MM-HH:MM": (
        _set((*ZONE, "schedule"), {"windows": ["7-9"]}),
        "cameras[0].views[0].zones[0].schedule.windows[0]", "expected 'HH:MM-HH:MM'",
    ),
    "unknown day": (
        _set((*ZONE, "schedule"), {"windows": ["07:00-09:00"], "days": ["monday"]}),
        "cameras[0].views[0].zones[0].schedule.days", "unknown day",
    ),
    "unknown time zone": (_set(("timezone",), "Asia/Beijing"), "timezone", "unknown time zone"),
}

RULE = ("rules", "0505")
RULEBOOK_CASES = {
    "unknown evidence class": (
        _set(("rules", "0102", "evidence_classes"), ["garbge"]),
        "rules.0102.evidence_classes[0]", "unknown detector class 'garbge'",
    ),
    "unknown companion class": (
        _set(("rules", "0501", "cluster", "companions"), ["vendor"]),
        "rules.0501.cluster.companions[0]", "unknown detector class 'vendor'",
    ),
    "unknown zone kind": (_set((*RULE, "zone_kinds"), ["car_park"]), "rules.0505.zone_kinds[0]", "'no_parking'"),
    "exemption as zone kind": (
        _set((*RULE, "zone_kinds"), ["parking_bay"]), "rules.0505.zone_kinds", "list them under exemption_kinds",
    ),
    "kind both zone and exemption": (
        _set((*RULE, "exemption_kinds"), ["no_parking"]), "rules.0505.exemption_kinds", "also listed in zone_kinds",
    ),
    "unknown point type": (_set((*RULE, "point_types"), ["大马路"]), "rules.0505.point_types[0]", "unknown point type"),
    "score above 1": (_set((*RULE, "min_score"), 1.5), "rules.0505.min_score", "less than or equal to 1"),
    "missing dwell": (lambda d: d["rules"]["0505"].pop("dwell_s"), "rules.0505.dwell_s", "Field required"),
    "yields to unknown code": (_set(("rules", "0102", "yields_to"), ["0999"]), "rules.0102.yields_to[0]", "unknown event code"),
    "yield cycle": (_set(("rules", "0504", "yields_to"), ["0501"]), "rules.", "cycle"),
    "malformed code": (lambda d: d["rules"].update({"05-05": d["rules"]["0505"]}), "rules.05-05 (the key)", "not an event code"),
}


def _write_mutated(source: Path, tmp_path: Path, mutate: Callable[[dict], None]) -> Path:
    document = yaml.safe_load(source.read_text(encoding="utf-8"))
    mutate(document)
    path = tmp_path / source.name
    path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def _assert_clear_error(error: ConfigError, path: Path, key_path: str, why: str) -> None:
    message = str(error)
    assert message.startswith(f"{path}: "), message
    assert key_path in message and why in message, message


@pytest.mark.parametrize("case", CAMERA_CASES)
def test_bad_camera_config_names_file_key_and_why(case, tmp_path):
    mutate, key_path, why = CAMERA_CASES[case]
    path = _write_mutated(DEFAULT_CAMERAS, tmp_path, mutate)
    with pytest.raises(ConfigError) as caught:
        CityConfig.load(path)
    _assert_clear_error(caught.value, path, key_path, why)


@pytest.mark.parametrize("case", RULEBOOK_CASES)
def test_bad_rulebook_names_file_key_and_why(case, tmp_path):
    mutate, key_path, why = RULEBOOK_CASES[case]
    path = _write_mutated(DEFAULT_RULEBOOK, tmp_path, mutate)
    with pytest.raises(ConfigError) as caught:
        Rulebook.load(path)
    _assert_clear_error(caught.value, path, key_path, why)


def test_unquoted_event_codes_are_explained(tmp_path):
    path = tmp_path / "rulebook.yaml"
    path.write_text(DEFAULT_RULEBOOK.read_text(encoding="utf-8").replace('"0102":', "0102:"), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        Rulebook.load(path)
    _assert_clear_error(caught.value, path, "rules", "read as numbers: quote them")


def test_invalid_yaml_names_the_line(tmp_path):
    path = tmp_path / "cameras.yaml"
    path.write_text("city: 测试市\ncameras: [\n  {id: a\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        CityConfig.load(path)
    _assert_clear_error(caught.value, path, "line ", "not valid YAML")


def test_missing_file_is_named(tmp_path):
    path = tmp_path / "nowhere.yaml"
    with pytest.raises(ConfigError) as caught:
        Rulebook.load(path)
    _assert_clear_error(caught.value, path, "", "cannot read the file")
