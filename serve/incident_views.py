"""What people see of incidents: the filtered, paged list and everything about one incident.

Names, types, keepers and standard lines come from the camera config and rulebook in force; an
incident whose point or code they no longer list still shows, with those fields empty.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field
from sqlalchemy import ColumnElement, func, not_, select
from sqlalchemy.orm import Session

from cv.rulebook import Rulebook
from cv.zones import CityConfig, UnknownCamera
from serve.errors import APIError
from serve.models import AuditEntry, CaseStatus, Frame, Incident, IncidentStatus, Sighting
from serve.review import overdue_condition

# The code people agreed on (a correction's), and who answers for the case now.
effective_code = func.coalesce(Incident.corrected_code, Incident.code)
responsible_department = func.coalesce(Incident.dispatched_to, Incident.department)


def iso_text(value: object) -> object:
    """Refuse numbers where an ISO 8601 date or time is documented (pydantic would read them as Unix time)."""
    try:
        float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return value
    raise ValueError("expected ISO 8601 text, e.g. 2026-11-23 or 2026-11-23T08:00:00+08:00")


def _one_of(choices: type[StrEnum]) -> str:
    one = "|".join(choices)
    return rf"^\s*({one})\s*(,\s*({one})\s*)*$"


def _alternatives(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


IsoTime = Annotated[AwareDatetime, BeforeValidator(iso_text)]
Alternatives = Annotated[str | None, Field(min_length=1, max_length=1000)]


def evidence_url(sha256: str | None) -> str | None:
    return None if sha256 is None else f"/v1/evidence/{sha256}.jpg"


class IncidentSummary(BaseModel):
    id: int
    camera_id: str
    code: str = Field(description="the code the rules raised")
    effective_code: str = Field(description="the corrected code if an operator corrected it, else `code`")
    point_id: str
    point_name: str | None
    point_type: str | None
    zone_id: str
    status: IncidentStatus = Field(description="what the cameras say: prewarning, violation, dismissed, cleared")
    case_status: CaseStatus = Field(
        description="what people did: new, confirmed, rejected, dispatched, resolved, closed")
    review_outcome: str | None
    department: str = Field(description="who answers for it: the department dispatched to, else the rule's default")
    first_seen: datetime
    last_seen: datetime
    violation_at: datetime | None
    ended_at: datetime | None
    hits: int
    best_score: float
    box: list[float] = Field(description="latest box, relative xyxy")
    model_version: str
    deadline_at: datetime | None
    overdue: bool = Field(description="past the deadline without the department's feedback in time, not closed")
    thumbnail_url: str | None = Field(description="the best frame, annotated")


class IncidentPage(BaseModel):
    total: int = Field(description="incidents matching the filters, over all pages")
    limit: int
    offset: int
    items: list[IncidentSummary]


class PointInfo(BaseModel):
    id: str
    name: str | None = None
    type: str | None = None
    department: str | None = Field(None, description="owning department (谁主管、谁负责)")
    district: str | None = None
    keeper: str | None = Field(None, description="the named 路长 / 社区长")


class EvidenceFrame(BaseModel):
    frame_id: str
    captured_at: datetime
    width: int | None
    height: int | None
    image_url: str | None = Field(description="the frame as the camera sent it")
    annotated_url: str | None = Field(description="with the evidence boxes and zones drawn")


class Evidence(BaseModel):
    first: EvidenceFrame
    best: EvidenceFrame
    last: EvidenceFrame


class SightingsSummary(BaseModel):
    count: int
    first_at: datetime | None
    last_at: datetime | None
    best_score: float | None
    mean_score: float | None
    misses: int = Field(description="frames since the last sighting that did not see it")


class Case(BaseModel):
    reviewed_by: str | None
    reviewed_at: datetime | None
    reject_reason: str | None
    corrected_code: str | None
    corrected_box: list[float] | None
    dispatched_to: str | None
    dispatched_at: datetime | None
    disposal_limit_h: float
    resolved_at: datetime | None
    resolution_note: str | None
    resolution_photo_url: str | None
    closed_at: datetime | None
    close_verification: str | None = Field(description="camera (cleared after dispatch) or inspection (on site)")


class HistoryEntry(BaseModel):
    at: datetime
    actor: str
    action: str
    before: dict | None
    after: dict | None
    comment: str | None


class IncidentDetail(IncidentSummary):
    name: str | None = Field(description="the effective code's name (中文)")
    name_en: str | None
    standard: str | None = Field(description="the 测评 standard line it fails")
    camera_name: str | None
    point: PointInfo
    rule_department: str = Field(description="the rule's default department when the incident opened")
    dwell_s: float
    clear_after_s: float
    rulebook_version: str
    cameras_version: str
    case: Case
    evidence: Evidence
    sightings: SightingsSummary
    history: list[HistoryEntry]


class IncidentFilter(BaseModel):
    """Each field narrows the list; several values of one field are alternatives."""

    model_config = ConfigDict(populate_by_name=True)
    # Several values, comma-separated, are alternatives: code=0501,0506.
    status: str | None = Field(None, pattern=_one_of(IncidentStatus),
                               description="camera lifecycle: prewarning, violation, dismissed, cleared")
    case_status: str | None = Field(None, pattern=_one_of(CaseStatus),
                                    description="new, confirmed, rejected, dispatched, resolved, closed")
    code: Alternatives = Field(None, description="event code (the corrected one where corrected)")
    point: Alternatives = Field(None, description="evaluation point id")
    point_type: Alternatives = Field(None, description="测评点位类型, e.g. 主次干道")
    district: Alternatives = None
    department: Alternatives = Field(None, description="the responsible department")
    camera: Alternatives = None
    seen_from: IsoTime | None = Field(None, alias="from", description="seen at or after this time")
    seen_to: IsoTime | None = Field(None, alias="to", description="seen before this time")
    overdue: bool | None = None

    def conditions(self, city: CityConfig, now: datetime) -> list[ColumnElement[bool]]:
        conditions = []
        for column, value in ((Incident.status, self.status), (Incident.case_status, self.case_status),
                              (effective_code, self.code), (Incident.point_id, self.point),
                              (responsible_department, self.department), (Incident.camera_id, self.camera)):
            if value is not None:
                conditions.append(column.in_(_alternatives(value)))
        if self.point_type is not None:
            types = _alternatives(self.point_type)
            conditions.append(Incident.point_id.in_([p.id for p in city.points if p.type in types]))
        if self.district is not None:
            districts = _alternatives(self.district)
            conditions.append(Incident.point_id.in_([p.id for p in city.points if p.district in districts]))
        if self.seen_from is not None:
            conditions.append(Incident.last_seen >= self.seen_from)
        if self.seen_to is not None:
            conditions.append(Incident.first_seen < self.seen_to)
        if self.overdue is not None:
            overdue = overdue_condition(now)
            conditions.append(overdue if self.overdue else not_(overdue))
        return conditions


def list_incidents(session: Session, city: CityConfig, filters: IncidentFilter, limit: int, offset: int,
                   now: datetime) -> IncidentPage:
    """Newest first."""
    conditions = filters.conditions(city, now)
    total = session.scalar(select(func.count()).select_from(Incident).where(*conditions))
    rows = session.execute(
        select(Incident, overdue_condition(now).label("overdue"), Frame.annotated_sha256)
        .join(Frame, Frame.id == Incident.best_frame_id)
        .where(*conditions)
        .order_by(Incident.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    items = [IncidentSummary(**_summary_fields(incident, bool(overdue), thumbnail, city))
             for incident, overdue, thumbnail in rows]
    return IncidentPage(total=total, limit=limit, offset=offset, items=items)


def incident_detail(session: Session, city: CityConfig, rulebook: Rulebook, incident_id: int,
                    now: datetime) -> IncidentDetail:
    row = session.execute(
        select(Incident, overdue_condition(now).label("overdue")).where(Incident.id == incident_id)
    ).first()
    if row is None:
        raise APIError(404, "incident_not_found", f"no incident {incident_id}")
    incident, overdue = row
    frames = {f.id: f for f in session.scalars(select(Frame).where(
        Frame.id.in_({incident.first_frame_id, incident.best_frame_id, incident.last_frame_id})))}
    rule = rulebook.rules.get(incident.corrected_code or incident.code)
    point = _point(city, incident.point_id)
    try:
        camera_name = city.camera(incident.camera_id).name
    except UnknownCamera:
        camera_name = None
    return IncidentDetail(
        **_summary_fields(incident, bool(overdue), frames[incident.best_frame_id].annotated_sha256, city),
        name=rule.name if rule else None,
        name_en=rule.name_en if rule else None,
        standard=rule.standard if rule else None,
        camera_name=camera_name,
        point=point or PointInfo(id=incident.point_id),
        rule_department=incident.department,
        dwell_s=incident.dwell_s,
        clear_after_s=incident.clear_after_s,
        rulebook_version=incident.rulebook_version,
        cameras_version=incident.cameras_version,
        case=Case(
            reviewed_by=incident.reviewed_by, reviewed_at=incident.reviewed_at, reject_reason=incident.reject_reason,
            corrected_code=incident.corrected_code, corrected_box=incident.corrected_box,
            dispatched_to=incident.dispatched_to, dispatched_at=incident.dispatched_at,
            disposal_limit_h=incident.disposal_limit_h, resolved_at=incident.resolved_at,
            resolution_note=incident.resolution_note,
            resolution_photo_url=evidence_url(incident.resolution_photo_sha256),
            closed_at=incident.closed_at, close_verification=incident.close_verification,
        ),
        evidence=Evidence(first=_evidence_frame(frames[incident.first_frame_id]),
                          best=_evidence_frame(frames[incident.best_frame_id]),
                          last=_evidence_frame(frames[incident.last_frame_id])),
        sightings=_sightings(session, incident),
        history=[HistoryEntry(at=e.at, actor=e.actor, action=e.action, before=e.before, after=e.after,
                              comment=e.comment)
                 for e in session.scalars(select(AuditEntry).where(AuditEntry.incident_id == incident.id)
                                          .order_by(AuditEntry.id))],
    )


def _point(city: CityConfig, point_id: str) -> PointInfo | None:
    try:
        point = city.point(point_id)
    except KeyError:  # the camera config in force no longer lists it
        return None
    return PointInfo(id=point.id, name=point.name, type=point.type, department=point.department,
                     district=point.district, keeper=point.keeper)


def _summary_fields(incident: Incident, overdue: bool, thumbnail_sha: str | None, city: CityConfig) -> dict:
    point = _point(city, incident.point_id)
    return dict(
        id=incident.id, camera_id=incident.camera_id, code=incident.code,
        effective_code=incident.corrected_code or incident.code, point_id=incident.point_id,
        point_name=point.name if point else None, point_type=point.type if point else None,
        zone_id=incident.zone_id, status=incident.status, case_status=incident.case_status,
        review_outcome=incident.review_outcome, department=incident.dispatched_to or incident.department,
        first_seen=incident.first_seen, last_seen=incident.last_seen, violation_at=incident.violation_at,
        ended_at=incident.ended_at, hits=incident.hits, best_score=incident.best_score, box=list(incident.box),
        model_version=incident.model_version, deadline_at=incident.deadline_at, overdue=overdue,
        thumbnail_url=evidence_url(thumbnail_sha),
    )  # fmt: skip


def _evidence_frame(frame: Frame) -> EvidenceFrame:
    return EvidenceFrame(frame_id=frame.frame_id, captured_at=frame.captured_at, width=frame.width,
                         height=frame.height, image_url=evidence_url(frame.image_sha256),
                         annotated_url=evidence_url(frame.annotated_sha256))


def _sightings(session: Session, incident: Incident) -> SightingsSummary:
    count, first_at, last_at, best, mean = session.execute(
        select(func.count(Sighting.id), func.min(Frame.captured_at), func.max(Frame.captured_at),
               func.max(Sighting.score), func.avg(Sighting.score))
        .join(Frame, Frame.id == Sighting.frame_id)
        .where(Sighting.incident_id == incident.id)
    ).one()
    return SightingsSummary(count=count, first_at=first_at, last_at=last_at, best_score=best,
                            mean_score=None if mean is None else float(mean), misses=incident.misses)
