"""Email intake over SMTP: accepted/s and processed/s, against a bare aiosmtpd writing to disk.

    .venv/bin/python bench/email_intake_bench.py [--messages 10000] [--clients 8] [--outbox 0]

Processed/s is end to end: from the first message sent until every stored message has its
outcome recorded. Last, the pipeline alone runs in this process over the first messages of
the same mix, timed in wall and in CPU seconds (the CPU figure holds on a busy machine): as
the worker runs it (`process_many`, several messages per transaction) and one message per
transaction. `--outbox N` first fills that pipeline's outbox with N delivered notifications
of the days before, as a hub in service has (the lookups per message must not grow with it).

In one run, on the embedded default (SQLite + SqliteHuey) in a temporary data directory:
1. the ceiling: `python -m hub.testing.fakes.smtp_sink` (aiosmtpd writing each message as a file);
2. the hub: `mihub smtpd` and `mihub worker` (its default threads), as separate processes, fed
   the same messages.
The mix is realistic: new reports (storms of the same service correlate), replies to
incidents, exact resends (duplicates), out-of-office and list mail, bounces, outsiders, HTML
and attachments. After sending it waits until every stored message is processed and checks
that none was lost and that the threading and deduplication counts are what the mix implies.
"""

from __future__ import annotations

import argparse
import os
import random
import smtplib
import sqlite3
import sys
import tempfile
import threading
import time
from datetime import timedelta
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

from sqlalchemy import event, insert

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._load import WORKER_THREADS, run_clients  # noqa: E402
from hub.app.context import Hub  # noqa: E402
from hub.app.db import utcnow  # noqa: E402
from hub.app.migrate import upgrade  # noqa: E402
from hub.app.settings import load_settings  # noqa: E402
from hub.channels.email.ids import root_message_id  # noqa: E402
from hub.intake.email.pipeline import process, process_many  # noqa: E402
from hub.intake.email.store import store_raw  # noqa: E402
from hub.policy.load import load_policy  # noqa: E402
from hub.testing.harness import Child, free_port, run_mihub, start_mihub, wait_listening  # noqa: E402
from tasks.registry import MAIL_BATCH  # noqa: E402

DOMAIN = "northwind.example"
INTAKE = f"incidents@{DOMAIN}"
SECRET = "bench-secret"
SERVICES = ["payroll", "SAP", "Outlook", "VPN", "scanners", "portal", "SSO", "website"]
SEED_INCIDENTS = 40  # reports without a service: each opens its own incident (replies go there)


def _msg(i: int, sender: str, subject: str, body: str, **headers) -> EmailMessage:
    msg = EmailMessage(policy=SMTP)
    msg["From"] = sender
    msg["To"] = INTAKE
    msg["Subject"] = subject
    msg["Date"] = "Tue, 03 Mar 2026 09:00:00 +0000"
    msg["Message-ID"] = f"<bench-{i}@mail.{DOMAIN}>"
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    return msg


def seed(count: int) -> list[bytes]:
    """Reports naming no service: one incident each, created before the mix arrives."""
    return [
        _msg(
            -1 - i, f"seed{i}@{DOMAIN}", f"Laptop {i} will not boot", "It shows a black screen."
        ).as_bytes()
        for i in range(count)
    ]


def mix(total: int, rng: random.Random) -> tuple[list[bytes], dict[str, int]]:
    """`total` messages and how many of each kind they hold."""
    out: list[bytes] = []
    kinds = {"report": 0, "reply": 0, "duplicate": 0, "automatic": 0, "bounce": 0, "outsider": 0}
    weights = [
        ("report", 30),
        ("reply", 35),
        ("duplicate", 10),
        ("automatic", 12),
        ("bounce", 5),
        ("outsider", 8),
    ]
    names, cum = [k for k, _ in weights], [w for _, w in weights]
    for i in range(total):
        kind = rng.choices(names, cum)[0] if out else "report"
        user = f"user{rng.randrange(3000)}@{DOMAIN}"
        if kind == "duplicate":
            out.append(rng.choice(out))
        elif kind == "report":
            service = rng.choice(SERVICES)
            msg = _msg(
                i,
                user,
                f"{service} is slow",
                f"{service} has been slow for me since this morning, timing out.",
            )
            if rng.random() < 0.2:
                msg.add_alternative(f"<p><b>{service}</b> is slow.</p>", subtype="html")
            if rng.random() < 0.1:
                msg.add_attachment(
                    rng.randbytes(20_000),
                    maintype="image",
                    subtype="png",
                    filename="screenshot.png",
                )
            out.append(msg.as_bytes())
        elif kind == "reply":
            n = rng.randrange(1, SEED_INCIDENTS + 1)
            root = root_message_id(SECRET, n, DOMAIN)
            out.append(
                _msg(
                    i,
                    user,
                    f"RE: [INC-{n}] Laptop will not boot",
                    "Same here.\n\n"
                    f"On Tue, Hub wrote:\n> ## Reply above this line to add to INC-{n} ##"
                    "\n> old text\n",
                    In_Reply_To=root,
                    References=root,
                ).as_bytes()
            )
        elif kind == "automatic":  # what Exchange, Apple, Gmail and list servers send
            subject, headers = rng.choice(
                [
                    ("Automatic reply: Payroll", {"Auto_Submitted": "auto-replied"}),
                    ("Automatic reply: VPN", {"X_Auto_Response_Suppress": "All"}),
                    ("Out of Office: SAP", {"X_MS_Exchange_Inbox_Rules_Loop": user}),
                    ("Re: Portal", {"X_Apple_Action": "VACATION"}),
                    ("Abwesenheitsnotiz: Scanner", {}),
                    ("News", {"Precedence": "bulk", "List_Id": f"news <news.{DOMAIN}>"}),
                ]
            )
            out.append(_msg(i, user, subject, "I am away.", **headers).as_bytes())
        elif kind == "bounce":
            out.append(bounce(i, rng))
        else:
            out.append(_msg(i, f"someone{i}@outside.example", "Buy now", "Offer.").as_bytes())
        kinds[kind] += 1
    return out, kinds


def bounce(i: int, rng: random.Random) -> bytes:
    """A bounce of mail the hub never sent: a Postfix DSN, an Exim text bounce, an NDR."""
    if rng.random() < 0.5:
        msg = _msg(i, f"MAILER-DAEMON@mx.{DOMAIN}", "Undelivered Mail Returned to Sender", "")
        msg.set_content("This is the mail system. Your message could not be delivered.")
        status = EmailMessage()
        status.set_content(
            f"Reporting-MTA: dns; mx.{DOMAIN}\n\nFinal-Recipient: rfc822; gone{i}@{DOMAIN}\n"
            "Action: failed\nStatus: 5.1.1\nDiagnostic-Code: smtp; 550 5.1.1 User unknown\n"
        )
        msg.make_mixed()
        msg.attach(status)
        msg.replace_header("Content-Type", msg["Content-Type"].replace("mixed", "report"))
        return msg.as_bytes()
    sender = rng.choice([f"MAILER-DAEMON@mx.{DOMAIN}", f"ndr@{DOMAIN}", f"imss@{DOMAIN}"])
    return _msg(
        i,
        sender,
        "Mail delivery failed",
        "550 5.1.1 user unknown",
        X_Failed_Recipients=f"gone{i}@{DOMAIN}",
    ).as_bytes()


def send_all(port: int, messages: list[bytes], clients: int) -> tuple[float, int, list[str]]:
    """Send from `clients` threads over kept-open connections; (seconds, accepted, errors)."""
    accepted, errors, lock = [0], [], threading.Lock()
    chunks = [messages[i::clients] for i in range(clients)]
    gate = threading.Barrier(clients + 1)

    def client(chunk):
        conn = smtplib.SMTP("127.0.0.1", port, timeout=60)
        gate.wait()
        ok = 0
        for data in chunk:
            for _attempt in range(5):
                try:
                    conn.sendmail(f"sender@{DOMAIN}", [INTAKE], data)
                    ok += 1
                    break
                except smtplib.SMTPResponseException as exc:
                    with lock:
                        errors.append(f"{exc.smtp_code}")
                    time.sleep(0.2)
        conn.quit()
        with lock:
            accepted[0] += ok

    return run_clients(client, chunks, gate), accepted[0], errors


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a live process (Linux /proc): what its work cost, whatever
    else the machine was doing meanwhile."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def counts(db: Path) -> dict[str, int]:
    with sqlite3.connect(db, timeout=30) as conn:
        rows = conn.execute(
            "SELECT status, outcome, count(*) FROM inbound_messages GROUP BY status, outcome"
        ).fetchall()
    out: dict[str, int] = {}
    for status, outcome, n in rows:
        out[f"{status}/{outcome}"] = n
    return out


def fill_outbox(hub: Hub, rows: int) -> None:
    """`rows` delivered notifications, one to eight days old, to 5,000 addresses, as the outbox
    of a hub in service holds (pages, updates, acknowledgements)."""
    from hub.app.models import Notification
    from hub.intake.email.effect import ACK_TEMPLATE

    rng, now = random.Random(7), utcnow()
    templates = [ACK_TEMPLATE, "update", "page", "declared"]
    for at in range(0, rows, 10_000):
        batch = []
        for i in range(at, min(rows, at + 10_000)):
            when = now - timedelta(days=1 + 7 * rng.random())
            batch.append(
                {
                    "key": f"bench:{i}",
                    "channel": "email",
                    "recipient": f"Person{rng.randrange(5000)}@Example.ORG",
                    "template": rng.choice(templates),
                    "payload": {},
                    "status": "sent",
                    "attempts": 1,
                    "created_at": when,
                    "sent_at": when,
                }
            )
        with hub.transaction() as session:
            session.execute(insert(Notification), batch)


def pipeline_cpu(
    messages: list[bytes], tmp: Path, batched: bool, outbox: int = 0
) -> tuple[float, float]:
    """The pipeline alone, in this process on a fresh SQLite database: (messages per second of
    wall time, messages per CPU second). The second figure hardly moves with the machine's load.
    `batched`: as the worker runs it (`process_many`, several messages per transaction), else
    one message per transaction."""
    data = tmp / ("inprocess-batched" if batched else "inprocess-single")
    data.mkdir()
    url = f"sqlite:///{data}/hub.db"
    upgrade(url)
    settings = load_settings(
        env={},
        overrides={
            "HUB_DATA_DIR": str(data),
            "HUB_DATABASE_URL": url,
            "HUB_QUEUE_URL": f"sqlite:///{data}/queue.db",
            "HUB_SECRET_KEY": SECRET,
            "HUB_MAIL_FROM": f"Major Incident Hub <{INTAKE}>",
            "HUB_MAIL_TRANSPORT": "sink",
        },
    )
    hub = Hub(settings, policy=load_policy(ROOT / "policy.yaml", env={}))
    fill_outbox(hub, outbox)
    with hub.transaction() as session:
        ids = [store_raw(session, m, via="bench", now=utcnow()).id for m in messages]
    for ident in ids[:SEED_INCIDENTS]:
        process(hub, ident, utcnow())
    rest = ids[SEED_INCIDENTS:]
    sent = [0]

    def count(*_args):
        sent[0] += 1

    event.listen(hub.db.engine, "before_cursor_execute", count)
    wall, cpu = time.perf_counter(), time.process_time()
    if batched:
        for at in range(0, len(rest), MAIL_BATCH):
            process_many(hub, rest[at : at + MAIL_BATCH])
    else:
        for ident in rest:
            process(hub, ident, utcnow())
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    event.remove(hub.db.engine, "before_cursor_execute", count)
    hub.db.dispose()
    STATEMENTS["batched" if batched else "single"] = sent[0] / len(rest)
    return len(rest) / wall, len(rest) / cpu


STATEMENTS: dict[str, float] = {}  # SQL statements per message of the last pipeline_cpu runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument(
        "--workers",
        type=int,
        default=WORKER_THREADS,
        help=f"threads of each mihub worker (default: its own, {WORKER_THREADS})",
    )
    parser.add_argument(
        "--worker-processes", type=int, default=1, help="mihub worker processes (each --workers)"
    )
    parser.add_argument(
        "--in-process", type=int, default=1000, help="messages for the in-process pipeline figure"
    )
    parser.add_argument(
        "--outbox", type=int, default=0, help="delivered notifications in that pipeline's outbox"
    )
    args = parser.parse_args()
    rng = random.Random(42)
    messages, kinds = mix(args.messages, rng)
    tmp = Path(tempfile.mkdtemp(prefix="mihub-mailbench-"))
    print(
        f"{len(messages)} messages ({sum(map(len, messages)) / 1e6:.1f} MB): {kinds}; "
        f"{args.clients} clients; data in {tmp}"
    )

    # 1. the ceiling: a bare aiosmtpd writing each message to disk
    port = free_port()
    sink = [sys.executable, "-m", "hub.testing.fakes.smtp_sink", "--port", str(port)]
    bare = Child([*sink, "--dir", str(tmp / "bare")], cwd=ROOT, log=tmp / "bare.log").start()
    try:
        wait_listening(port, bare)
        bare_s, bare_ok, bare_err = send_all(port, messages, args.clients)
    finally:
        bare.stop()
    ceiling = bare_ok / bare_s
    print(f"bare aiosmtpd → disk: {bare_ok} accepted in {bare_s:.1f} s = {ceiling:.0f}/s")

    # 2. the hub: mihub smtpd + mihub worker
    port, data = free_port(), tmp / "hub"
    env = dict(
        os.environ,
        HUB_DATA_DIR=str(data),
        HUB_SMTP_LISTEN=f"127.0.0.1:{port}",
        HUB_POLICY=str(ROOT / "policy.yaml"),
        HUB_SECRET_KEY=SECRET,
        HUB_MAIL_FROM=f"Major Incident Hub <{INTAKE}>",
        HUB_MAIL_TRANSPORT="sink",
        HUB_LOG_LEVEL="WARNING",
    )
    env.pop("HUB_DATABASE_URL", None)
    env.pop("HUB_QUEUE_URL", None)
    run_mihub("db", "upgrade", env=env, cwd=ROOT)
    smtpd = start_mihub("smtpd", env=env, cwd=ROOT, log=tmp / "smtpd.log")
    workers = [
        start_mihub(
            "worker", "--workers", str(args.workers), env=env, cwd=ROOT, log=tmp / f"worker{n}.log"
        )
        for n in range(args.worker_processes)
    ]
    db = data / "hub.db"
    try:
        wait_listening(port, smtpd)
        send_all(port, seed(SEED_INCIDENTS), 1)  # the incidents replies refer to
        while (
            sum(v for k, v in counts(db).items() if not k.startswith("received")) < SEED_INCIDENTS
        ):
            time.sleep(0.2)
        t0 = time.perf_counter()
        hub_s, hub_ok, hub_err = send_all(port, messages, args.clients)
        total = SEED_INCIDENTS + len(messages)
        while True:
            now = counts(db)
            done = sum(v for k, v in now.items() if not k.startswith("received"))
            if done >= total or time.perf_counter() - t0 > 1800:
                break
            time.sleep(0.5)
        processed_s = time.perf_counter() - t0
        worker_cpu = sum(cpu_seconds(w.proc.pid) for w in workers)
        smtpd_cpu = cpu_seconds(smtpd.proc.pid)
    finally:
        smtpd.stop()
        for w in workers:
            w.stop()
    final = counts(db)
    stored = sum(final.values())
    accepted = hub_ok / hub_s
    print(
        f"hub accepted: {hub_ok} in {hub_s:.1f} s = {accepted:.0f}/s "
        f"({accepted / ceiling:.2f} of the ceiling); errors {len(hub_err)}"
    )
    print(f"hub processed: {done} in {processed_s:.1f} s = {len(messages) / processed_s:.0f}/s")
    print(
        f"CPU per message: worker {1000 * worker_cpu / total:.1f} ms (processing and the "
        f"acknowledgements' delivery), smtpd {1000 * smtpd_cpu / total:.1f} ms "
        "(since each process started)"
    )
    print(f"outcomes: {final}")
    created = final.get("processed/created", 0)
    threaded = final.get("processed/threaded", 0)
    checks = {
        "zero lost (stored == sent)": stored == total and hub_ok == len(messages),
        "all processed": final.get("received/None", 0) == 0 and final.get("failed/None", 0) == 0,
        "duplicates == resends": final.get("processed/duplicate", 0) == kinds["duplicate"],
        "quarantined == outsiders": final.get("quarantined/quarantined", 0) == kinds["outsider"],
        "ignored == automatic + bounces": final.get("processed/ignored", 0)
        == kinds["automatic"] + kinds["bounce"],
        "created + threaded == reports + replies + seed": created + threaded
        == kinds["report"] + kinds["reply"] + SEED_INCIDENTS,
    }
    with sqlite3.connect(db) as conn:
        incidents = conn.execute("SELECT count(*) FROM incidents").fetchone()[0]
        comments = conn.execute("SELECT count(*) FROM timeline WHERE kind='comment'").fetchone()[0]
    checks["every reply threaded as a comment"] = comments == kinds["reply"]
    print(
        f"incidents: {incidents} (seed {SEED_INCIDENTS}, storms correlated by service); "
        f"comments: {comments}"
    )
    for name, ok in checks.items():
        print(f"  {'ok  ' if ok else 'FAIL'} {name}")
    first = seed(SEED_INCIDENTS) + messages[: args.in_process]
    single_wall, single_cpu = pipeline_cpu(first, tmp, batched=False, outbox=args.outbox)
    alone_wall, alone_cpu = pipeline_cpu(first, tmp, batched=True, outbox=args.outbox)
    print(
        f"pipeline in one process (first {args.in_process} messages of the mix, "
        f"{args.outbox} earlier notifications in the outbox): "
        f"{MAIL_BATCH} per transaction (as the worker) {alone_wall:.0f} messages/s of wall "
        f"time, {alone_cpu:.0f} per CPU second; one per transaction {single_wall:.0f}/s, "
        f"{single_cpu:.0f} per CPU second; SQL statements per message "
        f"{STATEMENTS['batched']:.1f} / {STATEMENTS['single']:.1f}"
    )
    print(
        f"RESULT accepted_per_s={accepted:.0f} ceiling_per_s={ceiling:.0f} "
        f"ratio={accepted / ceiling:.2f} processed_per_s={len(messages) / processed_s:.0f} "
        f"lost={total - stored} pipeline_per_cpu_s={alone_cpu:.0f} "
        f"pipeline_single_per_cpu_s={single_cpu:.0f} "
        f"worker_cpu_ms={1000 * worker_cpu / total:.1f} smtpd_cpu_ms={1000 * smtpd_cpu / total:.1f} "
        f"checks={'pass' if all(checks.values()) else 'FAIL'}"
    )
    sys.exit(0 if all(checks.values()) else 1)


if __name__ == "__main__":
    main()
