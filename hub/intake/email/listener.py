"""The SMTP listener (`mihub smtpd`): 250 only once the raw message is durably stored, else 451.

aiosmtpd enforces the size limit while DATA streams in (552, nothing buffered past the limit)
and answers MAIL FROM with a SIZE above it with 552 too. Accepting is decoupled from the
database, as an MTA's queue is: a spool thread writes messages arriving together to
`<data dir>/spool/smtp/` as one file per batch (the file and the folder fsynced) and only then
answers 250; an import thread moves spooled files into `inbound_messages` in large batches
and deletes them after the commit. Files left by a crash are imported at the next start; a
file whose row was committed but not yet deleted is skipped by its unique provisional key.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import queue
import resource
import ssl
import threading
import uuid
from concurrent.futures import Future
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP
from sqlalchemy import event, select

from hub.app.context import Hub
from hub.app.db import utcnow
from hub.app.models import InboundMessage
from hub.app.settings import split_hostport
from hub.app.uow import UnitOfWork
from hub.intake.email.gate import ConnectionGate
from hub.intake.email.store import store_many

log = logging.getLogger("hub.intake.smtp")
BATCH = 200  # most messages one spool file or one import transaction holds
MIN_LINE_BYTES = 1024 * 1024  # real MTAs send 1.5–64 KB lines (Postfix and Exchange take them)
FD_HEADROOM = 64  # descriptors the process needs besides its SMTP sessions (database, spool)


class Spool:
    """Batch files `<name>.spool`: per message a JSON header line, then exactly `size` bytes."""

    def __init__(self, directory: Path):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)

    def write(self, name: str, items: list[tuple[bytes, dict]]) -> None:
        """Write one batch, fsync it and the folder: afterwards it survives a crash."""
        tmp = self.dir / f".{name}.tmp"
        with open(tmp, "wb") as f:
            for raw, envelope in items:
                f.write(json.dumps({"size": len(raw), "envelope": envelope}).encode() + b"\n")
                f.write(raw)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.dir / f"{name}.spool")
        fd = os.open(self.dir, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def pending(self, limit: int) -> list[Path]:
        """Spooled batches, oldest first."""
        return sorted(self.dir.glob("*.spool"))[:limit]

    @staticmethod
    def read(path: Path) -> list[tuple[bytes, dict]]:
        """The messages of a batch, in order."""
        data, out, at = path.read_bytes(), [], 0
        while at < len(data):
            end = data.index(b"\n", at)
            head = json.loads(data[at:end])
            out.append((data[end + 1 : end + 1 + head["size"]], head["envelope"]))
            at = end + 1 + head["size"]
        return out


class Writer:
    """Spools messages from many SMTP sessions together, then imports them into the database."""

    def __init__(self, hub: Hub, spool: Spool | None = None):
        self.hub = hub
        self.spool = spool or Spool(hub.settings.data_dir / "spool" / "smtp")
        self._queue: queue.Queue = queue.Queue()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._threads = [
            threading.Thread(target=self._run_spool, name="smtpd-spool", daemon=True),
            threading.Thread(target=self._run_import, name="smtpd-import", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, raw: bytes, envelope: dict) -> Future:
        """A future that resolves to the spool name once the message is on disk for good."""
        future: Future = Future()
        self._queue.put((raw, envelope, future))
        return future

    def close(self) -> None:
        """Finish what was accepted, import it, and stop."""
        self._queue.put(None)
        self._threads[0].join(timeout=30)
        self._stopping.set()
        self._wake.set()
        self._threads[1].join(timeout=60)

    def _run_spool(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < BATCH:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._queue.put(None)
                    break
                batch.append(item)
            name = f"{utcnow():%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:12]}"
            items = [
                (raw, {**env, "queued_as": f"{name}.{i}"}) for i, (raw, env, _f) in enumerate(batch)
            ]
            try:
                self.spool.write(name, items)
            except Exception as exc:  # every sender of the batch gets 451 and retries
                log.exception("could not spool %d message(s)", len(batch))
                for _raw, _env, future in batch:
                    future.set_exception(exc)
                continue
            for (_raw, env), (_r, _e, future) in zip(items, batch, strict=True):
                future.set_result(env["queued_as"])
            self._wake.set()

    def _run_import(self) -> None:
        while True:
            self._wake.wait(1.0)
            self._wake.clear()
            try:
                while self.import_some():
                    pass
            except Exception:  # the database is away: the files wait in the spool
                log.exception("could not import spooled mail; retrying")
                self._stopping.wait(2.0)
            if self._stopping.is_set() and not self.spool.pending(1):
                return

    def import_some(self) -> int:
        """Move spooled batches (about BATCH messages) into the database; returns how many."""
        paths, items = [], []
        for path in self.spool.pending(BATCH):
            paths.append(path)
            items += self.spool.read(path)
            if len(items) >= BATCH:
                break
        if not paths:
            return 0
        with self.hub.db.session(write=True) as session:
            jobs = UnitOfWork.of(session).jobs
            keys = [f"spool:{env['queued_as']}" for _raw, env in items]
            done = set(
                session.scalars(
                    select(InboundMessage.dedupe_key).where(
                        InboundMessage.channel == "email", InboundMessage.dedupe_key.in_(keys)
                    )
                )
            )
            store_many(
                session,
                [
                    (raw, env, key)
                    for (raw, env), key in zip(items, keys, strict=True)
                    if key not in done
                ],
                via="smtp",
                now=utcnow(),
            )
        for path in paths:
            path.unlink(missing_ok=True)
        self.hub.enqueue_after_commit(jobs, [])
        return len(items)


class Handler:
    """aiosmtpd hooks: accept any recipient (up to 100), spool at the end of DATA."""

    def __init__(self, writer: Writer):
        self.writer = writer

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if len(envelope.rcpt_tos) >= 100:
            return "452 4.5.3 Too many recipients"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        raw = bytes(envelope.original_content or b"")
        meta = {
            "mail_from": (envelope.mail_from or "").strip("<>"),
            "rcpt_tos": list(envelope.rcpt_tos),
            "peer": str(session.peer[0]) if session.peer else None,
            "helo": session.host_name,
        }
        try:
            name = await asyncio.wrap_future(self.writer.submit(raw, meta))
        except Exception:
            return "451 4.3.0 Internal error: message not stored, please try again later"
        return f"250 2.0.0 Ok: queued as {name}"


def durable(hub: Hub) -> None:
    """SQLite: fsync every commit in this process (an imported file is deleted after it)."""
    if hub.db.is_sqlite:

        @event.listens_for(hub.db.engine, "connect")
        def _full_sync(dbapi_conn, _record):
            dbapi_conn.execute("PRAGMA synchronous=FULL")


def tls_context(settings) -> ssl.SSLContext | None:
    """The server side of STARTTLS from HUB_SMTP_TLS_CERT/KEY; None: not offered."""
    cert, key = settings["HUB_SMTP_TLS_CERT"], settings["HUB_SMTP_TLS_KEY"]
    if not cert:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2  # Exchange Online sends with TLS 1.2+
    context.load_cert_chain(cert, key)
    return context


class LongLineSMTP(SMTP):
    """aiosmtpd refuses lines over 1,000 bytes with 500 by default (RFC 5321's limit, which
    real bounces and Outlook replies exceed); any line of a message within the size limit is
    taken here, and the message is kept byte for byte. With a `gate`, a session past the
    connection caps is answered 421 and closed before it starts."""

    line_length_limit = MIN_LINE_BYTES
    gate: ConnectionGate | None = None
    _peer = None
    _counted = _refused = False

    def connection_made(self, transport):
        if self.gate is not None and self.transport is None:  # not the STARTTLS re-entry
            self._peer = transport.get_extra_info("peername")
            answer = self.gate.admit(self._peer)
            if answer is not None:
                self._refused = True
                transport.write(answer)
                transport.close()
                return
            self._counted = True
        super().connection_made(transport)

    def connection_lost(self, error):
        if self._refused:
            return
        if self._counted:
            self._counted = False
            self.gate.release(self._peer)
        super().connection_lost(error)

    def data_received(self, data):
        if not self._refused:
            super().data_received(data)

    def eof_received(self):
        return None if self._refused else super().eof_received()


class LongLineController(Controller):
    """The threaded controller, serving `LongLineSMTP` sessions with a line limit of its own."""

    def __init__(
        self,
        *args,
        line_limit: int = MIN_LINE_BYTES,
        gate: ConnectionGate | None = None,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        # SMTP.__init__ sizes its stream reader from the class attribute: one class per limit
        self.server_class = type(
            "LongLineSMTP", (LongLineSMTP,), {"line_length_limit": line_limit, "gate": gate}
        )
        self.gate = gate
        if gate is not None:
            gate.keep_reserve()
            self.loop.set_exception_handler(gate.on_loop_error)

    def factory(self):
        return self.server_class(self.handler, **self.SMTP_kwargs)

    def stop(self, *args, **kwargs):
        try:
            super().stop(*args, **kwargs)
        finally:
            if self.gate is not None:
                self.gate.close()


def connection_gate(settings) -> ConnectionGate:
    """The caps from HUB_SMTP_MAX_CONNECTIONS(_PER_CLIENT); a warning when the process's
    descriptor limit would be met before the cap (then the limit answers 421, more slowly)."""
    most = settings.int("HUB_SMTP_MAX_CONNECTIONS")
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < most + FD_HEADROOM:
        log.warning(
            "HUB_SMTP_MAX_CONNECTIONS=%d is not below this process's descriptor limit (%d) "
            "by %d: raise the limit (ulimit -n, LimitNOFILE=) or lower the cap",
            most,
            soft,
            FD_HEADROOM,
        )
    return ConnectionGate(most, settings.int("HUB_SMTP_MAX_CONNECTIONS_PER_CLIENT"), log)


def make_controller(hub: Hub, listen: str) -> tuple[Controller, Writer]:
    """The listener on `host:port`, not started yet, and its writer; STARTTLS offered when a
    certificate is configured (never required: a sender decides, as on any MX)."""
    host, port = split_hostport(listen)
    writer = Writer(hub)
    limit = hub.policy.intake.max_message_bytes
    controller = LongLineController(
        Handler(writer),
        line_limit=max(MIN_LINE_BYTES, limit + 2),
        gate=connection_gate(hub.settings),
        hostname=host,
        port=port,
        server_hostname="mihub",
        data_size_limit=hub.policy.intake.max_message_bytes,
        enable_SMTPUTF8=True,
        ident="Major Incident Hub",
        ready_timeout=10,
        tls_context=tls_context(hub.settings),
        require_starttls=False,
    )
    return controller, writer


def serve_smtp(hub: Hub, listen: str) -> None:
    """Listen until SIGINT/SIGTERM, then finish the messages in hand and stop."""
    import signal

    durable(hub)
    controller, writer = make_controller(hub, listen)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    controller.start()
    log.info(
        "SMTP intake listening on %s (limit %d bytes)", listen, hub.policy.intake.max_message_bytes
    )
    try:
        stop.wait()
    finally:
        controller.stop()
        writer.close()
        log.info("SMTP intake stopped")
