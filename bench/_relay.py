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
uses (EHLO/HELO, MAIL, RCPT, DATA with dot-unstuffing, RSET, NOOP, QUIT), in one asyncio
event loop, reading DATA in blocks; what it records is parsed from the message as received:
the envelope's recipients and the header block's Message-ID and X-Mihub-Incident (folded
lines unfolded), after the 250 is on its way.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
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


class Relay(asyncio.Protocol):
    def __init__(self, out, delay: float):
        self.out, self.delay = out, delay
        self.buf = b""
        self.data_mode = False
        self.waiting = False  # a 250 to DATA is pending: later commands wait for it
        self.mail_from, self.rcpts = None, []

    def connection_made(self, transport):
        self.transport = transport
        self.port = transport.get_extra_info("peername")[1]
        transport.write(b"220 relay.bench ESMTP\r\n")

    def data_received(self, data):
        self.buf += data
        self._process()

    def _process(self):
        while not self.waiting:
            if self.data_mode:
                if self.buf.startswith(b".\r\n"):
                    end, body = 3, b""
                else:
                    at = self.buf.find(END)
                    if at < 0:
                        return
                    end, body = at + len(END), self.buf[:at] + CRLF
                self.buf = self.buf[end:]
                self.data_mode = False
                if body.startswith(b".."):
                    body = body[1:]
                body = body.replace(b"\r\n..", b"\r\n.")
                self.waiting = True
                asyncio.get_running_loop().call_later(self.delay, self._accepted, body)
                return
            at = self.buf.find(CRLF)
            if at < 0:
                return
            line, self.buf = self.buf[:at], self.buf[at + 2 :]
            self._command(line)

    def _command(self, line: bytes):
        verb = line[:4].upper()
        write = self.transport.write
        if verb == b"EHLO":
            write(b"250-relay.bench\r\n250-8BITMIME\r\n250 SIZE 52428800\r\n")
        elif verb == b"HELO" or verb == b"NOOP":
            write(b"250 OK\r\n")
        elif verb == b"MAIL":
            self.mail_from, self.rcpts = _address(line), []
            write(b"250 OK\r\n")
        elif verb == b"RCPT":
            if self.mail_from is None:
                write(b"503 Error: need MAIL command\r\n")
            else:
                self.rcpts.append(_address(line))
                write(b"250 OK\r\n")
        elif verb == b"DATA":
            if not self.rcpts:
                write(b"503 Error: need RCPT command\r\n")
            else:
                self.data_mode = True
                write(b"354 End data with <CR><LF>.<CR><LF>\r\n")
        elif verb == b"RSET":
            self.mail_from, self.rcpts = None, []
            write(b"250 OK\r\n")
        elif verb == b"QUIT":
            write(b"221 Bye\r\n")
            self.transport.close()
        else:
            write(b"500 Error: command not recognized\r\n")

    def _accepted(self, body: bytes):
        if self.transport.is_closing():
            return
        self.transport.write(b"250 2.0.0 OK queued\r\n")
        at = time.time()
        rcpts, self.mail_from, self.rcpts = self.rcpts, None, []
        fields = header_fields(body, (b"message-id", b"x-mihub-incident"))
        line = "\t".join(
            (
                f"{at:.6f}",
                str(self.port),
                fields.get(b"message-id", ""),
                fields.get(b"x-mihub-incident", ""),
                ",".join(rcpts),
            )
        )
        os.write(self.out, (line + "\n").encode())  # one write: a reader never sees half
        self.waiting = False
        self._process()


def _address(line: bytes) -> str:
    """The address between the angle brackets of `MAIL FROM:<a> …` / `RCPT TO:<a>`."""
    start, end = line.find(b"<"), line.find(b">")
    return line[start + 1 : end].decode("utf-8", "replace") if 0 <= start < end else ""


async def serve(host: str, port: int, out_path: str, delay: float) -> None:
    out = os.open(out_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Relay(out, delay), host, port, backlog=256)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print("ready", flush=True)
    async with server:
        await stop.wait()
    os.close(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--accept-ms", type=float, default=10.0)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    asyncio.run(serve(args.host, args.port, args.out, args.accept_ms / 1000))


if __name__ == "__main__":
    main()
