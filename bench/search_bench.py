"""Searching the history: 10,000 closed incidents, full-text queries with filters.

    .venv/bin/python bench/search_bench.py [--closed 10000] [--requests 300]
        [--database-url postgresql+psycopg://…]

Fills a fresh database (embedded SQLite by default: FTS5) with closed incidents, each with a
title, a description, two updates and, for one in three, a review, all drawn from a
vocabulary of 3,000 words; then runs `GET /api/v1/incidents?q=…` with a mix of queries (one
rare word, one common word, two words, words plus service and date filters) in-process
(the server-side time) and over HTTP from waitress in a thread of this process. Prints
wall-clock p50/p95/p99 and the in-process CPU time per request. Target: p95 ≤ 100 ms.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._load import in_process_hub, machine, time_requests  # noqa: E402

TARGET_P95_MS = 100.0


def vocabulary(rng: random.Random, size: int = 3000) -> list[str]:
    """Made-up words, so that each has a known frequency (Zipf-like draws below)."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = set()
    while len(words) < size:
        words.add("".join(rng.choice(letters) for _ in range(rng.randrange(4, 10))))
    return sorted(words)


def sentence(rng: random.Random, words: list[str], n: int) -> str:
    # a word's chance falls with its rank: a few words are common, most are rare
    return " ".join(words[int(len(words) * rng.random() ** 3)] for _ in range(n))


def fill(hub, closed: int, now: datetime, rng: random.Random, words: list[str]) -> None:
    """Insert the incidents with plain inserts (the search index follows by its triggers)."""
    from hub.app.models import Incident, Review, TimelineEntry

    policy = hub.policy
    services, severities, people = (
        list(policy.services),
        list(policy.severities),
        list(policy.people),
    )
    incidents, entries, reviews = [], [], []
    for n in range(1, closed + 1):
        created = now - timedelta(days=rng.randrange(1, 700), minutes=rng.randrange(1440))
        severity = rng.choice(severities)
        incidents.append(
            {
                "id": n,
                "title": sentence(rng, words, 6),
                "description": sentence(rng, words, 25),
                "state": "closed",
                "major": policy.severities[severity].major,
                "severity": severity,
                "rule": "bench",
                "reasons": [],
                "services": [rng.choice(services)],
                "security": False,
                "source": "api",
                "reporter": rng.choice(people),
                "plan": {},
                "created_at": created,
                "updated_at": created,
                "resolved_at": created + timedelta(hours=2),
                "closed_at": created + timedelta(days=3),
            }
        )
        for k in range(2):
            entries.append(
                {
                    "incident_id": n,
                    "at": created + timedelta(minutes=30 * (k + 1)),
                    "kind": "update",
                    "actor": rng.choice(people),
                    "data": {},
                    "text": sentence(rng, words, 30),
                }
            )
        if n % 3 == 0:
            reviews.append(
                {
                    "incident_id": n,
                    "state": "published",
                    "version": 1,
                    "summary": sentence(rng, words, 40),
                    "root_causes": sentence(rng, words, 30),
                    "lessons": sentence(rng, words, 30),
                    "created_at": created,
                    "updated_at": created,
                }
            )
    with hub.db.session() as session:
        for table, rows in ((Incident, incidents), (TimelineEntry, entries), (Review, reviews)):
            for i in range(0, len(rows), 2000):
                session.execute(table.__table__.insert(), rows[i : i + 2000])


def queries(rng: random.Random, words: list[str], services: list[str], count: int) -> list[str]:
    """A mix of what people type: rare and common words, two words, words with filters."""
    out = []
    for i in range(count):
        rare, common = words[rng.randrange(1000, 3000)], words[rng.randrange(0, 30)]
        kind = i % 4
        if kind == 0:
            out.append(f"q={rare}")
        elif kind == 1:
            out.append(f"q={common}")
        elif kind == 2:
            out.append(f"q={common}+{words[rng.randrange(30, 300)]}")
        else:
            since = (datetime.now(UTC) - timedelta(days=365)).date().isoformat()
            out.append(f"q={common}&service={rng.choice(services)}&state=closed&since={since}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--closed", type=int, default=10_000)
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--database-url", default=None)
    args = ap.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="mihub-search-bench-"))
    hub = in_process_hub(data_dir, args.database_url)
    from hub import create_app
    from hub.http.auth import create_token
    from hub.runner import serving_in_thread

    url = hub.settings.database_url
    rng = random.Random(21)
    words = vocabulary(rng)
    t0 = time.perf_counter()
    fill(hub, args.closed, datetime.now(UTC), rng, words)
    filled = time.perf_counter() - t0
    with hub.db.session() as session:
        token = create_token(session, hub.policy, "anna", "bench")
    headers = {"Authorization": f"Bearer {token}"}
    app = create_app({}, hub=hub)
    client = app.test_client()
    todo = queries(rng, words, list(hub.policy.services), args.requests + 10)
    found = []

    def one(get):
        query = todo[len(found) % len(todo)]
        found.append(len(get(query)))

    def in_process(query):
        r = client.get(f"/api/v1/incidents?{query}", headers=headers)
        assert r.status_code == 200, r.get_json()
        return r.get_json()["incidents"]

    inproc = time_requests(lambda: one(in_process), args.requests)
    hits = sorted(found)
    serving = serving_in_thread(app, threads=4)
    base = serving.__enter__()
    import requests

    http = requests.Session()
    http.trust_env = False

    def over_http(query):
        r = http.get(f"{base}/api/v1/incidents?{query}", headers=headers, timeout=10)
        r.raise_for_status()
        return r.json()["incidents"]

    found.clear()
    via_http = time_requests(lambda: one(over_http), args.requests)
    http.close()
    serving.__exit__(None, None, None)
    result = {
        "closed": args.closed,
        "database": url.split(":")[0],
        "fill_s": round(filled, 1),
        "hits_per_query": {"min": hits[0], "median": hits[len(hits) // 2], "max": hits[-1]},
        **machine(),
        "search_in_process": inproc,
        "search_over_http": via_http,
        "target_p95_ms": TARGET_P95_MS,
        "ok": inproc["p95_ms"] <= TARGET_P95_MS or inproc["cpu"]["p95_ms"] <= TARGET_P95_MS,
    }
    print(json.dumps(result, indent=2))
    sys.exit(0 if result["ok"] else 1)


if __name__ == "__main__":
    main()
