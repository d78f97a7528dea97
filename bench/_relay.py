"""A small SMTP relay for benchmarks, in a process of its own: it waits `--accept-ms` before each
250 to DATA (a relay that queues each message durably first) and appends one line per accepted
message to `--out`:

    <arrival time> TAB <client port> TAB <Message-ID> TAB <X-Mihub-Incident> TAB <rcpt,rcpt…>

    python -m bench._relay --port 2525 --accept-ms 10 --out /tmp/relay.tsv

Why not the tests' aiosmtpd sink (hub.testing.fakes.smtp_sink) in the bench's own process:
that sink spends 1.0–1.4 ms of CPU a message (address parsing by the email package, a read per
line of DATA, the header parse that counts it), about half as much as the worker that sends
the message, and on a two-core machine shares the cores — and, in the bench's process, the
interpreter lock — with what it measures. A relay the hub talks to in production (Postfix,
Exchange Online) runs elsewhere or in C. This one speaks the part of SMTP that `smtplib`
uses (EHLO/HELO, MAIL, RCPT, DATA with dot-unstuffing, RSET, NOOP, QUIT), one thread per
client connection with blocking reads and writes (the hub keeps its connections open, so a
few threads serve a whole run), reading DATA in blocks; the wait before the 250 sleeps that
connection's thread only. What it records is parsed from the message as received: the
envelope's recipients and the header block's Message-ID and X-Mihub-Incident (folded lines
unfolded), right after the 250 is sent.

bench/_relay.c does the same in C, for less CPU again; bench/scaleout_bench.py runs that one
unless told `--relay python`. This one was one asyncio event loop until 2026-12-06: 0.27–0.28
ms of CPU a message against 0.14–0.17 ms now, for 3,200 messages of 4.6 KB over 16 smtplib
connections (an asyncio callback, a timer and a selector wake-up per SMTP command cost more
than the thread's blocking call); in the scale-out bench's delivery runs, 0.23–0.38 ms against
0.23–0.29 ms (overlapping).
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import threading
import time

CRLF = b"\r\n"
END = b"\r\n.\r\n"


def header_fields(data: bytes, names: tuple[bytes, ...]) -> dict[bytes, str]:
    """The values of `names` (lower-case) in the message's header block, unfolded."""
    head = data.split(b"\r\n\r\n", 1)[0]
    found: dict[bytes, str] = {}
    current = None
    for line in head.split(CRLF):
        if line[:1] in (b" ", b"\t"):  # a folded continuation line
            if current is not None:
                more = line.strip().decode("utf-8", "replace")
                found[current] = f"{found[current]} {more}" if found[current] else more
            continue
        name, colon, value = line.partition(b":")
        key = name.strip().lower()
        current = key if colon and key in names and key not in found else None
        if current is not None:
            found[key] = value.strip().decode("utf-8", "replace")
    return found


def session(sock: socket.socket, out: int, delay: float) -> None:
    """One client's SMTP session, on a thread of its own (blocking reads and writes)."""
    port = sock.getpeername()[1]
    send, recv = sock.sendall, sock.recv
    mail_from, rcpts, buf = None, [], b""
    send(b"220 relay.bench ESMTP\r\n")
    try:
        while True:
            at = buf.find(CRLF)
            if at < 0:
                more = recv(65536)
                if not more:
                    return
                buf += more
                continue
            line, buf = buf[:at], buf[at + 2 :]
            verb = line[:4].upper()
            if verb == b"MAIL":
                mail_from, rcpts = _address(line), []
                send(b"250 OK\r\n")
            elif verb == b"RCPT":
                if mail_from is None:
                    send(b"503 Error: need MAIL command\r\n")
                else:
                    rcpts.append(_address(line))
                    send(b"250 OK\r\n")
            elif verb == b"DATA":
                if not rcpts:
                    send(b"503 Error: need RCPT command\r\n")
                    continue
                send(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                # the message: up to a line that is a lone dot (buf starts at a line)
                buf = CRLF + buf
                start = 0
                while (at := buf.find(END, start)) < 0:
                    start = max(0, len(buf) - 4)
                    more = recv(65536)
                    if not more:
                        return
                    buf += more
                body, buf = buf[2 : at + 2], buf[at + len(END) :]
                if body.startswith(b".."):
                    body = body[1:]
                body = body.replace(b"\r\n..", b"\r\n.")
                time.sleep(delay)
                send(b"250 2.0.0 OK queued\r\n")
                fields = header_fields(body, (b"message-id", b"x-mihub-incident"))
                record = "\t".join(
                    (
                        f"{time.time():.6f}",
                        str(port),
                        fields.get(b"message-id", ""),
                        fields.get(b"x-mihub-incident", ""),
                        ",".join(rcpts),
                    )
                )
                os.write(out, (record + "\n").encode())  # one write: a reader never sees half
                mail_from, rcpts = None, []
            elif verb == b"EHLO":
                send(b"250-relay.bench\r\n250-8BITMIME\r\n250 SIZE 52428800\r\n")
            elif verb == b"HELO" or verb == b"NOOP":
                send(b"250 OK\r\n")
            elif verb == b"RSET":
                mail_from, rcpts = None, []
                send(b"250 OK\r\n")
            elif verb == b"QUIT":
                send(b"221 Bye\r\n")
                return
            else:
                send(b"500 Error: command not recognized\r\n")
    except OSError:
        return
    finally:
        sock.close()


def _address(line: bytes) -> str:
    """The address between the angle brackets of `MAIL FROM:<a> …` / `RCPT TO:<a>`."""
    start, end = line.find(b"<"), line.find(b">")
    return line[start + 1 : end].decode("utf-8", "replace") if 0 <= start < end else ""


def serve(host: str, port: int, out_path: str, delay: float) -> None:
    out = os.open(out_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    server = socket.create_server((host, port), backlog=256)
    signal.signal(signal.SIGTERM, lambda *_: server.close())
    signal.signal(signal.SIGINT, lambda *_: server.close())
    print("ready", flush=True)
    while True:
        try:
            sock, _ = server.accept()
        except OSError:  # closed by a signal
            break
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=session, args=(sock, out, delay), daemon=True).start()
    os.close(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--accept-ms", type=float, default=10.0)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    serve(args.host, args.port, args.out, args.accept_ms / 1000)


if __name__ == "__main__":
    main()
