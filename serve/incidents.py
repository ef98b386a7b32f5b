"""Incidents: turning each frame's `Observation`s into one database record per real event.

Time lives in the database, not in a tracker (DESIGN.md): each observation is matched to an open
incident of the same camera, code and zone by box IoU (centre distance for small boxes), and the
incident's times, hits and misses are updated in the frame's one transaction. A pre-warning becomes
a violation once it has lasted `dwell_s` with `min_hits` sightings; an incident not seen for
`clear_after_s` ends by itself (a pre-warning is dismissed, a violation cleared).

All times are the camera's (`captured_at`), never the server's; the server's clock only bounds how
far a camera's clock may be off. Frames of one camera are applied one at a time (a lock on the
camera's row), so any number of workers may post them; a repeated frame (same camera and frame id)
changes nothing. Frames that arrive out of order still count their sightings of open incidents:
hits and the first/last-seen span do not depend on arrival order; but an older frame opens no
incident and never counts a miss for something seen after it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

import numpy as np
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from cv.geometry import box_area, box_iou, centre_distance
from cv.rulebook import Matching, Rulebook
from cv.rules import Observation
from cv.zones import CityConfig
from serve.models import ACTIVE_STATUSES, CameraState, Frame, Incident, IncidentStatus, Sighting


class FrameTimeError(ValueError):
    """The camera's time for a frame is further from ours than the camera's allowed clock skew."""


class Change(StrEnum):
    OPENED = "opened"  # a new pre-warning
    SIGHTED = "sighted"  # seen again
    ESCALATED = "escalated"  # pre-warning → violation
    DISMISSED = "dismissed"
    CLEARED = "cleared"


@dataclass(frozen=True)
class FrameIn:
    camera_id: str
    frame_id: str
    captured_at: datetime  # the camera's clock, aware
    observations: Sequence[Observation]
    model_version: str
    # What the service keeps of the frame (the incident tests leave them out).
    width: int | None = None
    height: int | None = None
    image_sha256: str | None = None
    annotated_sha256: str | None = None
    detections: list[dict] | None = None


@dataclass(frozen=True)
class IncidentChange:
    incident_id: int
    code: str
    point_id: str
    zone_id: str
    status: IncidentStatus
    change: Change


@dataclass(frozen=True)
class FrameResult:
    frame_pk: int
    duplicate: bool  # the frame had been recorded before; nothing changed
    changes: tuple[IncidentChange, ...]
    response: dict | None = None  # the answer stored with the frame (`record_frame(respond=…)`)


class IncidentBook:
    """Records frames' observations as incidents, with the rulebook and camera config in force."""

    def __init__(self, sessions: sessionmaker[Session], rulebook: Rulebook, city: CityConfig):
        self.sessions = sessions
        self.rulebook = rulebook
        self.city = city

    def check_frame_time(self, camera_id: str, captured_at: datetime, received_at: datetime) -> None:
        """Refuse a frame whose camera time is further from ours than the camera's allowed skew."""
        camera = self.city.camera(camera_id)
        if captured_at.tzinfo is None:
            raise FrameTimeError("the frame's time carries no time zone")
        skew = abs((captured_at - received_at).total_seconds())
        if skew > camera.max_clock_skew_s:
            raise FrameTimeError(
                f"frame time {captured_at.isoformat()} is {skew:.0f} s from the server's "
                f"{received_at.isoformat()}; camera {camera.id} allows {camera.max_clock_skew_s:.0f} s"
            )

    def record_frame(
        self,
        frame: FrameIn,
        received_at: datetime | None = None,
        respond: Callable[[FrameResult], dict] | None = None,
    ) -> FrameResult:
        """Apply one frame in one transaction. `received_at` (default: now) bounds the camera's clock.

        `respond` builds the caller's answer from the result; it is stored with the frame in the same
        transaction, and a repeat of the frame gets exactly that answer back.
        """
        received_at = received_at or datetime.now(UTC)
        self.check_frame_time(frame.camera_id, frame.captured_at, received_at)
        foreign = [o for o in frame.observations if o.camera_id != frame.camera_id]
        if foreign:
            raise ValueError(f"observations of camera {foreign[0].camera_id!r} in a frame of {frame.camera_id!r}")

        with self.sessions.begin() as session:
            state = _lock_camera(session, frame.camera_id)
            existing = session.scalar(
                select(Frame).where(Frame.camera_id == frame.camera_id, Frame.frame_id == frame.frame_id)
            )
            if existing is not None:
                return FrameResult(existing.id, duplicate=True, changes=(), response=existing.response)
            row = Frame(
                camera_id=frame.camera_id,
                frame_id=frame.frame_id,
                captured_at=frame.captured_at,
                received_at=received_at,
                model_version=frame.model_version,
                observations=len(frame.observations),
                width=frame.width,
                height=frame.height,
                image_sha256=frame.image_sha256,
                annotated_sha256=frame.annotated_sha256,
                detections=frame.detections,
            )
            session.add(row)
            session.flush()
            late = state.last_captured_at is not None and frame.captured_at < state.last_captured_at
            changes = self._apply(session, row, frame, late)
            state.frames_seen += 1
            if state.last_captured_at is None or frame.captured_at > state.last_captured_at:
                state.last_captured_at = frame.captured_at
            result = FrameResult(row.id, duplicate=False, changes=tuple(changes))
            if respond is not None:
                row.response = respond(result)
                result = FrameResult(row.id, duplicate=False, changes=result.changes, response=row.response)
            return result

    def _apply(self, session: Session, row: Frame, frame: FrameIn, late: bool) -> list[IncidentChange]:
        """`late`: the camera has sent a newer frame already; this one may add sightings to open
        incidents but opens none (what it shows may have been seen, and closed, since)."""
        t = frame.captured_at
        open_incidents = session.scalars(
            select(Incident)
            .where(Incident.camera_id == frame.camera_id, Incident.status.in_(ACTIVE_STATUSES))
            .order_by(Incident.id)
            .with_for_update()
        ).all()
        by_key: dict[tuple[str, str], list[Incident]] = defaultdict(list)
        for incident in open_incidents:
            by_key[(incident.code, incident.zone_id)].append(incident)
        observed: dict[tuple[str, str], list[Observation]] = defaultdict(list)
        for observation in frame.observations:
            observed[(observation.code, observation.zone_id)].append(observation)

        changes: list[IncidentChange] = []
        seen: set[int] = set()
        for key, observations in observed.items():
            candidates = by_key.get(key, [])
            pairs = match_boxes(
                [o.box for o in observations], [i.box for i in candidates], self.rulebook.matching
            )
            matched = dict(pairs)
            for o, observation in enumerate(observations):
                if o in matched:
                    incident = candidates[matched[o]]
                    change = _sighted(incident, observation, row)
                elif late:
                    continue
                else:
                    incident = self._open(observation, row, frame)
                    session.add(incident)
                    session.flush()
                    change = Change.OPENED
                if _escalate(incident, t):
                    change = Change.ESCALATED
                session.add(_sighting(incident, observation, row))
                seen.add(incident.id)
                changes.append(_change(incident, change))

        for incident in open_incidents:
            if incident.id in seen or t <= incident.last_seen:
                continue  # an older frame is no evidence that what was seen later is gone
            incident.misses += 1
            if (t - incident.last_seen).total_seconds() >= incident.clear_after_s:
                ended = incident.status == IncidentStatus.PREWARNING
                incident.status = IncidentStatus.DISMISSED if ended else IncidentStatus.CLEARED
                incident.ended_at = t
                changes.append(_change(incident, Change.DISMISSED if ended else Change.CLEARED))
        return changes

    def _open(self, observation: Observation, row: Frame, frame: FrameIn) -> Incident:
        rule = self.rulebook.rules[observation.code]
        point = self.city.point(observation.point_id)
        incident = Incident(
            camera_id=frame.camera_id,
            code=observation.code,
            point_id=observation.point_id,
            zone_id=observation.zone_id,
            status=IncidentStatus.PREWARNING,
            department=rule.department,
            point_department=point.department,
            first_seen=frame.captured_at,
            last_seen=frame.captured_at,
            hits=1,
            misses=0,
            best_score=observation.score,
            first_frame_id=row.id,
            best_frame_id=row.id,
            last_frame_id=row.id,
            dwell_s=rule.dwell_s,
            min_hits=rule.min_hits,
            clear_after_s=rule.clear_after_s,
            disposal_limit_h=rule.disposal_limit_h,
            rulebook_version=self.rulebook.content_version,
            cameras_version=self.city.content_version,
            model_version=frame.model_version,
        )
        incident.box = observation.box
        return incident


def match_boxes(
    observed: Sequence[Sequence[float]], open_boxes: Sequence[Sequence[float]], params: Matching
) -> list[tuple[int, int]]:
    """Greedy one-to-one pairs (observation index, incident index), best overlap first.

    A pair qualifies by IoU ≥ `min_iou`, or, when both boxes are small (where a few pixels of
    jitter ruin the IoU), by centre distance ≤ `max_centre_distance`.
    """
    if not len(observed) or not len(open_boxes):
        return []
    a, b = np.asarray(observed, np.float64), np.asarray(open_boxes, np.float64)
    iou = box_iou(a, b)
    distance = centre_distance(a, b)
    both_small = (box_area(a)[:, None] < params.small_box_area) & (box_area(b)[None, :] < params.small_box_area)
    allowed = (iou >= params.min_iou) | (both_small & (distance <= params.max_centre_distance))
    pairs = sorted(zip(*np.nonzero(allowed)), key=lambda p: (-iou[p], distance[p]))
    used_o: set[int] = set()
    used_i: set[int] = set()
    result = []
    for o, i in pairs:
        if o not in used_o and i not in used_i:
            used_o.add(o)
            used_i.add(i)
            result.append((int(o), int(i)))
    return result


def _lock_camera(session: Session, camera_id: str) -> CameraState:
    """Create the camera's row if needed and lock it until the transaction ends (PostgreSQL: row
    lock; SQLite: the whole database is already locked by BEGIN IMMEDIATE)."""
    dialect = postgresql if session.bind.dialect.name == "postgresql" else sqlite
    session.execute(
        dialect.insert(CameraState).values(camera_id=camera_id, frames_seen=0).on_conflict_do_nothing()
    )
    return session.get(CameraState, camera_id, with_for_update=True, populate_existing=True)


def _sighted(incident: Incident, observation: Observation, row: Frame) -> Change:
    t = row.captured_at
    incident.hits += 1
    if t >= incident.last_seen:
        incident.last_seen = t
        incident.last_frame_id = row.id
        incident.box = observation.box
    if t < incident.first_seen:
        incident.first_seen = t
        incident.first_frame_id = row.id
    if observation.score > incident.best_score:
        incident.best_score = observation.score
        incident.best_frame_id = row.id
    return Change.SIGHTED


def _escalate(incident: Incident, t: datetime) -> bool:
    lasted = incident.last_seen - incident.first_seen
    if incident.status == IncidentStatus.PREWARNING and lasted >= timedelta(seconds=incident.dwell_s) and (
        incident.hits >= incident.min_hits
    ):
        incident.status = IncidentStatus.VIOLATION
        incident.violation_at = t
        return True
    return False


def _sighting(incident: Incident, observation: Observation, row: Frame) -> Sighting:
    x1, y1, x2, y2 = observation.box
    return Sighting(
        incident_id=incident.id, frame_id=row.id, x1=x1, y1=y1, x2=x2, y2=y2,
        score=observation.score, evidence=list(observation.evidence),
    )  # fmt: skip


def _change(incident: Incident, change: Change) -> IncidentChange:
    return IncidentChange(
        incident.id, incident.code, incident.point_id, incident.zone_id, IncidentStatus(incident.status), change
    )
