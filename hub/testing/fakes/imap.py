"""A local IMAP4rev1 server with one folder, enough for `imapclient`: LOGIN, EXAMINE/SELECT,
UID SEARCH, UID FETCH (BODY[] / BODY.PEEK[]), NOOP, LOGOUT; plain TCP on 127.0.0.1.

Tests: `fake = FakeImap(user="hub", password="pw").start()`, `fake.add(raw) -> uid`,
`fake.reset_uidvalidity()` (renumbers every message, as a rebuilt mailbox does),
`fake.url` for HUB_IMAP_URL, `fake.stop()`. It reproduces the IMAP quirk that `N:*` with N
above the highest UID still matches the last message.
"""

from __future__ import annotations

import re
import shlex
import socketserver
import threading


class FakeImap:
    """One mailbox folder (INBOX) served over plain IMAP."""

    def __init__(self, *, user: str = "hub", password: str = "secret", port: int = 0):
        self.user, self.password, self.port = user, password, port
        self.uidvalidity = 1000
        self.messages: list[tuple[int, bytes]] = []  # (uid, raw), in UID order
        self.next_uid = 1
        self.logins = 0
        self._lock = threading.Lock()
        self._server: socketserver.ThreadingTCPServer | None = None

    @property
    def url(self) -> str:
        return f"imap+plain://{self.user}:{self.password}@127.0.0.1:{self.port}/INBOX"

    def add(self, raw: bytes) -> int:
        """Deliver a message; returns its UID."""
        with self._lock:
            uid = self.next_uid
            self.messages.append((uid, raw))
            self.next_uid += 1
            return uid

    def reset_uidvalidity(self) -> None:
        """Renumber everything under a new UIDVALIDITY."""
        with self._lock:
            self.uidvalidity += 1
            self.messages = [(i + 1, raw) for i, (_u, raw) in enumerate(self.messages)]
            self.next_uid = len(self.messages) + 1

    def start(self) -> FakeImap:
        fake = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                fake._session(self.rfile, self.wfile)

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def _uids(self, spec: str) -> list[int]:
        with self._lock:
            have = [u for u, _r in self.messages]
        top = max(have, default=0)
        wanted: set[int] = set()
        for piece in spec.split(","):
            lo, _, hi = piece.partition(":")
            a = top if lo == "*" else int(lo)
            b = a if not hi else (top if hi == "*" else int(hi))
            lo_, hi_ = min(a, b), max(a, b)
            wanted |= {u for u in have if lo_ <= u <= hi_}
        return sorted(wanted)

    def _session(self, rfile, wfile) -> None:
        def send(line: str | bytes) -> None:
            wfile.write(line if isinstance(line, bytes) else line.encode() + b"\r\n")
            wfile.flush()

        send("* OK fake IMAP4rev1 ready")
        authed = False
        while True:
            line = rfile.readline()
            if not line:
                return
            parts = shlex.split(line.decode("utf-8", "replace").strip(), posix=True)
            if len(parts) < 2:
                send("* BAD empty command")
                continue
            tag, command, args = parts[0], parts[1].upper(), parts[2:]
            if command == "UID" and args:
                command, args = f"UID {args[0].upper()}", args[1:]
            if command == "CAPABILITY":
                send("* CAPABILITY IMAP4rev1 AUTH=PLAIN")
                send(f"{tag} OK CAPABILITY completed")
            elif command == "LOGIN":
                authed = args[:2] == [self.user, self.password]
                self.logins += authed
                send(f"{tag} OK LOGIN completed" if authed else f"{tag} NO [AUTHENTICATIONFAILED]")
            elif not authed and command not in ("LOGOUT", "NOOP"):
                send(f"{tag} NO not authenticated")
            elif command in ("SELECT", "EXAMINE"):
                with self._lock:
                    count, validity, nxt = len(self.messages), self.uidvalidity, self.next_uid
                send(f"* {count} EXISTS")
                send("* 0 RECENT")
                send(f"* OK [UIDVALIDITY {validity}] UIDs valid")
                send(f"* OK [UIDNEXT {nxt}] next UID")
                send("* FLAGS (\\Seen \\Answered \\Flagged \\Deleted \\Draft)")
                mode = "READ-ONLY" if command == "EXAMINE" else "READ-WRITE"
                send(f"{tag} OK [{mode}] {command} completed")
            elif command == "UID SEARCH":
                spec = args[args.index("UID") + 1] if "UID" in [a.upper() for a in args] else "1:*"
                send("* SEARCH " + " ".join(str(u) for u in self._uids(spec)))
                send(f"{tag} OK SEARCH completed")
            elif command == "UID FETCH":
                with self._lock:
                    by_uid = dict(self.messages)
                    seq = {u: i + 1 for i, (u, _r) in enumerate(self.messages)}
                for uid in self._uids(args[0]):
                    raw = by_uid[uid]
                    send(
                        f"* {seq[uid]} FETCH (UID {uid} BODY[] {{{len(raw)}}}".encode()
                        + b"\r\n"
                        + raw
                        + b")\r\n"
                    )
                send(f"{tag} OK FETCH completed")
            elif command == "NOOP":
                send(f"{tag} OK NOOP completed")
            elif command == "LOGOUT":
                send("* BYE logging out")
                send(f"{tag} OK LOGOUT completed")
                return
            else:
                send(f"{tag} BAD unknown command {re.sub(r'[^A-Z ]', '', command)}")
