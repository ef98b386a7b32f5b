"""Database tables (SQLAlchemy 2). The schema itself is Alembic's: change a table here and add a
migration in `serve/migrations/versions` (a test checks the two agree)."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator):
    """Aware datetimes in, aware UTC datetimes out, stored as naive UTC on every backend
    (SQLite has no time zones; mixing conventions is how incidents end up an hour off)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: pass an aware one (the camera's time with its zone)")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class CaseStatus(StrEnum):
    """What people did with a violation: review, then the 数字城管 case steps (DOMAIN.md)."""

    NEW = "new"  # not reviewed yet (a pre-warning, or a violation awaiting review)
    CONFIRMED = "confirmed"  # an operator confirmed it (possibly corrected): ready to dispatch
    REJECTED = "rejected"  # a false alarm
    DISPATCHED = "dispatched"  # sent to a department: the disposal clock runs
    RESOLVED = "resolved"  # the department reports it handled
    CLOSED = "closed"  # verified and closed


class IncidentStatus(StrEnum):
    """What the cameras say about an incident. Review and dispatch (operators, departments) are a
    separate lifecycle, kept beside this one: a confirmed case still clears when the place is clean."""

    PREWARNING = "prewarning"  # seen, not yet for dwell_s with min_hits
    VIOLATION = "violation"  # lasted: a violation awaiting review
    DISMISSED = "dismissed"  # a pre-warning that went away
    CLEARED = "cleared"  # a violation no longer seen for clear_after_s: rectified


ACTIVE_STATUSES = (IncidentStatus.PREWARNING, IncidentStatus.VIOLATION)


class Base(DeclarativeBase):
    pass


class CameraState(Base):
    """One row per camera: the row frames of that camera lock, so they are applied one at a time."""

    __tablename__ = "camera_states"
    camera_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_captured_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    frames_seen: Mapped[int] = mapped_column(Integer, default=0)


class Frame(Base):
    """A frame a camera sent, once: (camera_id, frame_id) is what makes a repeat a repeat."""

    __tablename__ = "frames"
    __table_args__ = (
        UniqueConstraint("camera_id", "frame_id", name="uq_frames_camera_frame"),
        Index("ix_frames_captured_at_camera", "captured_at", "camera_id"),  # which cameras sent frames when
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    camera_id: Mapped[str] = mapped_column(String(64))
    frame_id: Mapped[str] = mapped_column(String(128))
    captured_at: Mapped[datetime] = mapped_column(UTCDateTime)  # the camera's clock
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)  # ours
    model_version: Mapped[str] = mapped_column(String(128))
    observations: Mapped[int] = mapped_column(Integer)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    # Evidence (serve/evidence.py, by sha256): the frame as the camera sent it, and annotated.
    image_sha256: Mapped[str | None] = mapped_column(String(64))
    annotated_sha256: Mapped[str | None] = mapped_column(String(64))
    detections: Mapped[list | None] = mapped_column(JSON)  # what the model saw (labels for retraining)
    response: Mapped[dict | None] = mapped_column(JSON)  # the first answer, returned again to a repeat


class Incident(Base):
    """One ongoing event at one place: every frame that sees it adds a sighting to the same row."""

    __tablename__ = "incidents"
    __table_args__ = (Index("ix_incidents_camera_status", "camera_id", "status"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    camera_id: Mapped[str] = mapped_column(String(64))
    code: Mapped[str] = mapped_column(String(32), index=True)
    point_id: Mapped[str] = mapped_column(String(64), index=True)
    zone_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # an IncidentStatus
    department: Mapped[str] = mapped_column(String(128))  # the rule's: who disposes of it
    point_department: Mapped[str] = mapped_column(String(128))  # the point's owner (谁主管、谁负责)
    # Latest box, relative (0–1) xyxy.
    x1: Mapped[float] = mapped_column(Float)
    y1: Mapped[float] = mapped_column(Float)
    x2: Mapped[float] = mapped_column(Float)
    y2: Mapped[float] = mapped_column(Float)
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    violation_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    hits: Mapped[int] = mapped_column(Integer)
    misses: Mapped[int] = mapped_column(Integer, default=0)
    best_score: Mapped[float] = mapped_column(Float)
    first_frame_id: Mapped[int] = mapped_column(ForeignKey("frames.id"))
    best_frame_id: Mapped[int] = mapped_column(ForeignKey("frames.id"))
    last_frame_id: Mapped[int] = mapped_column(ForeignKey("frames.id"))
    # The rule's timing as it was when the incident opened: a rulebook reload does not change it.
    dwell_s: Mapped[float] = mapped_column(Float)
    min_hits: Mapped[int] = mapped_column(Integer)
    clear_after_s: Mapped[float] = mapped_column(Float)
    disposal_limit_h: Mapped[float] = mapped_column(Float)
    # What produced it: content hashes of the rulebook and camera config, and the model's version.
    rulebook_version: Mapped[str] = mapped_column(String(64))
    cameras_version: Mapped[str] = mapped_column(String(64))
    model_version: Mapped[str] = mapped_column(String(128))

    # Review and dispatch (serve/review.py); every change is also written to the audit log.
    case_status: Mapped[CaseStatus] = mapped_column(String(16), default=CaseStatus.NEW, index=True)
    review_outcome: Mapped[str | None] = mapped_column(String(16))  # confirmed | rejected | corrected
    reviewed_by: Mapped[str | None] = mapped_column(String(64))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reject_reason: Mapped[str | None] = mapped_column(String(32))
    corrected_code: Mapped[str | None] = mapped_column(String(32))
    corrected_box: Mapped[list | None] = mapped_column(JSON)  # relative xyxy drawn by the operator
    dispatched_to: Mapped[str | None] = mapped_column(String(128))
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    deadline_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolution_note: Mapped[str | None] = mapped_column(Text)
    resolution_photo_sha256: Mapped[str | None] = mapped_column(String(64))
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    close_verification: Mapped[str | None] = mapped_column(String(16))  # camera | inspection

    sightings: Mapped[list[Sighting]] = relationship(back_populates="incident", order_by="Sighting.id")

    @property
    def box(self) -> tuple[float, float, float, float]:
        return (self.x1, self.y1, self.x2, self.y2)

    @box.setter
    def box(self, value: tuple[float, float, float, float]) -> None:
        self.x1, self.y1, self.x2, self.y2 = (float(v) for v in value)


class Sighting(Base):
    """One observation of an incident in one frame (the incident's history and evidence trail)."""

    __tablename__ = "sightings"
    __table_args__ = (UniqueConstraint("incident_id", "frame_id", name="uq_sightings_incident_frame"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    frame_id: Mapped[int] = mapped_column(ForeignKey("frames.id"), index=True)
    x1: Mapped[float] = mapped_column(Float)
    y1: Mapped[float] = mapped_column(Float)
    x2: Mapped[float] = mapped_column(Float)
    y2: Mapped[float] = mapped_column(Float)
    score: Mapped[float] = mapped_column(Float)
    evidence: Mapped[list[int]] = mapped_column(JSON)  # indices into the frame's detections

    incident: Mapped[Incident] = relationship(back_populates="sightings")


class User(Base):
    """A person: operator, supervisor or admin (serve/auth.py)."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(128))
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AuthSession(Base):
    """A login: the token's digest, never the token."""

    __tablename__ = "auth_sessions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class CameraKey(Base):
    """A camera's API key (digest). Rotating a key revokes the camera's older ones."""

    __tablename__ = "camera_keys"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    camera_id: Mapped[str] = mapped_column(String(64), index=True)
    key_digest: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(64))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AuditEntry(Base):
    """Who did what, when, with the state before and after: every review and admin action."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"), index=True)
    before: Mapped[dict | None] = mapped_column(JSON)
    after: Mapped[dict | None] = mapped_column(JSON)
    comment: Mapped[str | None] = mapped_column(Text)
