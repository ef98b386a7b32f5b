"""Review and dispatch columns on incidents; users, sessions, camera keys, audit log; frame evidence.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

def _incident_columns() -> list[sa.Column]:
    # Fresh Column objects per call: a Column belongs to one table once attached.
    return [
        sa.Column("case_status", sa.String(16), nullable=False, server_default="new"),
        sa.Column("review_outcome", sa.String(16), nullable=True),
        sa.Column("reviewed_by", sa.String(64), nullable=True),
        sa.Column("reviewed_at", sa.DateTime(), nullable=True),
        sa.Column("reject_reason", sa.String(32), nullable=True),
        sa.Column("corrected_code", sa.String(32), nullable=True),
        sa.Column("corrected_box", sa.JSON(), nullable=True),
        sa.Column("dispatched_to", sa.String(128), nullable=True),
        sa.Column("dispatched_at", sa.DateTime(), nullable=True),
        sa.Column("deadline_at", sa.DateTime(), nullable=True),
        sa.Column("resolved_at", sa.DateTime(), nullable=True),
        sa.Column("resolution_note", sa.Text(), nullable=True),
        sa.Column("resolution_photo_sha256", sa.String(64), nullable=True),
        sa.Column("closed_at", sa.DateTime(), nullable=True),
    ]


def _frame_columns() -> list[sa.Column]:
    return [
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("image_sha256", sa.String(64), nullable=True),
        sa.Column("annotated_sha256", sa.String(64), nullable=True),
        sa.Column("detections", sa.JSON(), nullable=True),
        sa.Column("response", sa.JSON(), nullable=True),
    ]


def upgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        for column in _incident_columns():
            batch.add_column(column)
        batch.create_index("ix_incidents_case_status", ["case_status"])
    with op.batch_alter_table("frames") as batch:
        for column in _frame_columns():
            batch.add_column(column)
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("username", sa.String(64), nullable=False, unique=True),
        sa.Column("display_name", sa.String(128), nullable=False),
        sa.Column("password_hash", sa.String(256), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "auth_sessions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("token_digest", sa.String(64), nullable=False, unique=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("revoked", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_auth_sessions_user_id", "auth_sessions", ["user_id"])
    op.create_table(
        "camera_keys",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("camera_id", sa.String(64), nullable=False),
        sa.Column("key_digest", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_camera_keys_camera_id", "camera_keys", ["camera_id"])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("incident_id", sa.Integer(), sa.ForeignKey("incidents.id"), nullable=True),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_index("ix_audit_log_incident_id", "audit_log", ["incident_id"])


def downgrade() -> None:
    op.drop_table("audit_log")
    op.drop_table("camera_keys")
    op.drop_table("auth_sessions")
    op.drop_table("users")
    with op.batch_alter_table("frames") as batch:
        for column in _frame_columns():
            batch.drop_column(column.name)
    with op.batch_alter_table("incidents") as batch:
        batch.drop_index("ix_incidents_case_status")
        for column in _incident_columns():
            batch.drop_column(column.name)
