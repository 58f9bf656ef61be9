"""KEK rotation over a real database (SQLite and PostgreSQL): A → B, crash and resume, concurrent
credential changes, retirement, moved ciphertexts and missing keys."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from indiepay.accounts.adapters import open_credentials
from indiepay.accounts.models import ChannelAccount
from indiepay.accounts.service import credential_owner
from indiepay.db.engine import Database
from indiepay.vault import repository
from indiepay.vault.envelope import VaultError
from indiepay.vault.keyring import kek_id_of
from indiepay.vault.repository import SealedColumn, StoredRow
from indiepay.vault.retirement import check_retirable, status
from indiepay.vault.rotation import rotate
from tests.vault.keys import FIELDS, Kek, kek_ids_in_db, open_everything, seal_credentials, seed, vault_of


class Crash(Exception):
    pass


def test_rotation_rewraps_everything_and_then_the_old_key_can_go(db: Database) -> None:
    a, b = Kek(), Kek()
    seeded = seed(db, vault_of(a), merchants=4, accounts_per_merchant=2, platform_accounts=2)
    with db.read() as session:
        before = {acc.id: (acc.credentials, acc.updated_at) for acc in session.scalars(select(ChannelAccount))}
    assert open_everything(db, vault_of(b, a)) == seeded  # B current, A retired: everything still opens
    with pytest.raises(VaultError) as refused:
        check_retirable(db, vault_of(b, a), kek_id_of(a.key))
    assert refused.value.code == "kek_still_in_use"
    assert refused.value.details["secrets"] == seeded.secrets
    assert refused.value.details["per_table"] == {"channel_accounts": 40, "webhook_endpoints": 4}

    report = rotate(db, vault_of(b, a), batch_size=3)

    assert report.complete
    accounts, endpoints = report.tables["channel_accounts"], report.tables["webhook_endpoints"]
    assert (accounts.rewrapped, accounts.already_current, accounts.rows, accounts.rows_written) == (40, 0, 10, 10)
    assert (endpoints.rewrapped, endpoints.already_current) == (4, 0)
    assert kek_ids_in_db(db) == [kek_id_of(b.key)] * seeded.secrets
    assert open_everything(db, vault_of(b)) == seeded  # B alone opens everything
    with db.read() as session:
        for account in session.scalars(select(ChannelAccount)):
            old_credentials, old_updated_at = before[account.id]
            assert account.updated_at == old_updated_at  # the adapter cache key is left alone
            for name, sealed in account.credentials.items():
                assert sealed["ciphertext"] == old_credentials[name]["ciphertext"]
                assert sealed["fingerprint"] == old_credentials[name]["fingerprint"]
    check_retirable(db, vault_of(b, a), kek_id_of(a.key))  # no longer in use: allowed
    assert [(s.kek_id, s.state, s.secrets) for s in status(db, vault_of(b, a))] == [
        (kek_id_of(b.key), "current", seeded.secrets), (kek_id_of(a.key), "retired", 0)]

    again = rotate(db, vault_of(b, a))  # idempotent: nothing left to do
    assert again.tables["channel_accounts"].already_current == 40 and again.tables["channel_accounts"].rewrapped == 0
    assert again.tables["channel_accounts"].rows_written == 0


def test_the_current_key_cannot_be_retired(db: Database) -> None:
    a = Kek()
    with pytest.raises(VaultError) as refused:
        check_retirable(db, vault_of(a), kek_id_of(a.key))
    assert refused.value.code == "kek_is_current"


def test_a_crash_mid_rotation_leaves_everything_openable_and_a_rerun_finishes(db: Database) -> None:
    a, b = Kek(), Kek()
    seeded = seed(db, vault_of(a), merchants=3, accounts_per_merchant=2, platform_accounts=0)

    def crash_after_first_batch(table: str, rows: int) -> None:
        raise Crash(f"killed after a batch of {rows} {table}")

    with pytest.raises(Crash):
        rotate(db, vault_of(b, a), batch_size=2, on_batch=crash_after_first_batch)

    ids = kek_ids_in_db(db)
    assert ids.count(kek_id_of(b.key)) == 2 * 4 and ids.count(kek_id_of(a.key)) == seeded.secrets - 8  # one batch
    assert open_everything(db, vault_of(b, a)) == seeded  # mixed state: every secret still opens
    with pytest.raises(VaultError) as refused:
        check_retirable(db, vault_of(b, a), kek_id_of(a.key))
    assert refused.value.code == "kek_still_in_use"

    report = rotate(db, vault_of(b, a), batch_size=2)

    assert report.complete
    assert report.tables["channel_accounts"].rewrapped == 16 and report.tables["channel_accounts"].already_current == 8
    assert open_everything(db, vault_of(b)) == seeded
    check_retirable(db, vault_of(b), kek_id_of(a.key))


def test_a_credential_changed_during_rotation_is_not_overwritten(db: Database,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Another process replaces an account's credentials between rotation's read and its write: the
    conditional write misses, the row is re-read, and the *new* credentials end up re-wrapped."""
    a, b = Kek(), Kek()
    seeded = seed(db, vault_of(a), merchants=2, accounts_per_merchant=1, platform_accounts=0)
    target = sorted(seeded.accounts)[0]
    new_plain = {name: f"{value}-changed" for name, value in seeded.accounts[target].items()}
    real_read_batch = repository.read_batch
    changed: list[str] = []

    def read_then_change(session: Session, spec: SealedColumn, after_id: str | None, limit: int) -> list[StoredRow]:
        batch = real_read_batch(session, spec, after_id, limit)
        if spec.name == "channel_accounts" and not changed and any(row.id == target for row in batch):
            account = session.get(ChannelAccount, target)
            assert account is not None
            sealed = seal_credentials(vault_of(a), credential_owner(account), target, new_plain)
            change = update(ChannelAccount).where(ChannelAccount.id == target).values(credentials=sealed)
            if db.is_postgres:  # a real second connection, committed before rotation writes the row
                other = Database(db.url)
                with other.transaction() as other_session:
                    other_session.execute(change)
                other.dispose()
            else:  # SQLite has one writer at a time: change it inside rotation's own transaction
                session.execute(change)
            changed.append(target)
        return batch

    monkeypatch.setattr(repository, "read_batch", read_then_change)
    report = rotate(db, vault_of(b, a))

    assert changed == [target] and report.complete
    assert report.tables["channel_accounts"].conflicts_retried == 1
    opened = open_everything(db, vault_of(b))
    assert opened.accounts[target] == new_plain  # the concurrent change survived, re-wrapped
    assert kek_ids_in_db(db) == [kek_id_of(b.key)] * seeded.secrets


def test_a_credential_moved_to_another_row_fails_to_open_clearly(db: Database) -> None:
    a, b = Kek(), Kek()
    seeded = seed(db, vault_of(a), merchants=2, accounts_per_merchant=1, platform_accounts=0)
    rotate(db, vault_of(b, a))
    source, victim = sorted(seeded.accounts)
    with db.transaction() as session:
        stolen = session.get(ChannelAccount, source)
        row = session.get(ChannelAccount, victim)
        assert stolen is not None and row is not None
        row.credentials = dict(stolen.credentials)  # another merchant's sealed credentials, copied over
    with db.read() as session:
        row = session.get(ChannelAccount, victim)
        assert row is not None
        with pytest.raises(VaultError) as caught:
            open_credentials(vault_of(b), credential_owner(row), row.id, row.credentials)
    assert caught.value.code == "vault_error"
    assert "could not be decrypted" in caught.value.message
    assert not any(value in str(caught.value) for value in seeded.accounts[source].values())


def test_a_secret_under_an_unloaded_key_is_reported_and_the_rest_rotates(db: Database) -> None:
    a, b, lost = Kek(), Kek(), Kek()
    seeded = seed(db, vault_of(a), merchants=2, accounts_per_merchant=1, platform_accounts=0)
    orphan = seed(db, vault_of(lost), merchants=1, accounts_per_merchant=1, platform_accounts=0)
    orphan_account = next(iter(orphan.accounts))

    report = rotate(db, vault_of(b, a))

    assert not report.complete
    missing = [f for f in report.failures if f.table == "channel_accounts"]
    assert {(f.row_id, f.code, f.kek_id) for f in missing} == {
        (orphan_account, "vault_key_missing", kek_id_of(lost.key))}
    assert len(missing) == 4 and len(report.failures) == 5  # 4 fields + the merchant's webhook secret
    with db.read() as session:
        row = session.get(ChannelAccount, orphan_account)
        assert row is not None
        with pytest.raises(VaultError) as caught:
            open_credentials(vault_of(b, a), credential_owner(row), row.id, row.credentials)
    assert caught.value.code == "vault_key_missing"
    assert open_everything(db, vault_of(b), skip=orphan) == seeded  # everything else is on B
    states = {s.kek_id: (s.state, s.secrets) for s in status(db, vault_of(b, a))}
    assert states[kek_id_of(lost.key)] == ("not loaded", orphan.secrets)


def test_ten_thousand_secrets_rotate_and_all_open(db: Database) -> None:
    a, b = Kek(), Kek()
    seeded = seed(db, vault_of(a), merchants=100, accounts_per_merchant=25, platform_accounts=0)
    assert sum(len(fields) for fields in seeded.accounts.values()) == 10_000
    batches: list[int] = []
    report = rotate(db, vault_of(b, a), batch_size=500, on_batch=lambda table, rows: batches.append(rows))
    assert report.complete and report.tables["channel_accounts"].rewrapped == 10_000
    assert batches[:5] == [500] * 5 and sum(batches) == 2_500 + 100
    assert open_everything(db, vault_of(b)) == seeded
    if db.is_sqlite:  # and no plaintext anywhere in the database file (nor its write-ahead log)
        path = Path(db.url.split("///", 1)[1])
        db.dispose()
        raw = b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())
        assert kek_id_of(b.key).encode() in raw  # the scan does see the stored secrets
        assert re.search(rb"(%s)-[0-9a-f]{24}" % "|".join(FIELDS).encode(), raw) is None  # no plaintext shape
        for plain in list(seeded.accounts.values())[:25]:
            assert not any(value.encode() in raw for value in plain.values())
