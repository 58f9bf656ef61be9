"""KEK rotation: re-wrap every sealed secret whose DEK is wrapped by a KEK other than the current one.

Only the data key is unwrapped and wrapped again (:func:`indiepay.vault.envelope.rewrap`); the value's
ciphertext and its associated data stay as they are, so no plaintext is handled and every secret opens to
the same value afterwards. The walk goes table by table in id order, in batches, each batch its own
transaction, and a row is written only when it is still what was read (see
:mod:`indiepay.vault.repository`). Hence a crash anywhere leaves every secret wrapped by either the old
or the new KEK — both loaded, both open it — and running again finishes the job: rotation is idempotent.

A secret that cannot be re-wrapped (its KEK is not loaded, or its wrap is damaged) does not stop the run:
it is reported with its row and field, and the run's outcome says so, so one bad row never holds up the
rest of the rotation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from indiepay.db.engine import Database
from indiepay.vault import repository
from indiepay.vault.envelope import SealedSecret, VaultError
from indiepay.vault.keyring import Vault
from indiepay.vault.repository import SEALED_COLUMNS, SealedColumn, StoredRow

DEFAULT_BATCH_SIZE = 200
WRITE_ATTEMPTS = 5  # a row changed this many times in a row during one rotation is left for the next run


@dataclass(frozen=True)
class Failure:
    """A secret (or row) rotation could not re-wrap; ``code`` is the vault's stable error code."""

    table: str
    row_id: str
    field: str | None
    kek_id: str | None
    code: str
    message: str


@dataclass
class TableReport:
    """Per table: secrets re-wrapped now, secrets already under the current KEK, rows written."""

    rows: int = 0
    rows_written: int = 0
    rewrapped: int = 0
    already_current: int = 0
    conflicts_retried: int = 0
    failures: list[Failure] = field(default_factory=list)


@dataclass
class RotationReport:
    current_kek_id: str
    tables: dict[str, TableReport] = field(default_factory=dict)

    @property
    def failures(self) -> list[Failure]:
        return [failure for report in self.tables.values() for failure in report.failures]

    @property
    def complete(self) -> bool:
        """True when every secret is now wrapped by the current KEK."""
        return not self.failures


@dataclass(frozen=True)
class RowOutcome:
    """What re-wrapping one stored value gives: the new value (None: nothing to write) and the counts."""

    value: dict[str, Any] | None
    rewrapped: int
    already_current: int
    failures: list[Failure]


OnTable = Callable[[str, int], None]  # (table, total rows): a table's walk starts
OnBatch = Callable[[str, int], None]  # (table, rows in the batch just committed)


def rewrap_row(vault: Vault, spec: SealedColumn, row: StoredRow) -> RowOutcome:
    """Re-wrap the secrets of one stored value under the current KEK. Pure: no database access."""
    try:
        value = row.value
        secrets = spec.secrets(value)
    except (ValueError, AttributeError) as exc:
        return RowOutcome(None, 0, 0, [Failure(spec.name, row.id, None, None, "malformed_secret", str(exc))])
    rewrapped, current, failures = 0, 0, []
    updated: dict[str | None, dict[str, Any]] = {}
    for name, stored in secrets.items():
        kek_id = stored.get("kek_id") if isinstance(stored, dict) else None
        try:
            sealed = SealedSecret.from_dict(stored)
            fresh = vault.rewrap(sealed)
        except VaultError as exc:
            failures.append(Failure(spec.name, row.id, name, kek_id, exc.code, exc.message))
            updated[name] = stored
            continue
        except (KeyError, TypeError, AttributeError) as exc:
            failures.append(Failure(spec.name, row.id, name, kek_id, "malformed_secret",
                                    f"not a sealed secret ({exc!r})"))
            updated[name] = stored
            continue
        if fresh is sealed:
            current += 1
            updated[name] = stored
        else:
            rewrapped += 1
            updated[name] = {**stored, **fresh.as_dict()}
    new_value = spec.rebuild(value, updated) if rewrapped else None
    return RowOutcome(new_value, rewrapped, current, failures)


def _rotate_row(session: Session, vault: Vault, spec: SealedColumn, row: StoredRow, report: TableReport) -> None:
    """Re-wrap one row with a conditional write; on a concurrent change, re-read the row and start over."""
    current: StoredRow | None = row
    for _ in range(WRITE_ATTEMPTS):
        if current is None:
            return  # deleted meanwhile: nothing left to rotate
        outcome = rewrap_row(vault, spec, current)
        if outcome.value is None or repository.write_if_unchanged(session, spec, current, outcome.value):
            report.rewrapped += outcome.rewrapped
            report.already_current += outcome.already_current
            report.rows_written += 1 if outcome.value is not None else 0
            report.failures.extend(outcome.failures)
            return
        report.conflicts_retried += 1
        current = repository.read_row(session, spec, row.id)
    report.failures.append(Failure(spec.name, row.id, None, None, "concurrent_change",
                                   f"the row changed {WRITE_ATTEMPTS} times while being re-wrapped; run again"))


def rotate(db: Database, vault: Vault, *, batch_size: int = DEFAULT_BATCH_SIZE,
           on_table: OnTable | None = None, on_batch: OnBatch | None = None) -> RotationReport:
    """Re-wrap every sealed secret under ``vault``'s current KEK.

    Args:
        db: the database; each batch of ``batch_size`` rows is one transaction of its own.
        vault: must hold the current KEK and every KEK that still wraps a secret (the retired ones).
        on_table: told each table's row count before its walk (progress display).
        on_batch: told how many rows each committed batch held; an exception from it stops the run after
            that batch (what is committed stays committed, and a new run carries on).

    Returns:
        The per-table report. Secrets that could not be re-wrapped are listed in ``failures`` (codes
        ``vault_key_missing``, ``vault_error``, ``malformed_secret``, ``concurrent_change``); the run
        still goes through every other row.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    report = RotationReport(current_kek_id=vault.current_id)
    for spec in SEALED_COLUMNS:
        table_report = report.tables.setdefault(spec.name, TableReport())
        with db.read() as session:
            total = repository.count_rows(session, spec)
        if on_table is not None:
            on_table(spec.name, total)
        after: str | None = None
        while True:
            with db.transaction() as session:
                batch = repository.read_batch(session, spec, after, batch_size)
                for row in batch:
                    _rotate_row(session, vault, spec, row, table_report)
            if not batch:
                break
            table_report.rows += len(batch)
            after = batch[-1].id
            if on_batch is not None:
                on_batch(spec.name, len(batch))
    return report
