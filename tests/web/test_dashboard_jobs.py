"""The operator's page of the job queue over real loopback HTTP: dead jobs listed with their errors and
arguments (escaped), by status and kind, 50 a page; a dead job queued again from its form (audited as the API
audits it, then run by the worker); the refusals (``job_not_dead``, ``job_not_found``, ``note_too_long``,
``invalid_job_status``) on the page with their codes and nothing changed; and the guards (operator only,
CSRF)."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from indiepay.db.jobs.models import Job
from indiepay.web.dashboard import local
from tests.support.platform import PlatformUnderTest
from tests.web.test_dashboard import csrf, key_of, signed_in
from tests.web.test_dashboard_operator import operator

PAGE = "/dashboard/jobs"
# recent, not long ago: the daily housekeeping prune (run at the platform's start) deletes dead jobs past 90 days
EARLIER = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)


def _job(platform: PlatformUnderTest, job_id: str, *, status: str = "dead", kind: str = "no.such.kind",
         args: dict[str, Any] | None = None, error: str | None = "no handler for job kind") -> None:
    with platform.runtime.ctx.db.transaction() as session:
        session.add(Job(id=job_id, kind=kind, args=args if args is not None else {"why": "a kind no worker knows"},
                        unique_key=None, status=status, run_at=EARLIER, attempts=12, max_attempts=12,
                        created_at=EARLIER, finished_at=EARLIER if status in ("done", "dead") else None,
                        last_error=error))


def _row(platform: PlatformUnderTest, job_id: str) -> tuple[Any, ...]:
    [row] = platform.sql("SELECT status, attempts, run_at, finished_at, last_error FROM jobs WHERE id = :j", j=job_id)
    return tuple(row)


def test_the_operator_sees_dead_jobs_with_their_errors(platform: PlatformUnderTest) -> None:
    _job(platform, "job_web_dead", error="channel said SYSTEM_ERROR\nTraceback (most recent call last):\n  more")
    _job(platform, "job_web_done", status="done", kind="other.kind", error=None)
    admin = operator(platform)
    assert 'href="/dashboard/jobs"' in admin.get("/dashboard").text  # in the operator's navigation
    page = admin.get(PAGE)
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    text = page.text
    assert 'id="job-job_web_dead"' in text and "no.such.kind" in text and "12 / 12" in text
    assert "<summary>channel said SYSTEM_ERROR</summary>" in text and "Traceback (most recent call last):" in text
    assert 'id="requeue-job_web_dead"' in text and 'action="/dashboard/jobs/job_web_dead/requeue"' in text
    assert f"<td>{local(EARLIER)}</td>" in text  # due and finished, in Beijing time
    assert "&#34;why&#34;: &#34;a kind no worker knows&#34;" in text  # the arguments as JSON
    assert 'id="job-job_web_done"' not in text  # dead ones only, by default

    done = admin.get(PAGE, params={"status": "done"}).text
    assert 'id="job-job_web_done"' in done and 'id="job-job_web_dead"' not in done
    assert 'id="requeue-job_web_done"' not in done  # only a dead job has the form
    assert 'id="job-job_web_dead"' not in admin.get(PAGE, params={"kind": "other.kind"}).text
    assert 'id="job-job_web_dead"' in admin.get(PAGE, params={"kind": "no.such.kind"}).text
    for status in ("dead", "queued", "running", "done"):
        assert f'id="tab-{status}"' in text


def test_the_list_is_50_a_page(platform: PlatformUnderTest) -> None:
    with platform.runtime.ctx.db.transaction() as session:
        for n in range(52):
            session.add(Job(id=f"job_page_{n:02d}", kind="no.such.kind", args={}, unique_key=None, status="dead",
                            run_at=EARLIER + timedelta(minutes=n), attempts=1, max_attempts=1, created_at=EARLIER,
                            finished_at=EARLIER, last_error="gone"))
    admin = operator(platform)
    first = admin.get(PAGE).text
    shown = re.findall(r'id="job-(job_page_\d+)"', first)
    assert shown == [f"job_page_{n:02d}" for n in range(51, 1, -1)]  # the latest due first
    following = re.search(r'href="([^"]+)" id="next-page"', first)
    assert following and "starting_after=job_page_02" in following.group(1)
    rest = admin.get(following.group(1).replace("&amp;", "&")).text
    assert re.findall(r'id="job-(job_page_\d+)"', rest) == ["job_page_01", "job_page_00"]
    assert 'id="next-page"' not in rest


def test_a_dead_job_is_queued_again_from_its_form(platform: PlatformUnderTest) -> None:
    day = datetime.now(UTC).date().isoformat()
    _job(platform, "job_web_requeue", kind="dashboard.prune", args={"date": day})  # a kind the worker runs
    admin = operator(platform)
    page = admin.get(PAGE).text
    done = admin.post(f"{PAGE}/job_web_requeue/requeue", data={"csrf": csrf(page), "note": "endpoint back up"})
    assert done.status_code == 303 and done.headers["location"] == f"{PAGE}?done=requeued"
    shown = admin.get(done.headers["location"]).text
    assert 'id="notice">The job is queued again; the worker runs it now.' in shown
    assert _row(platform, "job_web_requeue")[0] in ("queued", "running", "done")
    events = platform.admin.get("/v1/audit_events", params={"action": "job.requeued"}).json()
    assert [(e["target_id"], e["actor"], e["details"]["note"], e["details"]["attempts_before"]) for e in events] \
        == [("job_web_requeue", "admin", "endpoint back up", 12)]
    deadline = time.monotonic() + 10  # the worker was woken: it runs the job now, not at its next poll
    while _row(platform, "job_web_requeue")[0] != "done":
        assert time.monotonic() < deadline, "the requeued job never ran"
        time.sleep(0.05)


def test_refusals_come_back_on_the_page_and_change_nothing(platform: PlatformUnderTest) -> None:
    _job(platform, "job_web_finished", status="done", error=None)
    _job(platform, "job_web_still_dead")
    admin = operator(platform)
    token = csrf(admin.get(PAGE).text)
    before = {job_id: _row(platform, job_id) for job_id in ("job_web_finished", "job_web_still_dead")}
    not_dead = admin.post(f"{PAGE}/job_web_finished/requeue", data={"csrf": token})
    assert not_dead.status_code == 409 and "(job_not_dead)" in not_dead.text
    assert 'id="jobs"' in not_dead.text and 'id="job-job_web_still_dead"' in not_dead.text  # the list, with the reason
    missing = admin.post(f"{PAGE}/job_nobody/requeue", data={"csrf": token})
    assert missing.status_code == 404 and "(job_not_found)" in missing.text and 'id="jobs"' in missing.text
    too_long = admin.post(f"{PAGE}/job_web_still_dead/requeue", data={"csrf": token, "note": "x" * 501})
    assert too_long.status_code == 400 and "(note_too_long)" in too_long.text
    assert {job_id: _row(platform, job_id) for job_id in before} == before
    assert platform.sql("SELECT count(*) FROM audit_events WHERE action = 'job.requeued'") == [(0,)]


def test_a_status_no_job_has_is_a_400_on_the_page(platform: PlatformUnderTest) -> None:
    zombie = operator(platform).get(PAGE, params={"status": "zombie"})
    assert zombie.status_code == 400 and "(invalid_job_status)" in zombie.text
    assert 'id="tab-dead"' in zombie.text  # the page itself, with its tabs back to a real status


def test_arguments_and_errors_are_escaped(platform: PlatformUnderTest) -> None:
    _job(platform, "job_web_html", args={"url": "<script>alert(1)</script>"},
         error='<script>alert(2)</script>\n<img src=x onerror="alert(3)">')
    text = operator(platform).get(PAGE).text
    assert "<script" not in text and "<img" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text and "&lt;script&gt;alert(2)&lt;/script&gt;" in text
    assert "&lt;img src=x onerror=&#34;alert(3)&#34;&gt;" in text


def test_the_jobs_page_is_the_operators_and_its_form_needs_the_token(platform: PlatformUnderTest) -> None:
    _job(platform, "job_web_guarded")
    merchant = platform.merchant("Nosy Jobs")
    client = signed_in(platform, key_of(merchant.api))
    front = client.get("/dashboard").text
    assert 'href="/dashboard/jobs"' not in front
    stranger = httpx.Client(base_url=platform.base_url, timeout=60, follow_redirects=False)
    platform.clients.append(stranger)
    before = _row(platform, "job_web_guarded")
    for method, path in (("GET", PAGE), ("POST", f"{PAGE}/job_web_guarded/requeue")):
        answer = client.get(path) if method == "GET" else client.post(path, data={"csrf": csrf(front)})
        assert answer.status_code == 403 and "(admin_required)" in answer.text, (method, path)
        assert "job_web_guarded" not in answer.text
        away = stranger.get(path) if method == "GET" else stranger.post(path, data={})
        assert away.status_code == 303 and away.headers["location"] == "/dashboard/login"
    admin = operator(platform)
    for forged in ({}, {"csrf": "guessed"}):
        answer = admin.post(f"{PAGE}/job_web_guarded/requeue", data={**forged, "note": "forged"})
        assert answer.status_code == 403 and "(csrf_failed)" in answer.text, forged
    assert _row(platform, "job_web_guarded") == before
    assert platform.sql("SELECT count(*) FROM audit_events WHERE action = 'job.requeued'") == [(0,)]
