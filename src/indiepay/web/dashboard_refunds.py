"""The dashboard's refunds: every refund of the merchant in the key's mode, newest first, filterable by
status and by the merchant's refund number — the place to find the ones that failed (the channel refused
them; the amount is refundable again) or that are still processing, each linked to its payment's page
where it can be asked for again or, for a bank transfer, confirmed. Read through
:func:`indiepay.refunds.service.list_refunds`, as ``GET /v1/refunds`` reads."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from indiepay.core.errors import IndiePayError
from indiepay.refunds.rules import STATUSES
from indiepay.refunds.service import list_refunds
from indiepay.web.dashboard import ctx_of, failure, render
from indiepay.web.dashboard_pages import merchant_signed_in

router = APIRouter(prefix="/dashboard", include_in_schema=False)
SHOWN = 50


@router.get("/refunds", response_class=HTMLResponse, response_model=None)
def refunds_page(request: Request) -> Response:
    signed = merchant_signed_in(request)
    if isinstance(signed, Response):
        return signed
    query = request.query_params
    status = query.get("status") or None
    out_refund_no = (query.get("out_refund_no") or "").strip() or None
    try:
        with ctx_of(request).db.read() as session:
            found = list_refunds(session, signed.principal, payment_id=None, status=status,
                                 out_refund_no=out_refund_no, limit=SHOWN,
                                 starting_after=query.get("starting_after") or None)
    except IndiePayError as exc:  # a status that is none, a cursor that names no refund of the merchant's
        return failure(request, signed, exc)
    return render(request, "refunds.html", signed, refunds=found.data, has_more=found.has_more,
                  status=status or "", out_refund_no=out_refund_no or "", statuses=STATUSES)
