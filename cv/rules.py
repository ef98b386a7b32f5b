"""Rule evaluation: one frame's `Detections` + the camera's zones + the rulebook → `Observation`s.

Pure: no I/O, no clock (the frame's own capture time decides schedules), no state between frames.
Whether an observation is a passing car or a parked one is decided later, over time, by the
incidents in the database (`serve.incidents`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np

from cv.detections import Detections
from cv.detector import Crops, crop_windows
from cv.geometry import bottom_centres, box_area, box_gap
from cv.rulebook import Cluster, Placement, Rule, Rulebook
from cv.zones import CityConfig, Zone

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Observation:
    """One rule's evidence seen in one frame, in one zone of one evaluation point."""

    code: str
    camera_id: str
    point_id: str
    zone_id: str
    box: Box  # relative (0–1) xyxy, like the zones
    score: float
    evidence: tuple[int, ...]  # indices into the frame's Detections


@dataclass(frozen=True)
class _Candidate:
    box: np.ndarray  # relative xyxy
    score: float
    evidence: tuple[int, ...]


class RuleEngine:
    """Evaluates the rulebook on a camera's frames, given the city's camera config."""

    def __init__(self, rulebook: Rulebook, city: CityConfig):
        self.rulebook = rulebook
        self.city = city
        self._second_look: dict[str, tuple[list[Zone], frozenset[str]]] = {}

    def second_look_zones(self, camera_id: str) -> tuple[list[Zone], frozenset[str]]:
        """The camera's zones that rules with `second_look` watch, and those rules' evidence classes
        (asked twice per frame: worked out once per camera, the engine's configs never change)."""
        if camera_id not in self._second_look:
            self._second_look[camera_id] = self._find_second_look_zones(camera_id)
        return self._second_look[camera_id]

    def _find_second_look_zones(self, camera_id: str) -> tuple[list[Zone], frozenset[str]]:
        camera = self.city.camera(camera_id)
        zones: dict[str, Zone] = {}
        classes: set[str] = set()
        for rule in self.rulebook.rules.values():
            if not rule.second_look:
                continue
            watched = [zone for point, zone in camera.zones if zone.kind in rule.zone_kinds
                       and (not rule.point_types or self.city.point(point).type in rule.point_types)]
            if watched:
                zones.update((zone.id, zone) for zone in watched)
                classes.update(rule.evidence_classes)
        return list(zones.values()), frozenset(classes)

    def crops_for(self, camera_id: str, frame_size: tuple[int, int], imgsz: int) -> Crops | None:
        """Full-resolution windows over the zones that rules with `second_look` watch in this camera
        (None when there are none or the frame is too small to gain from a closer look)."""
        zones, classes = self.second_look_zones(camera_id)
        if not zones:
            return None
        regions = [(*zone.vertices.min(axis=0), *zone.vertices.max(axis=0)) for zone in zones]
        windows = crop_windows(regions, frame_size, imgsz)
        return Crops(windows, classes) if windows else None

    def evaluate(
        self, camera_id: str, detections: Detections, frame_size: tuple[int, int], captured_at: datetime
    ) -> list[Observation]:
        """`frame_size` is (width, height) in pixels; `captured_at` is the camera's time (aware)."""
        if captured_at.tzinfo is None:
            raise ValueError("captured_at must carry a time zone (the camera's time, e.g. in UTC)")
        camera = self.city.camera(camera_id)
        local = captured_at.astimezone(self.city.tz)
        width, height = frame_size
        relative = detections.xyxy.astype(np.float64) / np.array([width, height, width, height], np.float64)
        names = np.asarray(detections.names, dtype=object)
        active_zones = [(point, zone) for point, zone in camera.zones if zone.active_at(local)]

        observations: list[Observation] = []
        claimed: dict[str, set[int]] = {}  # code → detection indices it reported in this frame
        for code in self.rulebook.evaluation_order:
            rule = self.rulebook.rules[code]
            claimed[code] = set()
            if rule.schedule is not None and not rule.schedule.active_at(local):
                continue
            zones = [
                (point, zone)
                for point, zone in active_zones
                if zone.kind in rule.zone_kinds
                and (not rule.point_types or self.city.point(point).type in rule.point_types)
            ]
            if not zones:
                continue
            exemptions = [zone for _, zone in active_zones if zone.kind in rule.exemption_kinds]
            taken = set().union(*(claimed[other] for other in rule.yields_to))
            for candidate in _candidates(rule, relative, detections.confidence, names, taken):
                if any(_placed_in(rule, candidate.box, zone) for zone in exemptions):
                    continue
                found = next(((p, z) for p, z in zones if _placed_in(rule, candidate.box, z)), None)
                if found is None:
                    continue
                point, zone = found
                observations.append(
                    Observation(
                        code=code,
                        camera_id=camera_id,
                        point_id=point,
                        zone_id=zone.id,
                        box=tuple(round(float(v), 6) for v in candidate.box),
                        score=round(candidate.score, 4),
                        evidence=candidate.evidence,
                    )
                )
                claimed[code].update(candidate.evidence)
        return observations


def _placed_in(rule: Rule, box: np.ndarray, zone: Zone) -> bool:
    if rule.placement is Placement.OVERLAP:
        return bool(zone.overlap_fractions(box)[0] >= rule.min_overlap)
    return bool(zone.contains_points(bottom_centres(box))[0])


def _candidates(
    rule: Rule, boxes: np.ndarray, confidence: np.ndarray, names: np.ndarray, taken: set[int]
) -> list[_Candidate]:
    free = np.array([i not in taken for i in range(len(names))], bool)
    evidence = np.flatnonzero(free & np.isin(names, rule.evidence_classes) & (confidence >= rule.min_score))
    if rule.cluster is None:
        found = [_Candidate(boxes[i], float(confidence[i]), (int(i),)) for i in evidence]
    else:
        companions = np.flatnonzero(free & np.isin(names, rule.cluster.companions) & (confidence >= rule.min_score))
        found = _clusters(rule.cluster, boxes, confidence, evidence, companions)
    return [c for c in found if box_area(c.box) >= rule.min_area]


def _clusters(
    spec: Cluster, boxes: np.ndarray, confidence: np.ndarray, parts: np.ndarray, companions: np.ndarray
) -> list[_Candidate]:
    """Groups of parts whose boxes lie within `max_gap` mean box heights of each other (single
    linkage); each companion joins the nearest group it is close enough to. The group's box spans
    its parts only: vendors walk about, the stall stays."""
    if len(parts) == 0:
        return []
    close = _close_together(boxes[parts], boxes[parts], spec.max_gap)
    group = np.full(len(parts), -1)
    for seed in range(len(parts)):
        if group[seed] >= 0:
            continue
        group[seed], frontier = seed, [seed]
        while frontier:
            member = frontier.pop()
            for neighbour in np.flatnonzero(close[member] & (group < 0)):
                group[neighbour] = seed
                frontier.append(neighbour)

    members = {g: list(parts[group == g]) for g in np.unique(group)}
    if len(companions):
        gaps = box_gap(boxes[companions], boxes[parts])
        near = _close_together(boxes[companions], boxes[parts], spec.max_gap)
        for c, companion in enumerate(companions):
            if near[c].any():
                nearest_part = np.flatnonzero(near[c])[np.argmin(gaps[c, near[c]])]
                members[group[nearest_part]].append(companion)

    found = []
    for g, indices in members.items():
        group_parts = parts[group == g]
        if len(group_parts) < spec.min_parts:
            continue
        span = boxes[group_parts]
        box = np.array([span[:, 0].min(), span[:, 1].min(), span[:, 2].max(), span[:, 3].max()])
        found.append(_Candidate(box, float(confidence[group_parts].max()), tuple(sorted(int(i) for i in indices))))
    return found


def _close_together(a: np.ndarray, b: np.ndarray, max_gap: float) -> np.ndarray:
    """(n, m) bool: gap between boxes at most `max_gap` times their mean height (scale-aware:
    things far from the camera are small and close together in the image)."""
    heights_a, heights_b = a[:, 3] - a[:, 1], b[:, 3] - b[:, 1]
    mean_height = (heights_a[:, None] + heights_b[None, :]) / 2
    return box_gap(a, b) <= max_gap * mean_height
