"""Declaring profit-sharing receivers to a merchant's channel account, and withdrawing them.

The channel is asked first and the row written after: a receiver the channel refused is never stored, and
a crash after the channel said yes costs nothing (declaring the same receiver again is harmless). Only a
masked hint of the legal name is kept — the channel needs the name once, the platform never again.
"""

from __future__ import annotations

from functools import partial

from sqlalchemy.orm import Session

from indiepay.accounts.service import adapter_for, get_account
from indiepay.audit import service as audit
from indiepay.channels.sharing import ReceiverType
from indiepay.channels.sharing import SharingReceiver as ChannelReceiver
from indiepay.context import ServiceContext
from indiepay.core.errors import InvalidRequest, NotFound, Unprocessable
from indiepay.core.ids import new_id
from indiepay.db.pagination import list_filter, page_cursor
from indiepay.merchants.auth import Principal
from indiepay.payments.calls import call_channel
from indiepay.sharing import repository, rules
from indiepay.sharing.calls import raise_for_outcome
from indiepay.sharing.models import SharingReceiver
from indiepay.sharing.schemas import ReceiverCreate, ReceiverList, ReceiverOut


def to_out(receiver: SharingReceiver) -> ReceiverOut:
    return ReceiverOut(id=receiver.id, livemode=receiver.livemode, channel_account_id=receiver.channel_account_id,
                       channel=receiver.channel, type=receiver.type, account=receiver.account,
                       name_hint=receiver.name_hint, relation=receiver.relation, description=receiver.description,
                       status=receiver.status, created_at=receiver.created_at)


def as_channel_receiver(receiver: SharingReceiver, name: str | None = None) -> ChannelReceiver:
    return ChannelReceiver(type=ReceiverType(receiver.type), account=receiver.account,
                           relation=receiver.relation.upper(), name=name)


def add_receiver(ctx: ServiceContext, principal: Principal, body: ReceiverCreate) -> ReceiverOut:
    """Declare a receiver to the account's channel, then record it (again active if it was removed).

    Raises:
        NotFound: ``account_not_found``.
        InvalidRequest: ``receiver_type_mismatch`` (another channel's type), ``missing_field`` (a WeChat
            merchant receiver's legal name).
        Unprocessable: ``channel_rejected`` (the channel refused it). ChannelUnavailable: no answer.
    """
    merchant_id = principal.require_merchant()
    with ctx.db.read() as session:
        account = get_account(session, principal, body.channel_account_id)
    if not rules.receiver_fits(body.type.value, account.channel):
        raise InvalidRequest(f"a {body.type.value} receiver cannot be declared to a {account.channel} account",
                             code="receiver_type_mismatch", details={"channel": account.channel})
    if body.type is ReceiverType.WECHAT_MERCHANT and not body.name:
        raise InvalidRequest("a WeChat Pay merchant receiver needs its full legal name", code="missing_field",
                             details={"field": "name"})
    if account.status != "active":
        raise Unprocessable("the channel account is not active", code="account_inactive")
    adapter = adapter_for(ctx, account)
    declared = ChannelReceiver(type=body.type, account=body.account, relation=body.relation.upper(), name=body.name)
    result = call_channel("sharing_receiver_add", lambda: adapter.add_sharing_receiver(declared))
    ctx.health.record(account.id, result.outcome)
    raise_for_outcome(result)
    now = ctx.clock.now()
    with ctx.db.transaction() as session:
        receiver = repository.receiver_by_account(session, account.id, body.type.value, body.account)
        if receiver is None:
            receiver = SharingReceiver(id=new_id("rcv"), merchant_id=merchant_id, livemode=principal.livemode,
                                       channel_account_id=account.id, channel=account.channel, type=body.type.value,
                                       account=body.account, created_at=now)
            session.add(receiver)
        receiver.relation, receiver.description = body.relation, body.description
        receiver.name_hint = rules.name_hint(body.name) or receiver.name_hint
        receiver.status, receiver.updated_at = rules.ACTIVE, now
        session.flush()
        audit.record(session, ctx.clock, actor=audit.actor_of(principal), action="sharing_receiver.added",
                     target_type="sharing_receiver", target_id=receiver.id, merchant_id=merchant_id,
                     details={"channel_account_id": account.id, "type": receiver.type})
        return to_out(receiver)


def remove_receiver(ctx: ServiceContext, principal: Principal, receiver_id: str) -> ReceiverOut:
    """Withdraw a receiver at the channel, then mark it removed (shares already made stay as they are)."""
    merchant_id = principal.require_merchant()
    with ctx.db.read() as session:
        receiver = get_receiver(session, principal, receiver_id)
        account = get_account(session, principal, receiver.channel_account_id)
        withdrawn = as_channel_receiver(receiver)
    if receiver.status == rules.ACTIVE:
        adapter = adapter_for(ctx, account)
        result = call_channel("sharing_receiver_remove", lambda: adapter.remove_sharing_receiver(withdrawn))
        ctx.health.record(account.id, result.outcome)
        raise_for_outcome(result)
    with ctx.db.transaction() as session:
        stored = session.get(SharingReceiver, receiver_id)
        assert stored is not None
        if stored.status != rules.REMOVED:
            stored.status, stored.updated_at = rules.REMOVED, ctx.clock.now()
            audit.record(session, ctx.clock, actor=audit.actor_of(principal), action="sharing_receiver.removed",
                         target_type="sharing_receiver", target_id=stored.id, merchant_id=merchant_id)
        return to_out(stored)


def get_receiver(session: Session, principal: Principal, receiver_id: str) -> SharingReceiver:
    receiver = repository.receiver_scoped(session, principal.require_merchant(), principal.livemode, receiver_id)
    if receiver is None:
        raise NotFound("no such receiver", code="receiver_not_found")
    return receiver


def list_receivers(session: Session, principal: Principal, *, channel_account_id: str | None, status: str | None,
                   limit: int, starting_after: str | None) -> ReceiverList:
    merchant_id = principal.require_merchant()
    list_filter("status", status, (rules.ACTIVE, rules.REMOVED))
    cursor = page_cursor(starting_after, partial(repository.receiver_scoped, session, merchant_id,
                                                 principal.livemode), "receiver")
    rows = repository.list_receivers(session, merchant_id, principal.livemode, channel_account_id=channel_account_id,
                                     status=status, limit=limit, starting_after=cursor)
    return ReceiverList(data=[to_out(r) for r in rows[:limit]], has_more=len(rows) > limit)
