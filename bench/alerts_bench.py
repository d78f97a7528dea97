"""An alert storm over real HTTP vs. a one-row durable insert on the same server, same run.

    .venv/bin/python bench/alerts_bench.py [--alerts 20000] [--groups 200] [--senders 16]
                                           [--per-post 10] [--unmapped 40]

Starts `mihub web`'s server (gunicorn) on the embedded default in its own process, with an
extra route `/bench/insert` that inserts one row and commits (the ceiling for a durable
write), and `mihub worker`, which applies the stored notifications. A generated policy adds one catalogue service per mapped group (not critical, so a
group's `warning` alerts open one SEV3 incident each). `--senders` closed-loop clients post
Alertmanager notifications of `--per-post` new alerts each, the groups interleaved so that
several senders write to one group at once; `--unmapped` groups name no service and are
recorded only. The answers are timed (accepted rate, p99); then the bench waits for the
worker to apply everything (the applied rate) and reads the database: every alert stored
once (0 lost), one incident per mapped group, every notification processed. Prints JSON and
a summary line.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._load import (  # noqa: E402
    CEILING,
    cpu_seconds,
    machine,
    run_load,
    serve_with_ceiling,
    tree,
    web_env,
)
from hub.testing.harness import (  # noqa: E402
    MIHUB,
    Child,
    ProcessExited,
    WaitTimeout,
    free_port,
    run_mihub,
    wait_for,
    wait_healthy,
)

SOURCE = "alertmanager-bench"


def bench_policy(path: Path, groups: int) -> None:
    """The example policy plus one plain service per group (`bench-svc-NNN`)."""
    policy = yaml.safe_load((ROOT / "policy.yaml").read_text())
    for g in range(groups):
        policy["services"][f"bench-svc-{g:03d}"] = {"name": f"Bench service {g}"}
    path.write_text(yaml.safe_dump(policy, sort_keys=False))


def notification(i: int, groups: int, per_post: int, mapped: int) -> dict:
    """Post number `i`: the next `per_post` new alerts of group `i % groups`."""
    g, batch = i % groups, i // groups
    service = f"bench-svc-{g:03d}" if g < mapped else f"not-in-catalogue-{g:03d}"
    alerts = [
        {
            "status": "firing",
            "labels": {"alertname": "PodCrashLooping", "service": service,
                       "severity": "warning", "pod": f"pod-{g}-{batch}-{k}"},
            "annotations": {"summary": f"pod {g}-{batch}-{k} is crash looping"},
            "startsAt": "2026-12-06T10:00:00Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus.bench:9090/graph?g0.expr=up",
            "fingerprint": f"{g:04x}{batch:04x}{k:04x}",
        }
        for k in range(per_post)
    ]  # fmt: skip
    return {
        "receiver": "mihub", "status": "firing", "alerts": alerts,
        "groupLabels": {"service": service}, "commonLabels": {"service": service},
        "commonAnnotations": {"summary": f"{service}: pods crash looping"},
        "externalURL": "http://alertmanager.bench:9093", "version": "4",
        "groupKey": f'{{}}:{{service="{service}"}}', "truncatedAlerts": 0,
    }  # fmt: skip


def cpu_of(child: Child) -> float:
    """CPU seconds a started child and its descendants have used (0 before it starts)."""
    return cpu_seconds(tree(child.proc.pid)) if child.proc is not None else 0.0


def processed(database: Path) -> int:
    """Notifications the worker has applied so far."""
    from sqlalchemy import create_engine, text

    engine = create_engine(f"sqlite:///{database}")
    try:
        with engine.connect() as c:
            return c.execute(
                text(
                    "SELECT count(*) FROM inbound_messages WHERE channel='alerts' "
                    "AND status <> 'received'"
                )
            ).scalar()
    finally:
        engine.dispose()


def check(database: Path, posts: int, alerts: int, mapped: int) -> dict:
    """What the database holds after the storm."""
    from sqlalchemy import create_engine, text

    engine = create_engine(f"sqlite:///{database}")
    with engine.connect() as c:

        def one(sql):
            return c.execute(text(sql)).scalar()

        found = {
            "notifications_stored": one("SELECT count(*) FROM inbound_messages WHERE channel='alerts'"),
            "notifications_processed": one(
                "SELECT count(*) FROM inbound_messages WHERE channel='alerts' AND status='processed'"
            ),
            "alerts_stored": one("SELECT count(*) FROM alerts"),
            "alerts_distinct": one("SELECT count(DISTINCT identity) FROM alerts"),
            "groups": one("SELECT count(*) FROM alert_groups"),
            "incidents_created": one("SELECT count(*) FROM incidents"),
        }  # fmt: skip
    engine.dispose()
    found["lost"] = alerts - found["alerts_distinct"]
    found["ok"] = (
        found["notifications_stored"] == found["notifications_processed"] == posts
        and found["alerts_stored"] == found["alerts_distinct"] == alerts
        and found["incidents_created"] == mapped
    )
    return found


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--alerts", type=int, default=20_000)
    ap.add_argument("--groups", type=int, default=200)
    ap.add_argument("--senders", type=int, default=16)
    ap.add_argument("--per-post", type=int, default=10, help="alerts in one notification")
    ap.add_argument("--unmapped", type=int, default=40, help="groups naming no service")
    ap.add_argument(
        "--apply-after",
        action="store_true",
        help="start the worker after the storm (the answers alone, without the worker's writes)",
    )
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve_with_ceiling()
        return
    posts = args.alerts // args.per_post
    if posts % args.senders or posts % args.groups:
        raise SystemExit("--alerts / --per-post must divide by --senders and by --groups")
    mapped = args.groups - args.unmapped
    port = free_port()
    data = Path(tempfile.mkdtemp(prefix="mihub-bench-"))
    bench_policy(data / "policy.yaml", args.groups)
    # the storm is the point: no per-source limit
    env = web_env(data, port, data / "policy.yaml", HUB_ALERTS_RATE="0")
    at_start = machine()
    token = run_mihub("token", "create", "--source", SOURCE, env=env, cwd=ROOT).split()[-1]
    server = Child([sys.executable, __file__, "--serve"], env=env, cwd=ROOT, log=data / "web.log")
    worker = Child([*MIHUB, "worker"], env=env, cwd=ROOT, log=data / "worker.log")
    base = f"http://127.0.0.1:{port}"
    auth = {"Authorization": f"Bearer {token}"}
    try:
        try:
            wait_healthy(base, server.start(), timeout=60, interval=0.1)
            if not args.apply_after:
                worker.start()
        except (ProcessExited, WaitTimeout) as exc:
            raise SystemExit(str(exc)) from exc
        print(f"warming up… ({args.senders} senders)", file=sys.stderr)
        run_load(base, CEILING, lambda i: {}, clients=4, requests_per_client=20)
        web_cpu = cpu_of(server)
        ceiling = run_load(
            base, CEILING, lambda i: {}, clients=args.senders,
            requests_per_client=posts // args.senders,
        )  # fmt: skip
        ceiling["web_cpu_ms_each"] = round((cpu_of(server) - web_cpu) * 1000 / posts, 2)
        web_cpu, worker_cpu = cpu_of(server), cpu_of(worker)
        print(f"storm: {args.alerts} alerts in {posts} notifications…", file=sys.stderr)
        storm = run_load(
            base,
            "/intake/alerts/alertmanager",
            lambda i: notification(i, args.groups, args.per_post, mapped),
            clients=args.senders,
            requests_per_client=posts // args.senders,
            headers=auth,
            expect=(202,),
        )
        storm["web_cpu_ms_each"] = round((cpu_of(server) - web_cpu) * 1000 / posts, 2)
        started = time.perf_counter() - storm["seconds"]
        if args.apply_after:
            started = time.perf_counter()
            worker.start()
        wait_for(
            lambda: processed(data / "hub.db") >= posts,
            timeout=1800,
            interval=0.5,
            what="the worker to apply every notification",
        )
        applied_s = time.perf_counter() - started
        worker_cpu_each = round((cpu_of(worker) - worker_cpu) * 1000 / posts, 2)
    finally:
        server.stop(signal.SIGTERM, timeout=30)
        if worker.proc is not None:
            worker.stop(signal.SIGTERM, timeout=60)
    found = check(data / "hub.db", posts, args.alerts, mapped)
    accepted = args.alerts / storm["seconds"] if not storm["errors"] else 0.0
    result = {
        "alerts": args.alerts, "groups": args.groups, "mapped_groups": mapped,
        "senders": args.senders, "alerts_per_notification": args.per_post,
        "worker_during_storm": not args.apply_after,
        "storm": storm, "one_row_insert": ceiling,
        "alerts_accepted_per_second": round(accepted, 1),
        "alerts_applied_per_second": round(args.alerts / applied_s, 1),
        "applied_within_s": round(applied_s, 1),
        "worker_cpu_ms_per_notification": worker_cpu_each,
        "cpu_ratio": round(ceiling["web_cpu_ms_each"] / storm["web_cpu_ms_each"], 2),
        "ratio": round(storm["per_second"] / ceiling["per_second"], 2),
        "load_average_at_start": at_start["load_average"],
        **machine(),
        "database": found,
    }  # fmt: skip
    print(json.dumps(result, indent=2))
    print(
        f"\nalert storm: {result['alerts_accepted_per_second']} alerts/s accepted "
        f"({storm['per_second']} notifications/s), p50 {storm['p50_ms']} ms, p99 "
        f"{storm['p99_ms']} ms, {storm['errors']} errors; one-row insert {ceiling['per_second']}/s "
        f"p99 {ceiling['p99_ms']} ms; ratio {result['ratio']}; web CPU per request "
        f"{storm['web_cpu_ms_each']} ms (insert {ceiling['web_cpu_ms_each']} ms, ratio "
        f"{result['cpu_ratio']}); worker CPU {worker_cpu_each} ms per notification; all applied within "
        f"{result['applied_within_s']} s ({result['alerts_applied_per_second']} alerts/s); "
        f"incidents {found['incidents_created']}"
        f" (expected {mapped}); lost {found['lost']}; checks {'pass' if found['ok'] else 'FAIL'}; "
        f"load average {at_start['load_average'][0]} at the start, "
        f"{result['load_average'][0]} at the end, {result['cpus']} CPUs"
    )


if __name__ == "__main__":
    main()
