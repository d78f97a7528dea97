"""A TCP link between the hub and a dependency that tests can break: refuse or hang.

`FaultyLink(port)` listens on a free local port and forwards every connection to
127.0.0.1:`port` (PostgreSQL, Redis, an SMTP relay). `refuse()` drops every open connection
and refuses new ones (the server went away); `hang()` keeps connections open but forwards
nothing in either direction (a network that stopped delivering packets); `heal()` forwards
again. No pytest here: the benchmarks may use it too.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
import time

from hub.testing.harness import free_port


class FaultyLink:
    def __init__(self, target_port: int, target_host: str = "127.0.0.1"):
        self.target = (target_host, target_port)
        self.port = free_port()
        self.mode = "pass"
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._stopped = threading.Event()

    def start(self) -> FaultyLink:
        self._listen()
        return self

    def _listen(self) -> None:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.port))
        s.listen(128)
        self._listener = s
        threading.Thread(target=self._accept, args=(s,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = listener.accept()
            except OSError:
                return  # closed: refuse() or stop()
            if self.mode == "hang":
                with self._lock:
                    self._pairs.append((client, client))  # held open, never answered
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._pairs.append((client, upstream))
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        peers = {a: b, b: a}
        try:
            while not self._stopped.is_set():
                if self.mode == "hang":  # bytes stay in the kernel's buffers; nobody hears
                    time.sleep(0.1)
                    continue
                ready, _, _ = select.select([a, b], [], [], 0.2)
                for s in ready:
                    data = s.recv(65536)
                    if not data:
                        return
                    peers[s].sendall(data)
        except (OSError, ValueError):  # closed under us (refuse, heal, stop)
            return
        finally:
            if self.mode != "hang":
                self._close(a, b)

    def _close(self, *socks: socket.socket) -> None:
        for s in socks:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                s.close()

    def _drop_all(self) -> None:
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for a, b in pairs:
            self._close(a, b)

    def refuse(self) -> None:
        """Drop every connection and refuse new ones (connection refused)."""
        self.mode = "refuse"
        if self._listener is not None:
            self._close(self._listener)
            self._listener = None
        self._drop_all()

    def hang(self) -> None:
        """Forward nothing any more; connections stay open, new ones are accepted and held."""
        self.mode = "hang"

    def heal(self) -> None:
        """Forward again (connections held while hanging are dropped: they lost bytes)."""
        if self.mode == "hang":
            self._drop_all()
        self.mode = "pass"
        if self._listener is None:
            self._listen()

    def stop(self) -> None:
        self._stopped.set()
        if self._listener is not None:
            self._close(self._listener)
            self._listener = None
        self._drop_all()
