"""refunds record the channel fee the bill says was returned

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-26 10:00:00

``refunds.channel_fee_returned``: the channel's fee returned on the refund, in fen, as the day's trade bill
prints it (WeChat Pay's 手续费 on refund rows), written back by the reconciliation fee job like
``payments.channel_fee``; NULL until a bill was reconciled. Added with a plain ``ADD COLUMN``: the table is
never rebuilt, so the retention triggers of 0005 on ``refunds`` stay in place on SQLite.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('refunds', sa.Column('channel_fee_returned', sa.BigInteger(), nullable=True))


def downgrade() -> None:
    op.drop_column('refunds', 'channel_fee_returned')
