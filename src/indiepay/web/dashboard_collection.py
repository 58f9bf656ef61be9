"""The dashboard's collection page: how the merchant collects (independently, through its own channel
accounts, or through the platform), what the advisor says about it over the key's data (test keys over test
payments and sandbox accounts, live keys over live payments and production accounts, as ``GET /v1/advisor``),
the readiness checklist for independent collection, the switch itself and its history.

The switch goes through :func:`indiepay.merchants.collection_mode.switch_mode`, as ``PUT
/v1/merchants/{id}/collection_mode`` does: it applies to payments created after it, and switching to
independent collection is refused until one of the merchant's own production accounts has been verified by
a real 0.01 payment — the page then names the unmet checklist items. The mode decides where live money
goes, so the switch is offered to the live key only: signed in with a test key the page shows the mode,
the advice and the checklist over the sandbox accounts (a rehearsal), says to use the live key, and a
switch posted anyway is refused with ``livemode_required``.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from indiepay.advisor import service as advisor
from indiepay.core.errors import IndiePayError
from indiepay.dashboard.service import Signed
from indiepay.merchants import collection_mode
from indiepay.web.dashboard import HEADERS, PostedForm, check_form, ctx_of, failure, form_text, render
from indiepay.web.dashboard_pages import merchant_signed_in

router = APIRouter(prefix="/dashboard", include_in_schema=False)

CHECKLIST_LABELS = {
    "kyc_complete": "Identity checks (KYC) complete",
    "production_account_verified": "An account of your own verified by a ¥0.01 payment",
    "backup_account_other_bank": "A backup account settling to another bank than the primary's",
    "keys_not_near_expiry": "No key or certificate expiring within 30 days",
}
MODE_LABELS = {"independent": "Independent — your own merchant accounts, money straight to you",
               "platform": "Platform — the platform collects and settles to you T+1, less its service fee"}


def _page(request: Request, signed: Signed, status_code: int = 200, error: IndiePayError | None = None,
          notice: str | None = None) -> HTMLResponse:
    ctx = ctx_of(request)
    principal = signed.principal
    merchant_id = principal.require_merchant()
    try:
        with ctx.db.read() as session:
            advice = advisor.to_out(advisor.advise(session, ctx.clock, merchant_id, livemode=principal.livemode))
            changes = collection_mode.history(session, principal, merchant_id)
    except IndiePayError as exc:
        return failure(request, signed, exc)
    unmet = error.details.get("unmet", []) if error is not None else []
    return render(request, "collection.html", signed, status_code=status_code, error=error, notice=notice,
                  advice=advice, changes=list(reversed(changes)), labels=CHECKLIST_LABELS, modes=MODE_LABELS,
                  unmet=[CHECKLIST_LABELS.get(item, item) for item in unmet])


@router.get("/collection", response_class=HTMLResponse, response_model=None)
def collection_page(request: Request) -> Response:
    signed = merchant_signed_in(request)
    if isinstance(signed, Response):
        return signed
    return _page(request, signed)


@router.post("/collection", response_model=None)
def switch(request: Request, form: PostedForm) -> Response:
    """Switch the collection mode (the live key only). Asking for the mode already in force changes
    nothing."""
    signed = merchant_signed_in(request)
    if isinstance(signed, Response):
        return signed
    ctx = ctx_of(request)
    principal = signed.principal
    try:
        check_form(signed, form)
        with ctx.db.transaction() as session:
            _, change = collection_mode.switch_mode(session, ctx.clock, principal, principal.require_merchant(),
                                                    form_text(form, "mode") or "",
                                                    advisor.readiness_checklist(ctx.clock))
    except IndiePayError as exc:
        return _page(request, signed, status_code=exc.http_status, error=exc)
    if change is None:
        return _page(request, signed, notice="That is already how you collect: nothing changed.")
    return RedirectResponse("/dashboard/collection", status_code=303, headers=HEADERS)
