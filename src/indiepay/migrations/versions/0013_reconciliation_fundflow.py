"""reconciliation fund flow: a run records how the day's fund-flow bill compares with its trade bill

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-26 09:00:00

WeChat Pay fund-flow bills are stored in ``reconciliation_bills`` like trade bills (``kind`` fundflow; the
table already keys bills by account, day and kind). The run gains one nullable JSON column, ``fundflow``:
the trade bill's totals and, once the fund-flow bill is stored, its totals and the disagreements
(``indiepay.reconciliation.fundflow``); NULL for Alipay runs and for runs from before this revision. Added
with a plain ``ADD COLUMN`` (no table rebuild), so no trigger of any table is touched.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('reconciliation_runs', sa.Column('fundflow', sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column('reconciliation_runs', 'fundflow')
