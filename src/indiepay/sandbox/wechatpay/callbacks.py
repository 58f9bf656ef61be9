"""Callback delivery, the way WeChat Pay does it: encrypted resource, signed body, resent until a 2xx.

The body is built once per event (same ``id``, ``create_time`` and ciphertext on every resend); the
``Wechatpay-*`` headers are produced fresh for each attempt, with whatever key the merchant's account
signs with *at that moment* (so a certificate rotation between attempts is visible to the receiver).
Resends follow the real schedule 15s, 15s, 30s, 3m, 10m, 20m, 30m, 30m, 30m, 60m, 3h, 3h, 3h, 6h, 6h,
divided by ``time_factor``. Fault knobs may drop attempts, duplicate a delivered callback, delay the first
attempt, or precede it with a ``WECHATPAY/SIGNTEST/`` probe.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx

from indiepay.channels.wechatpay import signing
from indiepay.core.clock import BUSINESS_TZ
from indiepay.sandbox.http import CallbackHttp, callback_allowed
from indiepay.sandbox.wechatpay import protocol
from indiepay.sandbox.wechatpay.config import RETRY_SCHEDULE
from indiepay.sandbox.wechatpay.state import SandboxState

DELIVERY_TIMEOUT_SECONDS = 5.0
_HTTP = CallbackHttp(DELIVERY_TIMEOUT_SECONDS)


def beijing_now() -> str:
    return datetime.now(UTC).astimezone(BUSINESS_TZ).replace(microsecond=0).isoformat()


def build_event(merchant: dict[str, Any], event_type: str, summary: str, original_type: str,
                resource: dict[str, Any]) -> bytes:
    """The callback body: resource encrypted with the merchant's APIv3 key."""
    nonce = secrets.token_hex(6)
    ciphertext = signing.aead_encrypt(str(merchant["apiv3_key"]).encode(), nonce, original_type,
                                      protocol.dumps(resource))
    return protocol.dumps({
        "id": str(uuid.uuid4()),
        "create_time": beijing_now(),
        "resource_type": "encrypt-resource",
        "event_type": event_type,
        "summary": summary,
        "resource": {"original_type": original_type, "algorithm": "AEAD_AES_256_GCM", "ciphertext": ciphertext,
                     "associated_data": original_type, "nonce": nonce},
    })


def send_callback(state: SandboxState, mchid: str, notify_url: str, event_type: str, summary: str,
                  original_type: str, resource: dict[str, Any]) -> None:
    """Schedule delivery of one event (must be called from the event loop)."""
    merchant = state.store.get_merchant(mchid)
    if merchant is None:
        return
    body = build_event(merchant, event_type, summary, original_type, resource)
    state.spawn(_deliver(state, mchid, notify_url, event_type, body), f"{event_type} callback to {notify_url}")


async def _post(state: SandboxState, mchid: str, url: str, body: bytes, probe: bool = False) -> int | None:
    merchant = state.store.get_merchant(mchid)
    if merchant is None or not callback_allowed(url, state.config.callbacks_to):
        return None
    override = None
    if probe:
        override = signing.SIGNTEST_MARKER + base64.b64encode(secrets.token_bytes(180)).decode()
    headers = protocol.signature_headers(merchant, body, signature_override=override)
    headers["Content-Type"] = "application/json"
    try:
        response = await _HTTP.client().post(url, content=body, headers=headers)
    except httpx.HTTPError:
        return None
    return response.status_code


def _as_sent(state: SandboxState, mchid: str, body: bytes) -> dict[str, Any]:
    """The signed request a dropped attempt would have sent, kept in the log so tests can replay (or
    tamper with) a genuine callback."""
    merchant = state.store.get_merchant(mchid)
    if merchant is None:
        return {}
    return {"headers": protocol.signature_headers(merchant, body), "body": body.decode("utf-8")}


async def _deliver(state: SandboxState, mchid: str, url: str, event_type: str, body: bytes) -> None:
    delay = state.faults_for(mchid).callback_delay_seconds
    if delay > 0:
        await asyncio.sleep(delay)
    for attempt, wait in enumerate((0.0, *RETRY_SCHEDULE)):
        if wait:
            await asyncio.sleep(wait / state.config.time_factor)
        entry: dict[str, Any] = {"event_type": event_type, "url": url, "attempt": attempt + 1,
                                 "at": datetime.now(UTC).isoformat()}
        if state.take_flag(mchid, "signtest_probe"):
            probe_status = await _post(state, mchid, url, body, probe=True)
            state.log_delivery(mchid, {**entry, "kind": "signtest_probe", "status": probe_status})
        if state.take_counter(mchid, "drop_callbacks"):
            state.log_delivery(mchid, {**entry, "kind": "dropped", "status": None, **_as_sent(state, mchid, body)})
            continue
        status = await _post(state, mchid, url, body)
        state.log_delivery(mchid, {**entry, "kind": "delivery", "status": status})
        if status is not None and 200 <= status < 300:
            if state.faults_for(mchid).duplicate_callbacks:
                duplicate_status = await _post(state, mchid, url, body)
                state.log_delivery(mchid, {**entry, "kind": "duplicate", "status": duplicate_status})
            return
