"""Batch posting: one batch equals the same posts one by one (chain, balances), replays inside a batch, and
the account-id cache never keeps an id from a rolled-back transaction."""

from __future__ import annotations

import pytest

from indiepay.core.clock import FixedClock
from indiepay.core.errors import Conflict
from indiepay.db.engine import Database
from indiepay.ledger import service
from indiepay.ledger.appender import ACCOUNT_IDS, PostRequest
from indiepay.ledger.models import LedgerAccount
from indiepay.ledger.verify import verify
from tests.ledger.test_service import T0, counts, pay


def test_a_batch_posts_each_event_once_and_chains(db: Database) -> None:
    clock = FixedClock(T0)
    with db.transaction() as session:
        service.post(session, clock, event_key="payment_succeeded:first", plan=pay(1_000))
    batch = [PostRequest(f"payment_succeeded:b{n}", pay(100 + n, merchant_id=f"mch_{n % 7}")) for n in range(300)]
    batch.append(PostRequest("payment_succeeded:b5", pay(105, merchant_id="mch_5")))  # a replay inside the batch
    batch.append(PostRequest("payment_succeeded:first", pay(1_000)))  # a replay of an earlier transaction
    with db.transaction() as session:
        posted = service.post_many(session, clock, batch)
    assert [e.sequence for e in posted[:300]] == list(range(2, 302))
    assert posted[300].replayed and posted[300].id == posted[5].id
    assert posted[301].replayed and posted[301].sequence == 1
    assert counts(db)[0] == 301
    with db.read() as session:
        assert verify(session).ok
        assert sum(b.balance for b in service.balances(session)) == 0
    with pytest.raises(Conflict) as error, db.transaction() as session:
        service.post_many(session, clock, [PostRequest("payment_succeeded:new", pay(1)),
                                           PostRequest("payment_succeeded:new", pay(2))])
    assert error.value.code == "ledger_event_mismatch"
    assert counts(db)[0] == 301  # nothing of the refused batch was written


def test_account_ids_are_cached_only_after_commit(db: Database) -> None:
    clock = FixedClock(T0)
    with pytest.raises(RuntimeError), db.transaction() as session:
        service.post(session, clock, event_key="payment_succeeded:gone", plan=pay(merchant_id="mch_rolled_back"))
        raise RuntimeError("the unit of work fails after posting")
    assert "merchant_payable:mch_rolled_back:CNY" not in ACCOUNT_IDS.known(db.engine)
    with db.transaction() as session:  # the account is created again, for real this time
        service.post(session, clock, event_key="payment_succeeded:kept", plan=pay(merchant_id="mch_rolled_back"))
    cached = ACCOUNT_IDS.known(db.engine)["merchant_payable:mch_rolled_back:CNY"]
    with db.read() as session:
        assert session.get(LedgerAccount, cached) is not None
        assert verify(session).ok
