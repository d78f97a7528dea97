"""The SMTP listener's bounds: open connections capped (in all and per client address), and
the process's descriptor limit met without spinning or flooding the log.

Past a cap a new connection hears `421` and is closed, as Postfix answers; the sending MTA
tries again later. At the descriptor limit accept() fails with EMFILE: asyncio stops
accepting for a second and calls the loop's exception handler, which is `on_loop_error`
here. It frees a descriptor kept in reserve and with it accepts each waiting connection,
answers 421 and closes it, so that senders hear "later" rather than hang in the backlog; and
it logs one line per HUB_LOG_REPEAT_INTERVAL with a count, never a traceback per attempt.
Everything here runs on the listener's event-loop thread.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import socket
from collections import Counter

from hub.app.quietlog import RepeatLog

BUSY = b"421 4.3.2 Too many connections, try again later\r\n"
BUSY_CLIENT = b"421 4.7.0 Too many connections from your address, try again later\r\n"
OUT_OF_DESCRIPTORS = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)
SHED_AT_ONCE = 1000  # waiting connections answered at most per retry (asyncio: once a second)


class ConnectionGate:
    """Counts open SMTP sessions and says which new one to refuse; sheds at the fd limit."""

    def __init__(self, most: int, most_per_client: int, logger: logging.Logger):
        self.most, self.most_per_client = most, most_per_client
        self.open = 0
        self.by_client: Counter[str] = Counter()
        self.refused = 0  # answered 421 at a cap
        self.shed = 0  # answered 421 at the descriptor limit
        self.repeats = RepeatLog(logger)
        self._reserve: int | None = None
        self._in_turn = False

    def admit(self, peer) -> bytes | None:
        """Count a new session from `peer`: None to serve it, else the 421 line to answer."""
        client = str(peer[0]) if peer else "-"
        if self.open >= self.most:
            kind, answer = "cap", BUSY
            why = f"{self.open} open, the most HUB_SMTP_MAX_CONNECTIONS allows"
        elif self.by_client[client] >= self.most_per_client:
            kind, answer = "cap-client", BUSY_CLIENT
            why = f"{self.by_client[client]} open from it, HUB_SMTP_MAX_CONNECTIONS_PER_CLIENT"
        else:
            self.open += 1
            self.by_client[client] += 1
            return None
        self.refused += 1
        self.repeats.warning(
            kind,
            "SMTP connection from %s answered 421: %s (%d refused so far)",
            client,
            why,
            self.refused,
        )
        return answer

    def release(self, peer) -> None:
        """A session counted by `admit` ended."""
        client = str(peer[0]) if peer else "-"
        self.open -= 1
        self.by_client[client] -= 1
        if self.by_client[client] <= 0:
            del self.by_client[client]

    def keep_reserve(self) -> None:
        """Hold one descriptor to free at the limit (retried until one is had)."""
        if self._reserve is None:
            with contextlib.suppress(OSError):  # none free now: the next call tries again
                self._reserve = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)

    def close(self) -> None:
        if self._reserve is not None:
            os.close(self._reserve)
            self._reserve = None

    def on_loop_error(self, loop, context: dict) -> None:
        """The loop's exception handler: the descriptor limit is answered and counted here;
        anything else goes to asyncio's own handler."""
        exc = context.get("exception")
        listening = context.get("socket")
        if not (
            isinstance(exc, OSError) and exc.errno in OUT_OF_DESCRIPTORS and listening is not None
        ):
            loop.default_exception_handler(context)
            return
        # asyncio's accept loop goes on after this call, up to its backlog (100) times in the
        # same turn of the event loop: the first call of a turn answers, the others return.
        if self._in_turn:
            return
        self._in_turn = True
        loop.call_soon(self._end_turn)
        self.shed_waiting(listening.fileno())
        self.repeats.error(
            "descriptors",
            "SMTP listener at the descriptor limit (%s): new connections are answered 421 "
            "until sessions end (%d answered so far)",
            os.strerror(exc.errno),
            self.shed,
        )

    def _end_turn(self) -> None:
        self._in_turn = False

    def shed_waiting(self, listening_fd: int) -> int:
        """With the reserve descriptor freed, accept each waiting connection, answer it 421
        and close it; how many were answered. The reserve is taken back after."""
        self.keep_reserve()  # lost to another thread earlier: maybe free now
        if self._reserve is None:
            return 0
        os.close(self._reserve)
        self._reserve = None
        answered = 0
        listener = socket.socket(fileno=listening_fd)  # the listener's own descriptor, no dup
        try:
            listener.setblocking(False)
            while answered < SHED_AT_ONCE:
                try:
                    conn, _addr = listener.accept()
                except OSError:  # drained, or another thread took the free descriptor
                    break
                with conn:
                    conn.setblocking(False)
                    with contextlib.suppress(OSError):  # the sender is gone already
                        conn.send(BUSY)
                answered += 1
        finally:
            listener.detach()  # the descriptor stays the server's
            self.keep_reserve()
        self.shed += answered
        return answered
