"""One stakeholder update to an audience of 5,000 people: time to the last delivery and the counts
the hub shows, through an SMTP relay and through Graph's 30 messages a minute, against a plain
loop in the same run.

    .venv/bin/python bench/delivery_bench.py                 # 5,000 people, both transports
    .venv/bin/python bench/delivery_bench.py --people 1000 --only smtp

Each part starts `mihub run` on a fresh data directory (the embedded default: SQLite and
SqliteHuey) with the demo policy, its executives audience made of --people addresses (one
outbox row per person, as an Entra group expanded per person gives), declares a SEV1 incident,
waits until the declaration's notice is out, then posts the update through the API and times
from its answer to the last message the local peer accepted. While it goes out, the API's
`deliveries` summary of the update is read every --poll seconds; the first and the last
summary lines are printed (the counts, and the expected finish while it is throttled).

1. smtp: an aiosmtpd sink that waits --accept-ms (10) before each 250, as a relay that fsyncs
   its queue does; the hub sends one message per person (HUB_SMTP_BATCH=1, the default, over
   HUB_SMTP_CONNECTIONS pooled connections), then again with --smtp-batch (100) addresses per
   envelope. The plain loop: smtplib over one connection sending the same number of messages
   one by one through the same relay.
2. graph: the local Graph fake with Exchange's limit (30 messages in any minute per mailbox,
   429 beyond) and the hub at HUB_GRAPH_SEND_PER_MINUTE=30, addressing the audience in BCC
   batches of HUB_GRAPH_BCC_BATCH (500). One message per person through the same limit is
   not run: at 30 a minute it is people / 30 minutes, printed as that arithmetic.
"""

from __future__ import annotations

import argparse
import json
import os
import smtplib
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.mobilisation_bench import RunningHub, policy_text  # noqa: E402
from hub.testing.fakes.microsoft import FakeMicrosoft  # noqa: E402
from hub.testing.fakes.smtp_sink import SmtpSink  # noqa: E402
from hub.testing.fakes.teams import FakeTeams  # noqa: E402

DOMAIN = "northwind.example"


def people(n: int) -> set[str]:
    """The addresses policy_text puts in the executives audience."""
    return {f"exec{i:04d}@{DOMAIN}" for i in range(n)}


class Summaries:
    """Reads the update's `deliveries` summary from the API every `poll` seconds."""

    def __init__(self, hub: RunningHub, ref: str, poll: float):
        self.hub, self.ref, self.poll = hub, ref, poll
        self.seen: list[tuple[float, dict, float]] = []  # (time, executives, seconds the GET took)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.is_set():
            found = self.read()
            if found is not None:
                self.seen.append(found)
            self.stop.wait(self.poll)

    def read(self) -> tuple[float, dict, float] | None:
        t0 = time.time()
        doc = self.hub.http.get(f"{self.hub.base}/api/v1/incidents/{self.ref}", timeout=300)
        took = time.time() - t0
        updates = [
            e for e in doc.json().get("deliveries", []) if e["template"] == "stakeholder-update"
        ]
        if not updates:
            return None
        execs = [a for a in updates[-1]["audiences"] if a["audience"] == "executives"]
        return (time.time(), execs[0], took) if execs else None


def wait_until(count, target: int, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while count() < target:
        if time.monotonic() > deadline:
            raise SystemExit(f"{what}: {count()} of {target} within {timeout:.0f} s")
        time.sleep(0.05)


def _shown(summaries: Summaries, final: tuple | None, last: float) -> dict:
    first = summaries.seen[0] if summaries.seen else final
    estimated = [s for s in summaries.seen if "expected to finish" in s[1]["summary"]]
    estimate = {}
    if estimated:  # the first time an expected finish was shown, and how it held
        at, execs, _ = estimated[0]
        finish = datetime.fromisoformat(execs["expected_finish_at"]).timestamp()
        estimate = {
            "summary_with_estimate": execs["summary"],
            "estimate_made_s_before_the_end": round(last - at, 1),
            "estimate_error_s": round(finish - last, 1),
        }
    return {
        "first_summary": first[1]["summary"] if first else None,
        **estimate,
        "final_summary": final[1]["summary"] if final else None,
        "api_get_s": round(max(s[2] for s in summaries.seen + [final]), 2) if final else None,
        "final_counts": {k: final[1][k] for k in ("total", "delivered", "failed", "pending")}
        if final
        else None,
    }


def bench_smtp(args, workdir: Path, batch: int) -> dict:
    sink = SmtpSink(accept_delay=args.accept_ms / 1000).start()
    teams = FakeTeams().start()
    execs = people(args.people)
    extra = {"HUB_SMTP_BATCH": str(batch)}
    hub = RunningHub(workdir / f"smtp-{batch}", sink, policy_text(teams, args.people), extra)

    def delivered() -> int:
        return sum(1 for m in list(sink.messages) for r in m.rcpt_tos if r.lower() in execs)

    try:
        ref, _, _ = hub.declare("Payroll is down")
        wait_until(delivered, len(execs), 900, "the declaration's notice")
        time.sleep(1.0)
        sink.clear()
        summaries = Summaries(hub, ref, args.poll)
        t0, t1 = hub.post_update(ref, "Failing over to the standby payroll database.")
        summaries.thread.start()
        wait_until(delivered, len(execs), 900, "the update")
        last = max(m.at for m in list(sink.messages))
        summaries.stop.set()
        summaries.thread.join(300)
        time.sleep(0.5)  # the last marks are committed in batches
        final = summaries.read()
        messages = sum(1 for m in list(sink.messages) if m.rcpt_tos[0].lower() in execs)
    finally:
        hub.stop()
        teams.stop()
    # the plain loop: the same number of messages, one by one, one connection, same relay
    data = b"Subject: plain\r\nFrom: hub@northwind.example\r\n\r\nFailing over.\r\n"
    sink.clear()
    p0 = time.time()
    smtp = smtplib.SMTP(sink.host, sink.port, timeout=60)
    for address in sorted(execs):
        smtp.sendmail(f"hub@{DOMAIN}", [address], data)
    smtp.quit()
    plain = time.time() - p0
    sink.stop()
    hub_s = last - t1
    return {
        "transport": "smtp",
        "accept_ms": args.accept_ms,
        "people": len(execs),
        "addresses_per_message": batch,
        "messages": messages,
        "update_request_s": round(t1 - t0, 2),
        "hub_last_delivery_s": round(hub_s, 2),
        "plain_loop_s": round(plain, 2),
        "plain_over_hub": round(plain / hub_s, 2),
        **_shown(summaries, final, last),
    }


def bench_graph(args, workdir: Path) -> dict:
    fake = FakeMicrosoft(tenant="bench", clients={"bench-client": "bench-secret"}).start()
    fake.throttle_mail(30)
    sink, teams = SmtpSink().start(), FakeTeams().start()
    mailbox = f"hub@{DOMAIN}"
    extra = {
        "HUB_MAIL_TRANSPORT": "graph",
        "HUB_MAIL_FROM": f"Major Incident Hub <{mailbox}>",
        "HUB_AUTHORITY_HOST": fake.url,
        "HUB_GRAPH_API": f"{fake.url}/v1.0",
        "HUB_GRAPH_TENANT_ID": "bench",
        "HUB_GRAPH_CLIENT_ID": "bench-client",
        "HUB_GRAPH_CLIENT_SECRET": "bench-secret",
        "HUB_GRAPH_MAILBOX": mailbox,
        "HUB_GRAPH_SEND_PER_MINUTE": "30",
        "HUB_GRAPH_BCC_BATCH": str(args.graph_batch),
    }
    execs = people(args.people)

    def reached(since: float) -> tuple[int, int, float]:
        """(executives reached, messages carrying them, time of the last) since `since`."""
        got, messages, last = 0, 0, 0.0
        for record in list(fake.sent):
            if record["at"] < since or "message" not in record:
                continue
            bcc = record["message"].get("Bcc")
            found = [a.addr_spec.lower() for a in bcc.addresses] if bcc else []
            hits = sum(1 for a in found if a in execs)
            if hits:
                got, messages, last = got + hits, messages + 1, max(last, record["at"])
        return got, messages, last

    hub = RunningHub(workdir / "graph", sink, policy_text(teams, args.people), extra)
    try:
        ref, d0, _ = hub.declare("Payroll is down")
        wait_until(lambda: reached(d0)[0], len(execs), 900, "the declaration's notice")
        summaries = Summaries(hub, ref, args.poll)
        t0, t1 = hub.post_update(ref, "Failing over to the standby payroll database.")
        summaries.thread.start()
        # since the request: the worker may send before its answer is back
        wait_until(lambda: reached(t0)[0], len(execs), 1800, "the update")
        got, messages, last = reached(t0)
        summaries.stop.set()
        summaries.thread.join(300)
        time.sleep(0.5)
        final = summaries.read()
    finally:
        hub.stop()
        sink.stop()
        teams.stop()
        fake.stop()
    return {
        "transport": "graph",
        "people": len(execs),
        "addresses_per_message": args.graph_batch,
        "messages": messages,
        "people_reached": got,
        "fake_429s": fake.throttled,
        "update_request_s": round(t1 - t0, 2),
        "hub_last_delivery_s": round(last - t1, 2),
        "one_message_per_person_at_30_a_minute_min": round(len(execs) / 30, 1),
        **_shown(summaries, final, last),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=5000, help="audience size")
    parser.add_argument("--accept-ms", type=float, default=10.0, help="relay delay before 250")
    parser.add_argument("--smtp-batch", type=int, default=100, help="addresses per envelope")
    parser.add_argument("--graph-batch", type=int, default=500, help="addresses per message")
    parser.add_argument("--poll", type=float, default=2.0, help="seconds between API reads")
    parser.add_argument("--only", choices=["smtp", "graph"], action="append")
    args = parser.parse_args(argv)
    parts = args.only or ["smtp", "graph"]
    print(f"load average at start: {os.getloadavg()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="mihub-delivery-bench-") as tmp:
        runs = []
        if "smtp" in parts:
            runs += [lambda: bench_smtp(args, Path(tmp), 1)]
            if args.smtp_batch > 1:
                runs += [lambda: bench_smtp(args, Path(tmp), args.smtp_batch)]
        if "graph" in parts:
            runs += [lambda: bench_graph(args, Path(tmp))]
        for run in runs:
            t = time.time()
            result = run()
            result["wall_s"] = round(time.time() - t, 1)
            print(json.dumps(result, indent=2), flush=True)
    print(f"load average at end: {os.getloadavg()}", flush=True)


if __name__ == "__main__":
    main()
