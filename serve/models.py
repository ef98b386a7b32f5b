"""Database tables (SQLAlchemy 2). The schema itself is Alembic's: change a table here and add a
migration in `serve/migrations/versions` (a test checks the two agree)."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Index, Integer, String, UniqueConstraint
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
    __table_args__ = (UniqueConstraint("camera_id", "frame_id", name="uq_frames_camera_frame"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    camera_id: Mapped[str] = mapped_column(String(64))
    frame_id: Mapped[str] = mapped_column(String(128))
    captured_at: Mapped[datetime] = mapped_column(UTCDateTime)  # the camera's clock
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)  # ours
    model_version: Mapped[str] = mapped_column(String(128))
    observations: Mapped[int] = mapped_column(Integer)


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
