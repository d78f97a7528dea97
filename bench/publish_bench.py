"""Publishing one more review on top of N published ones, against a plain Material build.

    .venv/bin/python bench/publish_bench.py [--sizes 500,2000,5000]

For each size: N realistic published reviews are written to a fresh embedded database and
published once (every page rendered, not timed against the goal). Then one more review is
approved and the real "publish" task runs in a fresh process (render its page, regenerate the
index pages and charts, strict MkDocs build with Material, search and tags, atomic swap, mark
published). In the same run, a clean `mkdocs build` of the same pages with a plain Material
configuration (theme + search, reviews kept out of the navigation) runs in another fresh
process. Each child times its own work after its imports (as a warm worker would run it),
wall clock and CPU; its peak memory is its max RSS (wait4). The reviews carry about 1.5 KB
of text each (generated sentences, bullets, a 12-event timeline, 1–3 action items).
Goal: publish ≤ 1.2 × plain at every size, linear growth, search index < 3 KB per review.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SAMPLE = (
    "the payroll service failed because a certificate expired while the load balancer "
    "kept sending traffic to nodes that could not complete the handshake so users saw "
    "errors until the on-call engineer rolled back the change and renewed the "
    "certificate monitoring did not alert because the check only looked at the public "
    "endpoint queue depth grew database connections were exhausted"
)
WORDS = tuple(SAMPLE.split())
SERVICES = (
    "payroll",
    "erp",
    "email",
    "vpn",
    "warehouse-scanners",
    "website",
    "customer-portal",
    "identity",
)
TAGS = (
    "network",
    "identity",
    "erp",
    "vendor",
    "change",
    "capacity",
    "security",
    "hardware",
    "software",
    "process",
    "monitoring",
)
KINDS = (
    "reported",
    "classified",
    "declared",
    "paged",
    "acknowledged",
    "mobilised",
    "update",
    "update",
    "update",
    "sla-warning",
    "update",
    "resolved",
)


def sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def texts(rng: random.Random) -> dict:
    """About 1.8 KB of review text, shaped like a real post-mortem."""

    def para(k):
        return " ".join(sentence(rng, rng.randint(10, 18)) for _ in range(k))

    def bullets(k):
        return "\n".join(f"- {sentence(rng, rng.randint(6, 12))}" for _ in range(k))

    return {
        "summary": para(2),
        "impact": para(2),
        "root_causes": bullets(3),
        "trigger": para(1),
        "detection": para(1),
        "resolution": para(2),
        "contributing_factors": bullets(2),
        "went_well": bullets(2),
        "went_poorly": bullets(2),
        "lucky": para(1),
        "lessons": bullets(2),
    }


def make_hub(data: Path):
    os.environ["HUB_DATA_DIR"] = str(data)
    os.environ["HUB_QUEUE_URL"] = "memory://"
    from hub.app.context import Hub
    from hub.app.migrate import upgrade
    from hub.app.settings import load_settings
    from hub.policy.load import load_policy

    settings = load_settings()
    upgrade(settings.database_url)
    return Hub(settings, policy=load_policy(ROOT / "policy.yaml", env={}))


def add_reviews(hub, start: int, count: int, state: str = "published") -> list[int]:
    """`count` incidents with their reviews, written in batches (ids of the reviews)."""
    from hub.app.models import ActionItem, Incident, Review
    from hub.core import review_metrics as rm

    rng, ids = random.Random(start), []
    base = datetime(2023, 1, 1, tzinfo=UTC)
    for first in range(start, start + count, 500):
        with hub.db.session() as session:
            batch = []
            for n in range(first, min(start + count, first + 500)):
                created = base + timedelta(hours=7 * n)
                severity = rng.choice(("SEV1", "SEV2"))
                services = rng.sample(SERVICES, rng.choice((1, 1, 2)))
                resolved = created + timedelta(minutes=rng.randint(30, 400))
                acked = created + timedelta(minutes=rng.randint(1, 20))
                incident = Incident(
                    title=f"{sentence(rng, 6)[:-1]} ({n})",
                    state="review_published",
                    major=True,
                    severity=severity,
                    services=services,
                    created_at=created,
                    updated_at=resolved,
                    declared_at=created,
                    mobilised_at=acked,
                    resolved_at=resolved,
                    summary=sentence(rng, 8),
                )
                timeline = [
                    {
                        "at": (created + (resolved - created) * i / 11).isoformat(),
                        "kind": kind,
                        "text": sentence(rng, rng.randint(5, 12)),
                        "actor": None,
                    }
                    for i, kind in enumerate(KINDS)
                ]
                review = Review(
                    incident=incident,
                    state=state,
                    services=services,
                    tags=rng.sample(TAGS, rng.randint(1, 3)),
                    timeline=timeline,
                    created_at=resolved,
                    updated_at=resolved,
                    approved_by="anna",
                    approved_at=resolved,
                    published_at=resolved if state == "published" else None,
                    affected_users=rng.randint(10, 1200),
                    **texts(rng),
                    metrics=rm.derive(
                        rm.Times(
                            detected_at=created,
                            declared_at=created,
                            acknowledged_at=acked,
                            mobilised_at=acked,
                            resolved_at=resolved,
                        )
                    ),
                )
                for k in range(rng.randint(1, 3)):
                    review.action_items.append(
                        ActionItem(
                            title=sentence(rng, 7),
                            owner=rng.choice(("elif", "felix", "david")),
                            due=date(2023, 1, 1) + timedelta(days=n // 3 + 30 * k),
                            priority=rng.choice(("P1", "P2", "P3")),
                            status=rng.choice(("open", "done", "done")),
                            created_at=resolved,
                            updated_at=resolved,
                        )
                    )
                batch.append(review)
            session.add_all(batch)
            session.flush()
            ids += [r.id for r in batch]
    return ids


PLAIN = """site_name: Post-incident reviews
docs_dir: {docs}
site_dir: {site}
theme:
  name: material
plugins:
  - search
nav: {nav}
not_in_nav: |
  /reviews/
  /browse/service/
  /browse/severity/
  /browse/month/
"""


def measured(args: list[str]) -> dict:
    """Run a child that times its own work after its imports: its JSON plus its peak RSS (MB).

    Both children are timed the same way (from the first line of work to the last, warm
    imports excluded, as in a running worker), wall clock and CPU; CPU time stays meaningful
    on a shared machine, where wall time also measures the neighbours.
    """
    child = subprocess.Popen(args, stdout=subprocess.PIPE, cwd=ROOT, env=dict(os.environ))
    out = child.stdout.read().decode()
    _pid, status, usage = os.wait4(child.pid, 0)
    if status != 0:
        raise SystemExit(f"{args} failed with status {status}")
    return dict(json.loads(out.strip().splitlines()[-1]), mb=usage.ru_maxrss / 1024)


def _timed(work) -> dict:
    wall, cpu = time.perf_counter(), time.process_time()
    outcome = work()
    return {
        "wall": time.perf_counter() - wall,
        "cpu": time.process_time() - cpu,
        "outcome": outcome,
    }


def publish_one(data: str, review_id: str) -> None:
    """Child: the real publish task for one approved review."""
    from hub.app.db import utcnow
    from hub.reviews.publish.jobs import publish_now

    hub = make_hub(Path(data))
    print(json.dumps(_timed(lambda: publish_now(hub, int(review_id), utcnow()))))


def plain_build(config: str) -> None:
    """Child: a clean `mkdocs build` (what the CLI runs) with the plain configuration."""
    from mkdocs.commands.build import build
    from mkdocs.config import load_config

    def work():
        cfg = load_config(config)
        cfg.plugins.on_startup(command="build", dirty=False)
        try:
            build(cfg)
        finally:
            cfg.plugins.on_shutdown()

    print(json.dumps(_timed(work)))


def run_size(size: int, work: Path, repeat: int) -> dict:
    from hub.app.db import utcnow
    from hub.reviews.publish import pages
    from hub.reviews.publish.site import paths_for, publish_site

    data = work / f"n{size}"
    hub = make_hub(data)
    started = time.perf_counter()
    add_reviews(hub, 0, size)
    generated = time.perf_counter() - started
    started = time.perf_counter()
    publish_site(hub, full=True, now=utcnow())
    initial = time.perf_counter() - started
    paths = paths_for(data)
    config = data / "plain.yml"
    config.write_text(
        PLAIN.format(docs=paths.docs, site=data / "plain-site", nav=json.dumps(pages.nav()))
    )
    runs = []
    for n in range(repeat):  # each round publishes one more new review; best of the rounds
        (review_id,) = add_reviews(hub, size + n, 1, state="approved")
        pub = measured([sys.executable, __file__, "--publish-one", str(data), str(review_id)])
        assert pub["outcome"] == "published", pub
        plain = measured([sys.executable, __file__, "--plain-build", str(config)])
        runs.append((pub, plain))
    hub.db.dispose()
    pub = {k: min(p[k] for p, _ in runs) for k in ("wall", "cpu", "mb")}
    plain = {k: min(q[k] for _, q in runs) for k in ("wall", "cpu", "mb")}
    index = (paths.site / "search" / "search_index.json").stat().st_size
    rng = random.Random(size)
    text = sum(sum(len(t) for t in texts(rng).values()) for _ in range(100)) / 100
    return {
        "size": size,
        "generate_s": generated,
        "initial_full_publish_s": initial,
        "publish_s": pub["wall"],
        "publish_cpu_s": pub["cpu"],
        "publish_mb": pub["mb"],
        "plain_s": plain["wall"],
        "plain_cpu_s": plain["cpu"],
        "plain_mb": plain["mb"],
        "ratio": pub["wall"] / plain["wall"],
        "cpu_ratio": pub["cpu"] / plain["cpu"],
        "publish_cpu_ms_per_review": 1000 * pub["cpu"] / (size + 1),
        "index_bytes_per_review": index / (size + repeat),  # on the site after the last round
        "text_bytes_per_review": text,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="500,2000,5000")
    parser.add_argument("--repeat", type=int, default=2, help="Rounds per size (best is kept).")
    parser.add_argument("--publish-one", nargs=2, metavar=("DATA_DIR", "REVIEW_ID"))
    parser.add_argument("--plain-build", metavar="CONFIG")
    args = parser.parse_args()
    if args.publish_one:
        publish_one(*args.publish_one)
        return
    if args.plain_build:
        plain_build(args.plain_build)
        return
    rows = []
    with tempfile.TemporaryDirectory(prefix="mihub-publish-bench-") as tmp:
        for size in (int(s) for s in args.sizes.split(",")):
            row = run_size(size, Path(tmp), args.repeat)
            rows.append(row)
            print(
                json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}),
                flush=True,
            )
    print()
    print(
        "| existing reviews | publish one more: wall / CPU | peak memory "
        "| plain `mkdocs build`: wall / CPU | peak memory | ratio wall / CPU "
        "| publish CPU per review | search index per review |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['size']:,} | {r['publish_s']:.1f} s / {r['publish_cpu_s']:.1f} s "
            f"| {r['publish_mb']:.0f} MB | {r['plain_s']:.1f} s / {r['plain_cpu_s']:.1f} s "
            f"| {r['plain_mb']:.0f} MB | {r['ratio']:.2f}× / {r['cpu_ratio']:.2f}× "
            f"| {r['publish_cpu_ms_per_review']:.1f} ms "
            f"| {r['index_bytes_per_review'] / 1024:.2f} KB |"
        )


if __name__ == "__main__":
    main()
