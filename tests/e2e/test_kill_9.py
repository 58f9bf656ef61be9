"""``kill -9`` of the platform, again and again, while merchants take payments and refunds: no money lost.

The platform runs as ``indiepay serve`` (API and worker in one process, SQLite), the WeChat Pay sandbox as
its own process that lives on. Clients create live payments, buyers pay, merchants refund part of them;
meanwhile the platform is killed with SIGKILL at random moments and started again. Clients retry what got
no answer with the same Idempotency-Key, as clients do. Afterwards the platform's records must agree with
the channel's: every order the channel saw paid is ``succeeded`` here, every refund the channel holds is
here once, refunded amounts add up, nothing was refunded twice, and the ledger's chain verifies and balances.
"""

from __future__ import annotations

import os
import random
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from indiepay.cli.localserver import free_port
from indiepay.db.engine import Database
from indiepay.db.jobs import owners
from indiepay.ledger.verify import verify

ADMIN = "sk_admin_kill9"
KILLS = 4


def wait_healthy(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise TimeoutError(url)


class Platform:
    """``indiepay serve`` in a child process that the test kills and restarts."""

    def __init__(self, env: dict[str, str], url: str) -> None:
        self.env, self.url = env, url
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "indiepay.cli.main", "serve"], env=self.env,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_healthy(self.url)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)


@contextmanager
def processes(tmp_path: Path) -> Iterator[tuple[Platform, str, str]]:
    sandbox_port, port = free_port(), free_port()
    sandbox_url, url = f"http://127.0.0.1:{sandbox_port}", f"http://127.0.0.1:{port}"
    db_url = f"sqlite:///{tmp_path / 'indiepay.db'}"
    env = {**os.environ, "INDIEPAY_DATABASE_URL": db_url, "INDIEPAY_VAR_DIR": str(tmp_path / "var"),
           "INDIEPAY_PORT": str(port), "INDIEPAY_ADMIN_KEY": ADMIN, "INDIEPAY_MASTER_KEY": secrets.token_urlsafe(32),
           "INDIEPAY_MOUNT_SANDBOX": "false", "INDIEPAY_SANDBOX_URL": sandbox_url, "INDIEPAY_LOG_LEVEL": "warning",
           "INDIEPAY_WORKER_POLL_SECONDS": "0.1"}
    sandbox = subprocess.Popen([sys.executable, "-m", "indiepay.cli.main", "sandbox", "--port", str(sandbox_port),
                                "--time-factor", "1000"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    platform = Platform(env, url)
    try:
        wait_healthy(sandbox_url)
        platform.start()
        yield platform, sandbox_url, db_url
    finally:
        for process in (platform.process, sandbox):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait(timeout=30)


def call(client: httpx.Client, method: str, path: str, stop: threading.Event, dropped: list[str],
         **kwargs: Any) -> httpx.Response | None:
    """Send until the platform answers (it may be dead or restarting; each unanswered try goes to
    ``dropped``); None if the run ends first."""
    while not stop.is_set():
        try:
            response = client.request(method, path, **kwargs)
        except httpx.TransportError:
            dropped.append(path)
            time.sleep(0.05)
            continue
        if response.status_code in (409,) and response.json()["error"]["code"] == "idempotency_key_in_use":
            return response  # its first attempt died mid-way: its outcome is settled by the checks below
        if response.status_code >= 500 and response.status_code != 502:
            time.sleep(0.05)
            continue
        return response
    return None


class Traffic:
    """Shoppers: create a live payment, the buyer pays, the merchant refunds part once it succeeded."""

    def __init__(self, url: str, headers: dict[str, str], sandbox_url: str) -> None:
        self.url, self.headers, self.sandbox_url = url, headers, sandbox_url
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.created: list[str] = []
        self.errors: list[str] = []
        self.dropped: list[str] = []

    def shop(self, n: int) -> None:
        with httpx.Client(base_url=self.url, timeout=10, headers=self.headers) as client:
            for i in range(1_000):
                if self.stop.is_set():
                    return
                no = f"K9{n}{i:04d}{secrets.token_hex(3)}"
                body = {"amount": 1_000 + i, "currency": "CNY", "out_trade_no": no, "description": "Oolong",
                        "method": "wechat_native"}
                answer = call(client, "POST", "/v1/payments", self.stop, self.dropped, json=body,
                              headers={"Idempotency-Key": f"pay-{no}"})
                if answer is not None and answer.status_code == 201:
                    self.pay_and_refund(client, answer.json())

    def pay_and_refund(self, client: httpx.Client, payment: dict[str, Any]) -> None:
        with self.lock:
            self.created.append(payment["out_trade_no"])
        try:
            httpx.post(f"{self.sandbox_url}/wechatpay/_buyer/pay", timeout=10,
                       json={"code_url": payment["action"]["code_url"]}).raise_for_status()
        except httpx.HTTPError as exc:
            self.errors.append(f"buyer could not pay {payment['id']}: {exc}")
            return
        deadline = time.monotonic() + 20
        while not self.stop.is_set() and time.monotonic() < deadline:
            seen = call(client, "GET", f"/v1/payments/{payment['id']}", self.stop, self.dropped)
            if seen is not None and seen.json().get("status") == "succeeded":
                call(client, "POST", "/v1/refunds", self.stop, self.dropped, json={"payment_id": payment["id"],
                     "amount": 300}, headers={"Idempotency-Key": f"re-{payment['id']}"})
                return
            time.sleep(0.05)


@pytest.mark.timeout(300)
def test_kill_9_under_load_loses_no_money(tmp_path: Path) -> None:
    with processes(tmp_path) as (platform, sandbox_url, db_url):
        admin = httpx.Client(base_url=platform.url, timeout=30, headers={"Authorization": f"Bearer {ADMIN}"})
        merchant = admin.post("/v1/merchants", json={"name": "Kiln Ltd.", "short_name": "Kiln",
                                                     "subject_type": "enterprise"}).json()
        live = {"Authorization": f"Bearer {merchant['api_keys']['live']}"}
        credentials = httpx.post(f"{sandbox_url}/wechatpay/_provision", json={}, timeout=30).json()["credentials"]
        account = admin.post("/v1/channel_accounts", headers=live, json={
            "channel": "wechatpay", "environment": "production", "credentials": credentials})
        assert account.status_code == 201, account.text
        database = Database(db_url)
        with database.transaction() as session:  # a production account pointed at the sandbox (tests only)
            session.execute(text("UPDATE channel_accounts SET base_url = :url WHERE id = :id"),
                            {"url": f"{sandbox_url}/wechatpay", "id": account.json()["id"]})
        traffic = Traffic(platform.url, live, sandbox_url)
        shoppers = [threading.Thread(target=traffic.shop, args=(n,)) for n in range(3)]
        for thread in shoppers:
            thread.start()
        rng = random.Random(9)
        for _ in range(KILLS):
            time.sleep(rng.uniform(0.8, 2.0))
            platform.kill()
            platform.start()
        time.sleep(2)
        traffic.stop.set()
        for thread in shoppers:
            thread.join(timeout=60)
        assert traffic.errors == []
        assert len(traffic.created) >= 10, "too little traffic to mean anything"
        assert traffic.dropped, "no request was cut off: the kills were not felt"

        # the channel re-sends callbacks the dead process missed; give them time to land
        deadline = time.monotonic() + 60
        while True:
            disagreements = compare(database, sandbox_url, credentials["mchid"])
            if not disagreements or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert disagreements == []
        with database.read() as session:
            books = verify(session)
            assert books.ok, books.reason
            assert all(total == 0 for total in books.currency_totals.values())
            paid_entries = session.execute(text(
                "SELECT count(*) FROM ledger_entries WHERE event_type = 'payment_succeeded'")).scalar()
            paid = session.execute(text("SELECT count(*) FROM payments WHERE status = 'succeeded'")).scalar()
            assert paid_entries == paid  # each paid payment posted exactly once
            # jobs the killed processes were running were given back when the next one started, not left
            # leased to a dead process for five minutes: whatever runs now runs in the live one
            running = [row[0] for row in session.execute(text("SELECT locked_by FROM jobs WHERE status = 'running'"))]
        assert platform.process is not None
        assert all((owner := owners.owner_of(by)) is not None and owner.pid == platform.process.pid
                   for by in running), running
        admin.close()
        database.engine.dispose()
        database.read_engine.dispose()


def compare(database: Database, sandbox_url: str, mchid: str) -> list[str]:
    """Where the platform's records and the channel's disagree (empty when they agree)."""
    problems: list[str] = []
    with database.read() as session:
        payments = session.execute(text(
            "SELECT id, out_trade_no, status, amount, refunded_amount, refund_reserved FROM payments")).all()
        refunds = session.execute(text("SELECT payment_id, out_refund_no, amount, status FROM refunds")).all()
    ours: dict[str, list[Any]] = {}
    for refund in refunds:
        ours.setdefault(refund.payment_id, []).append(refund)
    for payment in payments:
        order = httpx.get(f"{sandbox_url}/wechatpay/_orders/{mchid}/{payment.out_trade_no}", timeout=30)
        if order.status_code == 404:
            if payment.status == "succeeded":
                problems.append(f"{payment.id} succeeded here, unknown to the channel")
            continue
        channel = order.json()
        if channel["trade_state"] in ("SUCCESS", "REFUND") and payment.status != "succeeded":
            problems.append(f"{payment.id} paid at the channel, {payment.status} here")
        theirs = {r["out_refund_no"]: r for r in channel["refunds"]}
        mine = {r.out_refund_no: r for r in ours.get(payment.id, [])}
        if len(mine) != len(ours.get(payment.id, [])):
            problems.append(f"{payment.id} has a refund number twice")
        for number, refund in theirs.items():
            if number not in mine:
                problems.append(f"refund {number} at the channel, not here")
            elif refund["status"] == "SUCCESS" and mine[number].status != "succeeded":
                problems.append(f"refund {number} succeeded at the channel, {mine[number].status} here")
        succeeded = sum(r.amount for r in mine.values() if r.status == "succeeded")
        if payment.refunded_amount != succeeded:
            problems.append(f"{payment.id} refunded_amount {payment.refunded_amount} != refunds {succeeded}")
        if not payment.refunded_amount <= payment.refund_reserved <= payment.amount:
            problems.append(f"{payment.id} reserved {payment.refund_reserved} out of bounds")
        if sum(r["refund"] for r in theirs.values()) > payment.amount:
            problems.append(f"{payment.id} over-refunded at the channel")
    return problems
