"""The SMTP listener's bounds, on a real `mihub smtpd` and real sockets: the connection caps
answer 421, and at the process's descriptor limit (lowered with prlimit) the listener answers
421 without spinning, logs one line per interval with a count, and accepts again once
connections close."""

from __future__ import annotations

import os
import re
import smtplib
import socket
import time
from collections import Counter
from email.message import EmailMessage
from pathlib import Path

import pytest

from hub.testing.harness import MIHUB, Child, ProcessExited, free_port, wait_for
from tests.conftest import EXAMPLE_POLICY

pytestmark = pytest.mark.e2e
INTERVAL = 2  # HUB_LOG_REPEAT_INTERVAL of these listeners, seconds (the default is a minute)


def smtpd(tmp_path, *, nofile: int | None = None, **settings) -> tuple[Child, int]:
    """A `mihub smtpd` on the embedded database, listening; its port. Another process may
    take the free port first: then again on another (its own start line is waited for, not
    just any listener on the port)."""
    env = {k: v for k, v in os.environ.items() if k not in ("HUB_DATABASE_URL", "HUB_QUEUE_URL")}
    env.update(
        HUB_DATA_DIR=str(tmp_path / "var"),
        HUB_POLICY=str(EXAMPLE_POLICY),
        HUB_LOG_REPEAT_INTERVAL=f"{INTERVAL}s",
        **settings,
    )
    limit = ["prlimit", f"--nofile={nofile}:{nofile}", "--"] if nofile else []
    for attempt in range(3):
        port = free_port()
        child = Child(
            [*limit, *MIHUB, "smtpd"],
            env={**env, "HUB_SMTP_LISTEN": f"127.0.0.1:{port}"},
            log=tmp_path / f"smtpd-{attempt}.log",
        ).start()

        def started(child=child):
            child.check_alive()
            return "SMTP intake listening on" in child.output

        try:
            wait_for(started, timeout=60, what="mihub smtpd to listen")
        except ProcessExited:
            if "is in use" not in child.output:
                raise
            continue
        return child, port
    raise AssertionError("no free port for mihub smtpd in three tries")


def first_lines(port: int, count: int = 1, source: str = "127.0.0.1") -> list:
    """`count` connections from `source` opened together, then the first line the listener
    said on each (b"" if it closed without one): [(connection, line), ...]."""
    conns: list[socket.socket] = []
    try:
        for _ in range(count):
            conns.append(
                socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(source, 0))
            )
        out = []
        for conn in conns:
            buf = b""
            while not buf.endswith(b"\n"):
                chunk = conn.recv(512)
                if not chunk:
                    break
                buf += chunk
            out.append((conn, buf))
        return out
    except BaseException:
        for conn in conns:
            conn.close()
        raise


def greet(port: int, source: str = "127.0.0.1") -> tuple[socket.socket, bytes]:
    """A connection from `source` and the first line the listener says (b"" if it closed)."""
    return first_lines(port, 1, source)[0]


def refusal(port: int, source: str) -> tuple[bytes, bytes]:
    """The first line the listener says, and what follows it until it closes."""
    conn, first = greet(port, source)
    with conn:
        return first, conn.recv(64)


def first_line(port: int, source: str = "127.0.0.1") -> bytes:
    conn, first = greet(port, source)
    conn.close()
    return first


def send_one(port: int, source: str = "127.0.0.1") -> tuple[int, str]:
    """One message sent with smtplib: the listener's answer to its DATA."""
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "erin@example.com", "incidents@example.com", "x"
    msg.set_content("payroll is down")
    with smtplib.SMTP("127.0.0.1", port, timeout=10, source_address=(source, 0)) as client:
        client.ehlo()
        client.mail("erin@example.com")
        client.rcpt("incidents@example.com")
        code, text = client.data(msg.as_bytes())
        return code, text.decode()


def lines(child: Child, needle: str) -> list[str]:
    return [line for line in child.output.splitlines() if needle in line]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_connection_caps_answer_421_and_free_up(tmp_path):
    child, port = smtpd(
        tmp_path, HUB_SMTP_MAX_CONNECTIONS="4", HUB_SMTP_MAX_CONNECTIONS_PER_CLIENT="2"
    )
    held = []
    try:
        for source in ("127.0.0.1", "127.0.0.1"):
            conn, first = greet(port, source)
            held.append(conn)
            assert first.startswith(b"220 "), first
        started = time.monotonic()
        first, after = refusal(port, "127.0.0.1")  # a third from one address
        assert first == b"421 4.7.0 Too many connections from your address, try again later\r\n"
        assert after == b""  # and closed
        for source in ("127.0.0.2", "127.0.0.2"):
            conn, first = greet(port, source)
            held.append(conn)
            assert first.startswith(b"220 "), first
        for _ in range(20):  # a fifth in all, from any address
            first, after = refusal(port, "127.0.0.3")
            assert (first, after) == (b"421 4.3.2 Too many connections, try again later\r\n", b"")
        refused = lines(child, "answered 421")  # 21 refusals: a line per kind and interval
        assert 2 <= len(refused) <= 2 * (1 + (time.monotonic() - started) / INTERVAL), refused
        held.pop().close()  # a slot frees: the next sender gets in and its message is queued
        wait_for(lambda: first_line(port, "127.0.0.3").startswith(b"220 "), what="a free slot")
        code, text = send_one(port, "127.0.0.3")
        assert code == 250 and "queued as" in text, (code, text)
    finally:
        for conn in held:
            conn.close()
        assert child.stop() == 0, child.output


def test_descriptor_limit_answers_421_quietly_and_recovers(tmp_path):
    child, port = smtpd(
        tmp_path,
        nofile=64,
        HUB_SMTP_MAX_CONNECTIONS="1000",
        HUB_SMTP_MAX_CONNECTIONS_PER_CLIENT="1000",
    )
    assert lines(child, "is not below this process's descriptor limit (64)")
    held, answers = [], Counter()
    try:
        started = time.monotonic()
        for conn, first in first_lines(port, 80):  # more than the process has descriptors
            answers[first[:4]] += 1  # each answered within 5 s (a recv timeout fails the test)
            (held.append if first.startswith(b"220 ") else socket.socket.close)(conn)
        assert answers[b"220 "] >= 30 and answers[b"421 "] >= 10, answers
        assert answers[b"220 "] + answers[b"421 "] == 80, answers

        # At the limit for three log intervals: senders ten at a time, each answered 421
        # (or served, when another thread of the listener has just given a descriptor back).
        while time.monotonic() - started < 3 * INTERVAL:
            for conn, first in first_lines(port, 10):
                answers[first[:4]] += 1
                if first.startswith(b"220 "):
                    held.append(conn)
                else:
                    conn.close()
                    assert first == b"421 4.3.2 Too many connections, try again later\r\n"
        assert answers[b"421 "] >= 40 and sum(answers.values()) >= 100, answers
        busy_for = time.monotonic() - started
        at_limit = lines(child, "at the descriptor limit")
        assert 2 <= len(at_limit) <= busy_for / INTERVAL + 1, at_limit  # not one per sender
        assert any("more like it" in line for line in at_limit), at_limit
        counted = [int(n) for n in re.findall(r"\((\d+) answered so far\)", child.output)]
        assert 0 < max(counted) <= answers[b"421 "], (counted, answers)
        problems = [
            line for line in child.output.splitlines() if re.search(r" (ERROR|WARNING) ", line)
        ]
        assert len(problems) <= 3 * (busy_for / INTERVAL + 1), problems

        # Idle at the limit, the listener does not spin: asyncio retries once a second.
        before = cpu_seconds(child.proc.pid)
        time.sleep(2)
        assert cpu_seconds(child.proc.pid) - before < 0.5

        for conn in held:  # sessions end: the listener accepts and stores mail again
            conn.close()
        held.clear()
        wait_for(lambda: first_line(port).startswith(b"220 "), what="the listener to accept")
        code, text = send_one(port)
        assert code == 250 and "queued as" in text, (code, text)
        assert child.alive
    finally:
        for conn in held:
            conn.close()
        assert child.stop() == 0, child.output
