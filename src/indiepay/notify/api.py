"""HTTP: channel callbacks. The raw body and headers go to the service untouched (signatures cover them)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from indiepay.channels.base import IncomingNotification
from indiepay.context import ServiceContext
from indiepay.notify.service import handle_notification

router = APIRouter(prefix="/notify", tags=["callbacks"], include_in_schema=False)


@router.post("/{channel}/{account_id}")
async def receive(channel: str, account_id: str, request: Request) -> Response:
    ctx: ServiceContext = request.app.state.ctx
    body = await request.body()
    incoming = IncomingNotification(headers={k.lower(): v for k, v in request.headers.items()}, body=body)
    reply = await run_in_threadpool(handle_notification, ctx, channel, account_id, incoming)
    return Response(status_code=reply.status_code, content=reply.body, media_type=reply.content_type)
