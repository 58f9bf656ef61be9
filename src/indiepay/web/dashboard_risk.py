"""The operator's risk page in the dashboard: the rule set in force, changing it, and what it decided.

Risk rules are data (:mod:`indiepay.risk.rules`): a version and, per rule, the check it runs, its thresholds,
the outcome it asks for and whether it only reports (shadow). Setting them by hand-written ``PUT`` calls is
where a tired operator slips, so this page shows the set in force as a table, holds it as editable JSON
(one object per rule, the fields of :class:`~indiepay.risk.schemas.RuleIn`), and lists the latest decisions —
the payments and refunds the rules allowed, sent to review or blocked, and which rules fired — to see what a
change did.

Nothing here decides anything the API would not: the text is parsed, validated with
:class:`~indiepay.risk.schemas.RuleSetIn` and put in force through :func:`indiepay.risk.rulesets.put_rules` and
:func:`~indiepay.risk.rulesets.remember`, as ``PUT /v1/risk/rules`` does (versions assigned and the change
audited there; a set a check could not run is refused whole with its own ``invalid_rules``); the decisions
come from :func:`indiepay.risk.service.list_decisions`, as ``GET /v1/risk/decisions``. A refused text comes
back in the text area, with the reason: rules are not secrets, and retyping them is how mistakes multiply.

Only the operator's session may use this page; any other gets ``admin_required`` (403).
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from indiepay.core.errors import IndiePayError, InvalidRequest
from indiepay.dashboard.service import Signed
from indiepay.risk import rules, rulesets, service
from indiepay.risk.schemas import RuleIn, RuleSetIn
from indiepay.web.dashboard import HEADERS, PostedForm, ctx_of, failure, form_text, render
from indiepay.web.dashboard_operator import operator_acting, operator_signed_in

router = APIRouter(prefix="/dashboard", include_in_schema=False)

DECISIONS_PAGE = 50
MAX_RULES_TEXT = 200_000  # characters: two hundred rules (RuleSetIn's own cap) fit many times over
OUTCOMES = ("allow", "review", "block")




def _as_text(ruleset: rules.RuleSet) -> str:
    items = [RuleIn(id=r.id, kind=r.kind, params=dict(r.params), outcome=r.outcome, shadow=r.shadow,
                    applies_to=r.applies_to).model_dump(mode="json") for r in ruleset.rules]
    return json.dumps(items, indent=2, ensure_ascii=False)


def _page(request: Request, signed: Signed, status_code: int = 200, error: IndiePayError | None = None,
          typed: str | None = None, note: str = "") -> HTMLResponse:
    """The page; ``typed`` (a refused text) stands in the text area instead of the rules in force."""
    ctx = ctx_of(request)
    outcome = request.query_params.get("outcome") or None
    try:
        with ctx.db.read() as session:
            decisions = service.list_decisions(session, signed.principal, merchant_id=None, object_id=None,
                                               outcome=outcome if error is None else None, limit=DECISIONS_PAGE,
                                               starting_after=None)
            text = typed if typed is not None else _as_text(rulesets.stored_ruleset(ctx, session))
    except IndiePayError as exc:  # an outcome filter that names no outcome (invalid_outcome)
        return failure(request, signed, exc)
    active = service.ruleset_out(rulesets.stored_ruleset(ctx), shadow_mode=ctx.settings.risk_shadow)
    done = request.query_params.get("done") == "rules" and error is None
    return render(request, "risk.html", signed, status_code=status_code, error=error, ruleset=active,
                  rules_text=text, note=note, decisions=decisions.data, outcome=outcome if error is None else None,
                  outcomes=OUTCOMES, page=DECISIONS_PAGE,
                  notice=f"The new rule set is in force: version {active.version}." if done else None)


@router.get("/risk", response_class=HTMLResponse, response_model=None)
def risk_page(request: Request) -> Response:
    signed = operator_signed_in(request)
    if isinstance(signed, Response):
        return signed
    return _page(request, signed)


def _invalid(message: str, location: list[str | int]) -> InvalidRequest:
    return InvalidRequest(message, code="invalid_rules", details={"location": location})


def _rule_set_of(text: str | None, note: str) -> RuleSetIn:
    """The text area's rules — a JSON list of rules, or ``{"rules": [...]}`` — with the form's note.

    Raises:
        InvalidRequest: ``rules_too_large``, ``malformed_json``, or ``invalid_rules`` with
            ``details.location``, the path to the first field the schema refuses (``["rules", 0, "outcome"]``).
    """
    if text is not None and len(text) > MAX_RULES_TEXT:
        raise InvalidRequest(f"the rules are over {MAX_RULES_TEXT} characters", code="rules_too_large",
                             details={"max_chars": MAX_RULES_TEXT})
    try:
        parsed: Any = json.loads(text or "")
    except (ValueError, RecursionError) as exc:  # RecursionError: nesting deeper than the parser goes
        line = exc.lineno if isinstance(exc, json.JSONDecodeError) else None
        raise InvalidRequest("the rules are not JSON: a list of rules, or an object with one", code="malformed_json",
                             details={"line": line}) from exc
    if any(ord(char) < 32 or ord(char) == 127 for char in note):  # a NUL is refused by PostgreSQL itself
        raise _invalid("the note cannot hold control characters", ["note"])
    if isinstance(parsed, list):
        body: Any = {"rules": parsed, "note": note}
    elif isinstance(parsed, dict):
        body = {**parsed, "note": note} if note or "note" not in parsed else parsed
    else:
        raise _invalid("the rules are a JSON list of rules, or an object with one", [])
    try:
        return RuleSetIn.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        location = [part if isinstance(part, int) else str(part) for part in first.get("loc", ())]
        where = ".".join(str(part) for part in location) or "the rule set"
        raise _invalid(f"{where}: {first.get('msg', 'not valid')}", location) from exc


@router.post("/risk/rules", response_model=None)
def save_rules(request: Request, form: PostedForm) -> Response:
    """Put the text area's rule set in force, as ``PUT /v1/risk/rules`` would."""
    signed = operator_acting(request, form)
    if isinstance(signed, Response):
        return signed
    ctx = ctx_of(request)
    text, note = form_text(form, "rules"), form_text(form, "note") or ""
    try:
        body = _rule_set_of(text, note)
        with ctx.db.transaction() as session:
            ruleset = rulesets.put_rules(session, ctx, signed.principal, [rule.model_dump() for rule in body.rules],
                                         body.note)
        rulesets.remember(ctx, ruleset)
    except IndiePayError as exc:
        shown = text if text is not None and len(text) <= MAX_RULES_TEXT else None
        return _page(request, signed, status_code=exc.http_status, error=exc, typed=shown,
                     note=note[:500] if note.isprintable() else "")
    return RedirectResponse("/dashboard/risk?done=rules", status_code=303, headers=HEADERS)
