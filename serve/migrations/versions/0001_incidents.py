"""Frames, incidents and their sightings; the per-camera lock row.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op


revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "camera_states",
        sa.Column("camera_id", sa.String(64), primary_key=True),
        sa.Column("last_captured_at", sa.DateTime(), nullable=True),
        sa.Column("frames_seen", sa.Integer(), nullable=False),
    )
    op.create_table(
        "frames",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("camera_id", sa.String(64), nullable=False),
        sa.Column("frame_id", sa.String(128), nullable=False),
        sa.Column("captured_at", sa.DateTime(), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("model_version", sa.String(128), nullable=False),
        sa.Column("observations", sa.Integer(), nullable=False),
        sa.UniqueConstraint("camera_id", "frame_id", name="uq_frames_camera_frame"),
    )
    op.create_table(
        "incidents",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("camera_id", sa.String(64), nullable=False),
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("point_id", sa.String(64), nullable=False),
        sa.Column("zone_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("department", sa.String(128), nullable=False),
        sa.Column("point_department", sa.String(128), nullable=False),
        sa.Column("x1", sa.Float(), nullable=False),
        sa.Column("y1", sa.Float(), nullable=False),
        sa.Column("x2", sa.Float(), nullable=False),
        sa.Column("y2", sa.Float(), nullable=False),
        sa.Column("first_seen", sa.DateTime(), nullable=False),
        sa.Column("last_seen", sa.DateTime(), nullable=False),
        sa.Column("violation_at", sa.DateTime(), nullable=True),
        sa.Column("ended_at", sa.DateTime(), nullable=True),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.Column("misses", sa.Integer(), nullable=False),
        sa.Column("best_score", sa.Float(), nullable=False),
        sa.Column("first_frame_id", sa.Integer(), sa.ForeignKey("frames.id"), nullable=False),
        sa.Column("best_frame_id", sa.Integer(), sa.ForeignKey("frames.id"), nullable=False),
        sa.Column("last_frame_id", sa.Integer(), sa.ForeignKey("frames.id"), nullable=False),
        sa.Column("dwell_s", sa.Float(), nullable=False),
        sa.Column("min_hits", sa.Integer(), nullable=False),
        sa.Column("clear_after_s", sa.Float(), nullable=False),
        sa.Column("disposal_limit_h", sa.Float(), nullable=False),
        sa.Column("rulebook_version", sa.String(64), nullable=False),
        sa.Column("cameras_version", sa.String(64), nullable=False),
        sa.Column("model_version", sa.String(128), nullable=False),
    )
    op.create_index("ix_incidents_camera_status", "incidents", ["camera_id", "status"])
    op.create_index("ix_incidents_code", "incidents", ["code"])
    op.create_index("ix_incidents_point_id", "incidents", ["point_id"])
    op.create_table(
        "sightings",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("incident_id", sa.Integer(), sa.ForeignKey("incidents.id"), nullable=False),
        sa.Column("frame_id", sa.Integer(), sa.ForeignKey("frames.id"), nullable=False),
        sa.Column("x1", sa.Float(), nullable=False),
        sa.Column("y1", sa.Float(), nullable=False),
        sa.Column("x2", sa.Float(), nullable=False),
        sa.Column("y2", sa.Float(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.UniqueConstraint("incident_id", "frame_id", name="uq_sightings_incident_frame"),
    )
    op.create_index("ix_sightings_incident_id", "sightings", ["incident_id"])
    op.create_index("ix_sightings_frame_id", "sightings", ["frame_id"])


def downgrade() -> None:
    op.drop_table("sightings")
    op.drop_table("incidents")
    op.drop_table("frames")
    op.drop_table("camera_states")
