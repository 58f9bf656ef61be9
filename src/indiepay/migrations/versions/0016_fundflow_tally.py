"""a stored fund-flow bill keeps its rows' sums, so a run does not read the bill again

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-26 11:45:00

``reconciliation_bills.tally`` (JSON, fund-flow bills only): the bill's bookings added up when it was
stored (count and fen per item compared with the trade bill, other income and expense, rows). A big day's
fund-flow bill has two bookings an order — two million rows at a million orders, most of a minute in the
Python reader — and every run of the day (the first, re-runs, the neighbours' cross-day re-runs) compared
it by reading it again. NULL for trade bills and for fund-flow bills stored before this revision (those
are read as before). Plain ``ADD COLUMN``: no table is rebuilt.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('reconciliation_bills', sa.Column('tally', sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column('reconciliation_bills', 'tally')
