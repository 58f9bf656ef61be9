"""indexes that let a reconciliation run read one window of an account's days, not its whole history

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-26 11:30:00

A run places each payment by the instant its money moved (paid, for a succeeded payment; created, for the
rest) and each refund likewise (succeeded, or created). Those are expressions no index serves, so the
window's rows were found by reading every payment the account ever took — and, for refunds, probing the
refunds of each of them: a cost that grew with the account's age, every day. The run now also states
what the placement implies — created, or else paid (succeeded) inside the window — which these indexes
answer: ``payments (channel_account_id, paid_at, created_at)`` next to the existing
``(channel_account_id, created_at)``, and ``refunds (created_at)`` / ``refunds (succeeded_at, created_at)``
(the creation instant in the settlement index tells rows created elsewhere apart without reading the
table). Plain ``CREATE INDEX``: no table is rebuilt, so the retention triggers of 0005 stay in place on
SQLite.
"""

from __future__ import annotations

from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_payments_account_paid', 'payments', ['channel_account_id', 'paid_at', 'created_at'])
    op.create_index('ix_refunds_created', 'refunds', ['created_at'])
    op.create_index('ix_refunds_succeeded', 'refunds', ['succeeded_at', 'created_at'])


def downgrade() -> None:
    op.drop_index('ix_refunds_succeeded', table_name='refunds')
    op.drop_index('ix_refunds_created', table_name='refunds')
    op.drop_index('ix_payments_account_paid', table_name='payments')
