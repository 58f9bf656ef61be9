"""risk: each merchant's counted volume per account and business day, kept by triggers on payments

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-26 14:50:00

Admission summed every payment a merchant created today on each of its payments (a cost that grew with the
merchant's day). ``payment_day_usage`` holds that sum per (merchant, mode, business day, account), kept by
triggers on ``payments`` so that every writer keeps it — the API, the worker, an import, a test:

* a payment inserted in a counted status (pending, succeeded) adds its amount to its creation day;
* a status change out of the counted set subtracts it, back into it (a late payment) adds it again.

Payments are never deleted (a guard trigger refuses it), nor do their amount, day, merchant or account
change after creation, so nothing else can move the sums.

The business day is Asia/Shanghai's: UTC+8, without daylight saving since 1992. Rows for payments created
in the last two days are filled from the table as it stands (older days are never read).
"""

# ruff: noqa: S608 -- the SQL is assembled from this module's own constants (the counted statuses, the
# dialect's day expression); nothing from outside reaches it.

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None

COUNTED = "('pending', 'succeeded')"

SQLITE_TRIGGERS = [
    f"""
    CREATE TRIGGER payment_day_usage_insert AFTER INSERT ON payments
    WHEN NEW.status IN {COUNTED}
    BEGIN
        INSERT INTO payment_day_usage (merchant_id, livemode, business_date, channel_account_id, amount)
        VALUES (NEW.merchant_id, NEW.livemode, date(NEW.created_at, '+8 hours'), NEW.channel_account_id,
                NEW.amount)
        ON CONFLICT (merchant_id, livemode, business_date, channel_account_id)
        DO UPDATE SET amount = amount + excluded.amount;
    END
    """,
    f"""
    CREATE TRIGGER payment_day_usage_status AFTER UPDATE OF status ON payments
    WHEN (OLD.status IN {COUNTED}) <> (NEW.status IN {COUNTED})
    BEGIN
        INSERT INTO payment_day_usage (merchant_id, livemode, business_date, channel_account_id, amount)
        VALUES (NEW.merchant_id, NEW.livemode, date(NEW.created_at, '+8 hours'), NEW.channel_account_id,
                CASE WHEN NEW.status IN {COUNTED} THEN NEW.amount ELSE -NEW.amount END)
        ON CONFLICT (merchant_id, livemode, business_date, channel_account_id)
        DO UPDATE SET amount = amount + excluded.amount;
    END
    """,
]

POSTGRES_FUNCTION = f"""
CREATE FUNCTION payment_day_usage_keep() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    row_ payments%ROWTYPE;
    delta bigint;
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.status NOT IN {COUNTED} THEN RETURN NULL; END IF;
        row_ := NEW; delta := NEW.amount;
    ELSE
        IF (OLD.status IN {COUNTED}) = (NEW.status IN {COUNTED}) THEN RETURN NULL; END IF;
        row_ := NEW;
        delta := CASE WHEN NEW.status IN {COUNTED} THEN NEW.amount ELSE -NEW.amount END;
    END IF;
    INSERT INTO payment_day_usage AS usage (merchant_id, livemode, business_date, channel_account_id, amount)
    VALUES (row_.merchant_id, row_.livemode,
            to_char((row_.created_at AT TIME ZONE 'UTC') + interval '8 hours', 'YYYY-MM-DD'),
            row_.channel_account_id, delta)
    ON CONFLICT (merchant_id, livemode, business_date, channel_account_id)
    DO UPDATE SET amount = usage.amount + EXCLUDED.amount;
    RETURN NULL;
END $$
"""
POSTGRES_TRIGGER = """
CREATE TRIGGER payment_day_usage_keep AFTER INSERT OR UPDATE OF status ON payments
FOR EACH ROW EXECUTE FUNCTION payment_day_usage_keep()
"""


def upgrade() -> None:
    op.create_table(
        'payment_day_usage',
        sa.Column('merchant_id', sa.String(length=40), nullable=False),
        sa.Column('livemode', sa.Boolean(), nullable=False),
        sa.Column('business_date', sa.String(length=10), nullable=False),
        sa.Column('channel_account_id', sa.String(length=40), nullable=False),
        sa.Column('amount', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('merchant_id', 'livemode', 'business_date', 'channel_account_id'),
    )
    op.create_index('ix_payment_day_usage_account_day', 'payment_day_usage',
                    ['channel_account_id', 'business_date'])
    postgres = op.get_bind().dialect.name == "postgresql"
    day = ("to_char((created_at AT TIME ZONE 'UTC') + interval '8 hours', 'YYYY-MM-DD')" if postgres
           else "date(created_at, '+8 hours')")
    since = "now() - interval '2 days'" if postgres else "datetime('now', '-2 days')"
    op.execute(f"""
        INSERT INTO payment_day_usage (merchant_id, livemode, business_date, channel_account_id, amount)
        SELECT merchant_id, livemode, {day}, channel_account_id, sum(amount) FROM payments
        WHERE created_at >= {since} AND status IN {COUNTED}
        GROUP BY merchant_id, livemode, {day}, channel_account_id
    """)
    if postgres:
        op.execute(POSTGRES_FUNCTION)
        op.execute(POSTGRES_TRIGGER)
    else:
        for trigger in SQLITE_TRIGGERS:
            op.execute(trigger)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS payment_day_usage_keep ON payments")
        op.execute("DROP FUNCTION IF EXISTS payment_day_usage_keep()")
    else:
        for name in ("payment_day_usage_insert", "payment_day_usage_status"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_index('ix_payment_day_usage_account_day', table_name='payment_day_usage')
    op.drop_table('payment_day_usage')
