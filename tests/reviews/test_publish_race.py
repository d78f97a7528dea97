"""Publishing under concurrency, with real processes: ten approvals within two seconds, two
workers. Every approved review is live within 30 s of the last approval, and no review is
ever called published while its page answers 404 (the build that contains it is in place
first; builds are serialised across workers and each reads one snapshot of the approvals)."""

from __future__ import annotations

import os
import signal
import time

import pytest
import requests
from sqlalchemy import update

from hub.app.models import Incident, Review
from hub.testing.harness import create_token, free_port, start_mihub, wait_healthy
from tests.conftest import EXAMPLE_POLICY, ROOT, build_hub
from tests.review_factory import published_review

pytestmark = [pytest.mark.e2e, pytest.mark.spread]

REVIEWS = 10


def _in_review(backend, example_policy) -> list[str]:
    """Ten reviews waiting for approval (written straight to the database)."""
    hub = build_hub(backend, example_policy)
    refs = []
    try:
        with hub.db.session() as session:
            for n in range(REVIEWS):
                review = published_review(session, hub.policy, n, title=f"Outage {n}")
                review.state, review.approved_by = "in_review", None
                review.approved_at = review.published_at = None
                review.incident.state = "review_due"
                refs.append(review.incident.ref)
            session.execute(update(Incident).values(state="review_due"))
            session.execute(update(Review).values(state="in_review"))
    finally:
        hub.db.dispose()
    return refs


def test_ten_approvals_across_two_workers(tmp_path, backend, example_policy):
    refs = _in_review(backend, example_policy)
    port = free_port()
    env = dict(
        os.environ,
        HUB_DATA_DIR=str(backend["data_dir"]),
        HUB_HTTP=f"127.0.0.1:{port}",
        HUB_POLICY=str(EXAMPLE_POLICY),
        HUB_DATABASE_URL=backend["database_url"],
        HUB_QUEUE_URL=backend["queue_url"],
        HUB_KB_ACCESS="public",
    )
    base = f"http://127.0.0.1:{port}"
    procs = [start_mihub("web", env=env, cwd=ROOT)]
    try:
        wait_healthy(base, procs[0], timeout=90)
        procs += [start_mihub("worker", env=env, cwd=ROOT) for _ in range(2)]
        auth = {"Authorization": f"Bearer {create_token('anna', env=env, cwd=ROOT)}"}
        http = requests.Session()
        for ref in refs:  # ten approvals in about two seconds
            r = http.post(f"{base}/api/v1/incidents/{ref}/review/approve", headers=auth, json={})
            assert r.status_code == 202, r.text
            time.sleep(0.2)
        last_approval = time.monotonic()
        live, lies = {}, []
        while len(live) < REVIEWS and time.monotonic() - last_approval < 60:
            for ref in refs:
                if ref in live:
                    continue
                state = http.get(f"{base}/api/v1/incidents/{ref}/review", headers=auth).json()
                if state["state"] == "published":
                    page = http.get(f"{base}/kb/reviews/{ref}/")
                    if page.status_code != 200:
                        lies.append((ref, page.status_code))
                    else:
                        live[ref] = time.monotonic() - last_approval
            time.sleep(0.2)
    finally:
        for proc in procs:
            proc.stop(signal.SIGINT)
    slowest = max(live.values(), default=float("nan"))
    print(
        f"\n{len(live)} of {REVIEWS} reviews live; the last {slowest:.1f} s after the last approval"
    )
    assert lies == [], f"called published while the page answered: {lies}"
    assert len(live) == REVIEWS, sorted(set(refs) - set(live))
    assert slowest <= 30
