"""The camera config: evaluation points, the cameras that see them and their zones, schedules.

`configs/cameras.example.yaml` is a sample city. Points (测评点位) are listed once with their type,
owning department and keeper; each camera lists, per point it sees, that point's zones: polygons in
relative (0–1) image coordinates with a kind. Zones may carry a schedule, in the city's time zone,
outside which they do not exist (a school gate's no-stopping zone at school hours; a market lane's
vending zone in the morning market).
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from cv.config import CONFIG_DIR, KeyPath, KeyPathError, load_model
from cv.geometry import box_overlap_fraction, points_in_polygon, polygon_area

DEFAULT_CAMERAS = CONFIG_DIR / "cameras.example.yaml"


class ZoneKind(StrEnum):
    NO_PARKING = "no_parking"
    SIDEWALK = "sidewalk"
    ROADWAY = "roadway"
    SHOPFRONT = "shopfront"  # the band in front of shops, up to the shop line
    BIN_AREA = "bin_area"
    WALL = "wall"  # walls, poles, doors: where fly-posters go
    # Marked areas where what the rules forbid elsewhere is allowed.
    PARKING_BAY = "parking_bay"
    BIKE_BAY = "bike_bay"
    VENDING_ZONE = "vending_zone"


# 测评点位类型 (2021 handbook and local variants) that the rules and the sample city use.
POINT_TYPES = (
    "主次干道", "背街小巷", "商业大街", "主要交通路口", "城乡接合部", "公共广场", "公园", "景区景点",
    "建筑工地", "社区", "老旧小区", "中小学校", "学校周边", "农贸市场", "集贸市场", "医院", "公交站点",
    "车站", "商场超市", "宾馆酒店", "政务大厅", "银行网点",
)  # fmt: skip


def _known_point_type(value: str) -> str:
    if value not in POINT_TYPES:
        raise ValueError(f"unknown point type {value!r}; known: {', '.join(POINT_TYPES)}")
    return value


PointType = Annotated[str, AfterValidator(_known_point_type)]
Identifier = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=64)]

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WINDOW = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")


class TimeWindow(BaseModel):
    """`"HH:MM-HH:MM"` in local time; a window that ends before it starts runs past midnight."""

    model_config = ConfigDict(frozen=True)
    start_minute: int = Field(ge=0, lt=24 * 60)
    end_minute: int = Field(gt=0, le=24 * 60)

    @model_validator(mode="before")
    @classmethod
    def _parse(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        match = _WINDOW.match(value.strip())
        if not match:
            raise ValueError(f"expected 'HH:MM-HH:MM' (e.g. '06:00-09:00'), got {value!r}")
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        if h1 > 23 or m1 > 59 or h2 > 24 or m2 > 59 or (h2 == 24 and m2):
            raise ValueError(f"not a time of day in {value!r}")
        start, end = h1 * 60 + m1, h2 * 60 + m2
        if start == end:
            raise ValueError(f"empty window {value!r}")
        return {"start_minute": start, "end_minute": end or 24 * 60}

    @property
    def crosses_midnight(self) -> bool:
        return self.end_minute <= self.start_minute


class Schedule(BaseModel):
    """When something applies: any of `windows`, on `days` (all days unless listed)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    windows: list[TimeWindow] = Field(min_length=1)
    days: list[str] = Field(default_factory=lambda: list(WEEKDAYS))

    @field_validator("days")
    @classmethod
    def _known_days(cls, days: list[str]) -> list[str]:
        unknown = [d for d in days if d not in WEEKDAYS]
        if unknown:
            raise ValueError(f"unknown day(s) {unknown}; use {', '.join(WEEKDAYS)}")
        return days

    def active_at(self, local: datetime) -> bool:
        """`local` is in the city's time zone. The hours after midnight of a window that crosses
        it belong to the day the window started."""
        minute = local.hour * 60 + local.minute
        today, yesterday = WEEKDAYS[local.weekday()], WEEKDAYS[local.weekday() - 1]
        for window in self.windows:
            if not window.crosses_midnight:
                if today in self.days and window.start_minute <= minute < window.end_minute:
                    return True
            elif (today in self.days and minute >= window.start_minute) or (
                yesterday in self.days and minute < window.end_minute
            ):
                return True
        return False


class Zone(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: Identifier
    kind: ZoneKind
    polygon: list[tuple[float, float]]
    schedule: Schedule | None = None
    description: str = ""

    @field_validator("polygon")
    @classmethod
    def _valid_polygon(cls, polygon: list[tuple[float, float]]) -> list[tuple[float, float]]:
        if len(polygon) < 3:
            raise ValueError(f"a polygon needs at least 3 points, got {len(polygon)}")
        outside = [i for i, (x, y) in enumerate(polygon) if not (0 <= x <= 1 and 0 <= y <= 1)]
        if outside:
            raise ValueError(
                f"point(s) {outside} outside 0–1: coordinates are relative to the image (x/width, y/height)"
            )
        if polygon_area(np.asarray(polygon)) < 1e-6:
            raise ValueError("the polygon has no area (points on one line?)")
        return polygon

    @cached_property
    def vertices(self) -> np.ndarray:
        return np.asarray(self.polygon, np.float64)

    def active_at(self, local: datetime) -> bool:
        return self.schedule is None or self.schedule.active_at(local)

    def contains_points(self, points: np.ndarray) -> np.ndarray:
        return points_in_polygon(points, self.vertices)

    def overlap_fractions(self, boxes: np.ndarray) -> np.ndarray:
        return box_overlap_fraction(boxes, self.vertices)


class EvaluationPoint(BaseModel):
    """A 测评点位: a stretch of street, a market, a school gate …, with whoever answers for it."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: Identifier
    name: str = Field(min_length=1)
    type: PointType
    department: str = Field(min_length=1, description="owning department (谁主管、谁负责)")
    district: str = ""
    keeper: str = Field(min_length=1, description="the named 路长 / 社区长")


class CameraView(BaseModel):
    """What one camera sees of one evaluation point: that point's zones in this camera's image."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    point: Identifier
    zones: list[Zone] = Field(min_length=1)


class Camera(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: Identifier
    name: str = ""
    max_clock_skew_s: float = Field(300.0, gt=0, description="how far the camera's clock may be from ours")
    views: list[CameraView] = Field(min_length=1)

    @property
    def zones(self) -> list[tuple[str, Zone]]:
        """(point id, zone) for every zone this camera sees."""
        return [(view.point, zone) for view in self.views for zone in view.zones]


class CityConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    city: str = Field(min_length=1)
    timezone: str = "Asia/Shanghai"
    points: list[EvaluationPoint] = Field(min_length=1)
    cameras: list[Camera] = Field(min_length=1)
    _content_version: str = PrivateAttr(default="")

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {name!r} (use an IANA name such as Asia/Shanghai)") from exc
        return name

    @model_validator(mode="after")
    def _consistent_ids(self) -> CityConfig:
        _require_unique([p.id for p in self.points], ("points",), "id", "point id")
        _require_unique([c.id for c in self.cameras], ("cameras",), "id", "camera id")
        point_ids = {p.id for p in self.points}
        for c, camera in enumerate(self.cameras):
            _require_unique([v.point for v in camera.views], ("cameras", c, "views"), "point", "view of point")
            for v, view in enumerate(camera.views):
                if view.point not in point_ids:
                    raise KeyPathError(("cameras", c, "views", v, "point"), f"unknown point {view.point!r}")
            first_use: dict[str, str] = {}
            for v, view in enumerate(camera.views):
                for z, zone in enumerate(view.zones):
                    here = f"views[{v}].zones[{z}]"
                    if zone.id in first_use:
                        raise KeyPathError(
                            ("cameras", c, "views", v, "zones", z, "id"),
                            f"duplicate zone id {zone.id!r} in this camera (first at {first_use[zone.id]})",
                        )
                    first_use[zone.id] = here
        return self

    @classmethod
    def load(cls, path: str | Path = DEFAULT_CAMERAS) -> CityConfig:
        config, version = load_model(path, cls)
        config._content_version = version
        return config

    @property
    def content_version(self) -> str:
        """sha256 of the file it was loaded from (empty when built in code)."""
        return self._content_version

    @cached_property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @cached_property
    def _cameras(self) -> dict[str, Camera]:
        return {c.id: c for c in self.cameras}

    @cached_property
    def _points(self) -> dict[str, EvaluationPoint]:
        return {p.id: p for p in self.points}

    def camera(self, camera_id: str) -> Camera:
        try:
            return self._cameras[camera_id]
        except KeyError:
            raise UnknownCamera(camera_id) from None

    def point(self, point_id: str) -> EvaluationPoint:
        return self._points[point_id]


class UnknownCamera(KeyError):
    """A camera id that the camera config does not list."""


def _require_unique(values: list[str], base: KeyPath, key: str, what: str) -> None:
    first_at: dict[str, int] = {}
    for index, value in enumerate(values):
        if value in first_at:
            raise KeyPathError((*base, index, key), f"duplicate {what} {value!r} (first at index {first_at[value]})")
        first_at[value] = index
