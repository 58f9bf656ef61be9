"""Statements from a real ledger on SQLite and PostgreSQL: hand-computed figures, the month's edges in
Beijing time, reconciliation against sums taken straight from the postings, draft → final, and a final
statement that never changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from indiepay.core.clock import FixedClock
from indiepay.core.errors import InvalidRequest, NotFound, Unprocessable
from indiepay.db.engine import Database
from indiepay.ledger import accounts as acc
from indiepay.ledger import fees
from indiepay.ledger import postings as p
from indiepay.ledger import service as ledger
from indiepay.ledger.models import LedgerAccount, LedgerEntry, LedgerPosting
from indiepay.statements import service
from indiepay.statements.models import Statement
from indiepay.statements.service import StatementUnbalanced
from tests.statements.conftest import add_merchant, post

M = "mch_stmt"
OTHER = "mch_other"
NOV_START = datetime(2026, 10, 31, 16, 0, tzinfo=UTC)  # 2026-11-01 00:00 Beijing
NOV_END = datetime(2026, 11, 30, 16, 0, tzinfo=UTC)  # 2026-12-01 00:00 Beijing
MID = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)


def pay(mode: p.Mode, channel: str, amount: int, channel_fee: int, platform_fee: int,
        merchant_id: str = M) -> p.PostingPlan:
    return p.payment_succeeded(mode=mode, channel=channel, merchant_id=merchant_id, amount=amount,
                               channel_fee=channel_fee, platform_fee=platform_fee)


def refund(mode: p.Mode, channel: str, amount: int, paid: int, channel_fee: int, platform_fee: int,
           before: int = 0) -> p.PostingPlan:
    return p.refund_succeeded(
        mode=mode, channel=channel, merchant_id=M, amount=amount,
        channel_fee_returned=fees.refund_fee(amount=paid, fee=channel_fee, refunded_before=before, refund=amount),
        platform_fee_returned=fees.refund_fee(amount=paid, fee=platform_fee, refunded_before=before, refund=amount))


def build_november(db: Database) -> None:
    """The month the expected figures below are hand-computed for."""
    add_merchant(db, M)
    add_merchant(db, OTHER, name="Other Shop")
    post(db, "payment_succeeded:pay_oct", pay("platform", "wechatpay", 5_000, 30, 20), NOV_START - timedelta(
        microseconds=1))  # October: only the opening balance
    post(db, "payment_succeeded:pay_1", pay("platform", "wechatpay", 10_000, 60, 40), NOV_START)  # first instant
    alipay = post(db, "payment_succeeded:pay_2", pay("platform", "alipay", 20_000, 120, 80),
                  datetime(2026, 11, 10, tzinfo=UTC))
    post(db, "payment_succeeded:pay_3", pay("independent", "wechatpay", 30_000, 180, 30),
         datetime(2026, 11, 11, tzinfo=UTC))
    post(db, "refund_succeeded:re_1", refund("platform", "wechatpay", 2_500, 10_000, 60, 40),  # returns 15 + 10
         datetime(2026, 11, 12, tzinfo=UTC))
    post(db, "refund_succeeded:re_2", refund("independent", "wechatpay", 30_000, 30_000, 180, 30),
         datetime(2026, 11, 13, tzinfo=UTC))
    post(db, "settlement:mch_stmt:2026-11-13", p.settlement(merchant_id=M, amount=9_000),
         datetime(2026, 11, 13, 1, tzinfo=UTC))
    post(db, "payout_paid:po_1", p.payout_paid(merchant_id=M, amount=9_000, source_channel="wechatpay"),
         datetime(2026, 11, 14, tzinfo=UTC))
    post(db, "settlement:mch_stmt:2026-11-14", p.settlement(merchant_id=M, amount=300),
         datetime(2026, 11, 14, 1, tzinfo=UTC))
    post(db, "payout_failed:po_2", p.payout_failed(merchant_id=M, amount=300), datetime(2026, 11, 15, tzinfo=UTC))
    post(db, "fee:mch_stmt:2026-11", p.fee(merchant_id=M, amount=500), datetime(2026, 11, 15, 1, tzinfo=UTC))
    post(db, "profit_share:ps_1", p.profit_share(merchant_id=M, distributor_id="dist_1", amount=1_000),
         datetime(2026, 11, 16, tzinfo=UTC))
    post(db, "correction:goodwill", p.correction(  # credit the merchant 200
        lines=[(acc.merchant_payable(M), -200), (acc.platform_fee_revenue(), 200)], merchant_id=M,
        description="goodwill credit"), datetime(2026, 11, 17, tzinfo=UTC))
    post(db, "correction:moved", p.correction(  # filed under no merchant, moves 50 from M to OTHER
        lines=[(acc.merchant_payable(M), 50), (acc.merchant_payable(OTHER), -50)],
        description="posted against the wrong merchant"), datetime(2026, 11, 18, tzinfo=UTC))
    with db.transaction() as session:
        ledger.reverse(session, FixedClock(MID), alipay.id, "test order")  # takes pay_2 off November
    post(db, "payment_succeeded:pay_4", pay("independent", "alipay", 1_000, 6, 1), NOV_END - timedelta(seconds=1))
    post(db, "payment_succeeded:pay_dec", pay("platform", "wechatpay", 7_000, 42, 28), NOV_END)  # December
    post(db, "payment_succeeded:pay_other", pay("platform", "wechatpay", 99_000, 594, 396, merchant_id=OTHER), MID)


def direct_changes(db: Database, start: datetime, end: datetime) -> dict[str, int]:
    """Natural change of M's accounts per kind, summed here in Python from every posting."""
    with db.read() as session:
        rows = session.execute(select(LedgerAccount.kind, LedgerPosting.amount, LedgerEntry.occurred_at)
                               .join(LedgerPosting, LedgerPosting.account_id == LedgerAccount.id)
                               .join(LedgerEntry, LedgerEntry.id == LedgerPosting.entry_id)
                               .where(LedgerAccount.merchant_id == M)).all()
    changes: dict[str, int] = {}
    for kind, amount, occurred in rows:
        if start <= occurred.replace(tzinfo=UTC) < end:
            changes[kind] = changes.get(kind, 0) + amount
    return {kind: acc.natural_balance(kind, total) for kind, total in changes.items()}


def test_november_figures_are_the_hand_computed_ones(db: Database) -> None:
    build_november(db)
    issued = service.issue(db, FixedClock(MID), merchant_id=M, month="2026-11")
    body = issued.body
    lines = {(line["mode"], line["channel"]): line for line in body["lines"]}
    assert list(lines) == [("platform", "alipay"), ("platform", "wechatpay"), ("independent", "alipay"),
                           ("independent", "wechatpay")]
    wechat = lines[("platform", "wechatpay")]
    assert (wechat["payment_count"], wechat["refund_count"]) == (1, 1)
    assert (wechat["gross"], wechat["refunds"]) == (10_000, 2_500)
    assert (wechat["channel_fee_charged"], wechat["channel_fee_returned"], wechat["channel_fee"]) == (60, 15, 45)
    assert (wechat["platform_fee_charged"], wechat["platform_fee_returned"], wechat["platform_fee"]) == (40, 10, 30)
    assert wechat["net"] == 10_000 - 2_500 - 45 - 30 == 7_425
    reversed_alipay = lines[("platform", "alipay")]
    assert reversed_alipay["payment_count"] == 0 and reversed_alipay["gross"] == 0 and reversed_alipay["net"] == 0
    assert lines[("independent", "wechatpay")]["net"] == 0
    assert lines[("independent", "alipay")]["net"] == 1_000 - 6 - 1
    summary = body["summary"]
    assert (summary["payment_count"], summary["refund_count"]) == (3, 2)
    assert (summary["gross"], summary["refunds"], summary["channel_fee"], summary["platform_fee"]) == (
        41_000, 32_500, 51, 31)
    assert summary["net"] == 8_418
    assert (summary["settled"], summary["paid_out"], summary["payouts_returned"]) == (9_300, 9_000, 300)
    assert (summary["other_fees"], summary["profit_shared"], summary["adjustments"]) == (500, 1_000, 150)
    modes = {m["mode"]: m for m in body["by_mode"]}
    assert modes["platform"]["net"] == 7_425 and modes["independent"]["platform_fee"] == 1
    payable = body["reconciliation"]["merchant_payable"]
    change = 7_425 - 1 - 500 - 9_300 + 300 - 1_000 + 150
    assert payable == {"opening": 5_000 - 30 - 20, "change": change, "closing": 4_950 + change}
    assert body["reconciliation"]["balanced"] is True
    assert body["ledger"]["entry_count"] == 15 and body["ledger"]["adjustment_count"] == 2
    assert body["period_start"] == "2026-10-31T16:00:00Z" and body["period_end"] == "2026-11-30T16:00:00Z"


def test_statement_totals_equal_the_ledger(db: Database) -> None:
    build_november(db)
    body = service.issue(db, FixedClock(MID), merchant_id=M, month="2026-11").body
    direct = direct_changes(db, NOV_START, NOV_END)
    summary, lines = body["summary"], body["lines"]
    for name in ("payment_count", "refund_count", "gross", "refunds", "channel_fee", "platform_fee", "net"):
        assert summary[name] == sum(line[name] for line in lines), name
    independent = next(m for m in body["by_mode"] if m["mode"] == "independent")
    assert direct["memo_sales"] == independent["gross"] == 31_000
    assert direct["memo_refunds"] == independent["refunds"] == 30_000
    assert direct["memo_channel_fee"] == independent["channel_fee"] == 6
    assert direct["memo_clearing"] == independent["gross"] - independent["refunds"] - independent["channel_fee"]
    platform = next(m for m in body["by_mode"] if m["mode"] == "platform")
    assert direct["merchant_payable"] == (platform["net"] - independent["platform_fee"] - summary["other_fees"]
                                         - summary["settled"] + summary["payouts_returned"]
                                         - summary["profit_shared"] + summary["adjustments"])
    checks = {c["account"]: c for c in body["reconciliation"]["accounts"]}
    for kind, change in direct.items():
        if kind in checks:
            assert checks[kind]["ledger_change"] == change and checks[kind]["ok"]


def test_draft_then_final_and_final_never_changes(db: Database) -> None:
    add_merchant(db, M)
    post(db, "payment_succeeded:pay_1", pay("platform", "wechatpay", 10_000, 60, 40), MID)
    draft = service.issue(db, FixedClock(MID), merchant_id=M, month="2026-11")
    assert draft.status == "draft" and draft.body["summary"]["gross"] == 10_000
    post(db, "payment_succeeded:pay_2", pay("platform", "wechatpay", 1_000, 6, 4), MID + timedelta(hours=1))
    redraft = service.issue(db, FixedClock(NOV_END - timedelta(microseconds=1)), merchant_id=M, month="2026-11")
    assert redraft.status == "draft" and redraft.id == draft.id and redraft.body["summary"]["gross"] == 11_000
    # the month has ended, but the settlement of its last day is posted at 02:00 on the 1st, dated the 30th:
    # the statement stays a draft for FINALISE_AFTER so that it is not frozen without it
    post(db, "settlement:mch_stmt:2026-11-30", p.settlement(merchant_id=M, amount=10_000),
         NOV_END - timedelta(microseconds=1))
    ended = service.issue(db, FixedClock(NOV_END + service.FINALISE_AFTER - timedelta(microseconds=1)),
                          merchant_id=M, month="2026-11")
    assert ended.status == "draft" and ended.body["summary"]["settled"] == 10_000
    final = service.issue(db, FixedClock(NOV_END + service.FINALISE_AFTER), merchant_id=M, month="2026-11")
    assert final.status == "final" and final.id == draft.id and final.body["summary"]["gross"] == 11_000
    assert final.body_sha256 == service.body_sha256(final.body)
    post(db, "payment_succeeded:pay_late", pay("platform", "wechatpay", 5_000, 30, 20), MID)  # posted late
    again = service.issue(db, FixedClock(NOV_END + timedelta(days=40)), merchant_id=M, month="2026-11")
    assert again == final  # stored body, hash and generation time: never regenerated
    with db.read() as session:
        rows = session.scalars(select(Statement)).all()
    assert len(rows) == 1
    assert rows[0].status == "final" and service.body_sha256(rows[0].body) == rows[0].body_sha256 == final.body_sha256


def test_an_empty_past_month_is_final_and_balanced(db: Database) -> None:
    add_merchant(db, M)
    issued = service.issue(db, FixedClock(MID), merchant_id=M, month="2026-10")
    assert issued.status == "final" and issued.body["lines"] == [] and issued.body["summary"]["net"] == 0
    assert issued.body["reconciliation"]["balanced"] is True


def test_bad_requests(db: Database) -> None:
    add_merchant(db, M)
    clock = FixedClock(MID)
    for month in ("2026-13", "abc", "2026-1", "1999-12", "2026-00", ""):
        with pytest.raises(InvalidRequest) as bad:
            service.issue(db, clock, merchant_id=M, month=month)
        assert bad.value.code == "invalid_month", month
    with pytest.raises(Unprocessable) as future:
        service.issue(db, clock, merchant_id=M, month="2026-12")
    assert future.value.code == "month_in_future"
    # 2026-12 starts at 2026-11-30 16:00 UTC: the Beijing month is open from that instant
    assert service.issue(db, FixedClock(NOV_END), merchant_id=M, month="2026-12").status == "draft"
    with pytest.raises(InvalidRequest) as currency:
        service.issue(db, clock, merchant_id=M, month="2026-11", currency="USD")
    assert currency.value.code == "invalid_currency"
    with pytest.raises(NotFound) as missing:
        service.issue(db, clock, merchant_id="mch_nobody", month="2026-11")
    assert missing.value.code == "merchant_not_found"


def test_a_month_the_figures_cannot_explain_is_refused(db: Database) -> None:
    add_merchant(db, M)
    post(db, "payment_succeeded:pay_1", pay("platform", "wechatpay", 10_000, 60, 40), MID)
    # a settlement-shaped entry filed under another merchant but moving M's money: not M's entry, yet it
    # changes M's payable — the statement must not silently ignore it
    post(db, "settlement:misfiled", p.plan("settlement", [(acc.merchant_payable(M), 100),
                                                          (acc.payout_in_transit(M), -100)], merchant_id=OTHER), MID)
    with pytest.raises(StatementUnbalanced) as refused:
        service.issue(db, FixedClock(MID), merchant_id=M, month="2026-11")
    assert refused.value.code == "statement_unbalanced"
    assert refused.value.details["accounts"][0]["account"] == "merchant_payable"
    with db.read() as session:
        assert session.scalars(select(Statement)).all() == []


def test_entries_committed_while_the_month_is_summed_do_not_unbalance_it(db: Database,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """One snapshot for the whole read: a payment committed between reading the entries and summing the
    accounts directly shows up in neither (and in the next statement), never in just one of them."""
    from indiepay.statements import repository

    add_merchant(db, M)
    post(db, "payment_succeeded:pay_1", pay("platform", "wechatpay", 10_000, 60, 40), MID)
    original = repository.own_account_changes

    def with_a_concurrent_payment(*args: object, **kwargs: object) -> object:
        post(db, "payment_succeeded:pay_2", pay("platform", "wechatpay", 3_000, 18, 12), MID)
        return original(*args, **kwargs)

    monkeypatch.setattr(repository, "own_account_changes", with_a_concurrent_payment)
    issued = service.issue(db, FixedClock(MID), merchant_id=M, month="2026-11")
    assert issued.body["summary"]["gross"] == 10_000 and issued.body["reconciliation"]["balanced"]
    monkeypatch.setattr(repository, "own_account_changes", original)
    assert service.issue(db, FixedClock(MID), merchant_id=M, month="2026-11").body["summary"]["gross"] == 13_000
