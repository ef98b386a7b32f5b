"""How a closed case was verified; frames by capture time (the pass-rate report's observed days).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(sa.Column("close_verification", sa.String(16), nullable=True))
    op.create_index("ix_frames_captured_at_camera", "frames", ["captured_at", "camera_id"])


def downgrade() -> None:
    op.drop_index("ix_frames_captured_at_camera", "frames")
    with op.batch_alter_table("incidents") as batch:
        batch.drop_column("close_verification")
