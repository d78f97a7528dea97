"""Reading one incident (`GET /api/v1/incidents/{id}`) whose outbox holds two notices to a
5,000-person audience: the API's read against a whole-object read, in one run.

    .venv/bin/python bench/incident_read_bench.py [--people 5000] [--reads 9]

Builds a hub on the embedded default (SQLite) in a temporary directory, declares a SEV1
incident through the API, writes 2 x --people outbox rows for it (stakeholder updates to the
executives audience, each with a rendered payload of about 3 KB as a sent email keeps; most
sent, some failed, some pending), then times --reads reads of each:

1. api: the in-process API read (the latest 200 notifications as column tuples, their total
   counted, the `deliveries` summary counted in SQL: GROUP BY event, audience, status, ...);
2. the same with `?notifications=all` (every notification listed);
3. objects: every row loaded as an ORM object and the whole document built from them
   (`incident_detail` over `incident.notifications`, the summary over them), for comparison;
4. room: the console's incident room (`GET /incidents/{id}`, signed in), which lists the latest
   200 deliveries and counts the rest in SQL (hub.web.room_deliveries).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._load import machine  # noqa: E402

PAYLOAD = {"subject": "Payroll: update 3", "html": "<p>" + "x" * 3000 + "</p>"}


def build(data: Path):
    """A migrated hub on SQLite in `data`, with the example policy."""
    from hub.app.context import Hub
    from hub.app.migrate import upgrade
    from hub.app.settings import load_settings
    from hub.policy.load import load_policy

    policy_file = ROOT / "policy.yaml"
    url = f"sqlite:///{data / 'hub.db'}"
    upgrade(url)
    settings = load_settings(
        overrides={
            "HUB_DATA_DIR": str(data),
            "HUB_DATABASE_URL": url,
            "HUB_QUEUE_URL": f"sqlite:///{data / 'queue.db'}",
            "HUB_POLICY": str(policy_file),
        }
    )
    the_hub = Hub(settings, policy=load_policy(policy_file, env={}))
    the_hub.enqueue = lambda jobs: None  # no worker: nothing is sent
    the_hub.enqueue_at = lambda jobs: None
    return the_hub


def seed(the_hub, incident_id: int, people: int) -> int:
    """Two notices to `people` addresses each; returns the rows written."""
    from sqlalchemy import insert

    from hub.app.db import utcnow
    from hub.app.models import Notification

    now = utcnow()
    rows = []
    for n in (1, 2):
        at = now + timedelta(minutes=30 * n)
        for i in range(people):
            status = "failed" if i % 500 == 7 else "pending" if i >= people - 40 else "sent"
            rows.append(
                {
                    "incident_id": incident_id,
                    "key": f"update:{incident_id}:{n}|exec{i:05d}@northwind.example|email",
                    "channel": "email",
                    "recipient": f"exec{i:05d}@northwind.example",
                    "template": "stakeholder-update",
                    "payload": PAYLOAD,
                    "status": status,
                    "attempts": 1,
                    "last_error": "552 5.2.2 mailbox full" if status == "failed" else None,
                    "created_at": at,
                    "sent_at": at + timedelta(seconds=i / 100) if status == "sent" else None,
                    "audience": "executives",
                    "person": None,
                }
            )
    with the_hub.db.session() as session:
        session.execute(insert(Notification), rows)
    return len(rows)


def read_objects(the_hub, ref: str) -> str:
    """The whole-object read: every outbox row as an ORM object, all of them listed, the
    summary built from them, the document as JSON."""
    from functools import partial

    from hub.app.db import utcnow
    from hub.app.timefmt import local_hhmmss
    from hub.incidents import records
    from hub.incidents.serialize import incident_detail
    from hub.notifications.delivery_report import queues_for, summarize

    with the_hub.db.session(write=False) as session:
        incident = records.get_incident(session, ref)
        now = utcnow()
        rows = list(incident.notifications)
        doc = incident_detail(incident, now, {}, rows)
        shown = partial(local_hhmmss, tz=the_hub.policy.timezone)
        queues = queues_for(session, the_hub.settings, rows, now)
        doc["deliveries"] = [e.as_json(shown) for e in summarize(rows, now, queues)]
        return json.dumps(doc)


def signed_in(client, the_hub, person: str) -> None:
    """A console session for `person` in the client's cookie (as a sign-in link leaves)."""
    from hub.testing.sse import open_web_session

    token = open_web_session(the_hub, person, lifetime=timedelta(hours=1))
    with client.session_transaction() as cookie:
        cookie["sid"], cookie["csrf"] = token, "bench"


def timed(fn, reads: int) -> list[float]:
    out = []
    for _ in range(reads):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--people", type=int, default=5000)
    ap.add_argument("--reads", type=int, default=9)
    args = ap.parse_args()
    from hub import create_app
    from hub.http.auth import create_token

    data = Path(tempfile.mkdtemp(prefix="mihub-bench-"))
    the_hub = build(data)
    app = create_app({"TESTING": True}, hub=the_hub)
    client = app.test_client()
    comms = the_hub.policy.roles["communications_owner"][0]
    with the_hub.db.session() as session:
        token = create_token(session, the_hub.policy, comms, "bench")
    auth = {"Authorization": f"Bearer {token}"}
    svc = next(k for k, s in the_hub.policy.services.items() if s.critical)
    made = client.post(
        "/api/v1/incidents",
        headers=auth,
        json={"title": f"{svc} is down", "services": [svc], "impact": "outage"},
    )
    ref = made.get_json()["id"]
    from hub.incidents import records

    with the_hub.db.session(write=False) as session:
        incident_id = records.get_incident(session, ref).id
    written = seed(the_hub, incident_id, args.people)

    def read_api(query=""):
        r = client.get(f"/api/v1/incidents/{ref}{query}", headers=auth)
        assert r.status_code == 200, r.get_data(as_text=True)
        return r.get_json()

    signed_in(client, the_hub, comms)

    def read_room():
        r = client.get(f"/incidents/{ref}")
        assert r.status_code == 200, r.status_code
        return r.get_data()

    doc = read_api()
    room_bytes = len(read_room())
    read_objects(the_hub, ref)  # warm both paths once
    api = timed(read_api, args.reads)
    api_all = timed(lambda: read_api("?notifications=all"), args.reads)
    objects = timed(lambda: read_objects(the_hub, ref), args.reads)
    room = timed(read_room, args.reads)
    update = [e for e in doc["deliveries"] if e["template"] == "stakeholder-update"]
    print(f"command: {' '.join([os.path.basename(sys.executable), *sys.argv])}")
    print(f"machine: {machine()}")
    print(f"outbox rows for the incident: {written:,} (+ its own notices)")
    print(
        f"api read:     median {statistics.median(api) * 1000:7.1f} ms  "
        f"(best {min(api) * 1000:.1f}) — lists {len(doc['notifications'])} of "
        f"{doc['notifications_total']:,} notifications"
    )
    print(
        f"api read, ?notifications=all: median {statistics.median(api_all) * 1000:7.1f} ms  "
        f"(best {min(api_all) * 1000:.1f}) — lists every notification"
    )
    print(
        f"object read:  median {statistics.median(objects) * 1000:7.1f} ms  "
        f"(best {min(objects) * 1000:.1f}) — every row as an ORM object"
    )
    print(
        f"room page:    median {statistics.median(room) * 1000:7.1f} ms  "
        f"(best {min(room) * 1000:.1f}) — {room_bytes / 1024:.0f} KB of HTML"
    )
    for event in update:
        for a in event["audiences"]:
            print(f"  summary: {a['summary']}")
    the_hub.db.dispose()


if __name__ == "__main__":
    main()
