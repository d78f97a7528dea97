"""A fake ticket system on 127.0.0.1: takes the hub's signed action-item exports, answers with a
ticket, and writes the ticket's link back through the export's callback.

`POST /hooks/mihub` checks `X-Mihub-Signature` (`sha256=` + hex HMAC-SHA256 of the raw body
with the shared secret, compared in constant time): a missing or wrong signature gets 401 and
no ticket. A good one opens a ticket (`TCK-1`, `TCK-2`, …) and answers 201 `{"id", "url"}`
with `Location`; a repeat of a delivery it already took (`X-Mihub-Delivery`) answers 200 with
the same ticket. Then, in the background as a real ticket system would, it calls the
document's `callback` (`PATCH <url>` `{"ticket": <ticket url>}` with
`Authorization: Bearer <token>`) and keeps the answer in `callbacks`. `GET /tickets/<id>`
shows a ticket. Faults (`fail_next`, `slow`, `stop`/`start`) come from `hub.testing.fakes.base`.

Run alone: `python -m hub.testing.fakes.ticket --port 8705 --secret S --token T`.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass

import requests

from hub.testing.fakes.base import FakeServer, Request, Response

HOOK = "/hooks/mihub"


@dataclass
class Ticket:
    id: str
    delivery: str
    document: dict


class FakeTicketSystem(FakeServer):
    def __init__(self, secret: str, token: str | None = None, port: int = 0):
        self.secret, self.token = secret, token
        self.tickets: dict[str, Ticket] = {}
        self.rejected: list[str] = []  # why each refused request was refused
        self.callbacks: list[tuple[int, dict]] = []  # (status, JSON answer) of each write-back
        self._lock = threading.Lock()
        self._workers: list[threading.Thread] = []
        super().__init__(port)

    @property
    def hook_url(self) -> str:
        return self.url + HOOK

    def routes(self):
        return [("POST", HOOK, self._hook), ("GET", r"/tickets/(?P<ident>[A-Z0-9-]+)", self._show)]

    def signature_ok(self, request: Request) -> bool:
        given = request.headers.get("x-mihub-signature", "")
        wanted = (
            "sha256=" + hmac.new(self.secret.encode(), request.body, hashlib.sha256).hexdigest()
        )
        return hmac.compare_digest(given.encode(), wanted.encode())

    def _hook(self, request: Request) -> Response:
        if not self.signature_ok(request):
            self.rejected.append("bad signature")
            return Response(401, {"error": "bad signature"})
        try:
            document = request.json()
            callback = document["callback"]
        except (ValueError, KeyError, TypeError):
            self.rejected.append("not an export")
            return Response(400, {"error": "not an export"})
        delivery = request.headers.get("x-mihub-delivery", "")
        with self._lock:
            known = next((t for t in self.tickets.values() if t.delivery == delivery), None)
            if known is not None:
                return Response(200, self._doc(known), {"Location": self._link(known)})
            ticket = Ticket(f"TCK-{len(self.tickets) + 1}", delivery, document)
            self.tickets[ticket.id] = ticket
        worker = threading.Thread(target=self._write_back, args=(ticket, callback), daemon=True)
        self._workers.append(worker)
        worker.start()
        return Response(201, self._doc(ticket), {"Location": self._link(ticket)})

    def _write_back(self, ticket: Ticket, callback: dict) -> None:
        time.sleep(0.05)  # after the answer, as a real system's own job would
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            answer = requests.request(
                callback.get("method", "PATCH"),
                callback["url"],
                json={callback.get("field", "ticket"): self._link(ticket)},
                headers=headers,
                timeout=10,
            )
            found = answer.json() if answer.content else {}
            self.callbacks.append((answer.status_code, found))
        except (requests.RequestException, ValueError) as exc:
            self.callbacks.append((0, {"error": repr(exc)}))

    def wait_for_callbacks(self, count: int, timeout: float = 10.0) -> list[tuple[int, dict]]:
        """The write-backs, once `count` of them are done (or the timeout passed)."""
        deadline = time.monotonic() + timeout
        while len(self.callbacks) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return list(self.callbacks)

    def _show(self, request: Request, ident: str) -> Response:
        ticket = self.tickets.get(ident)
        if ticket is None:
            return Response(404, {"error": f"no ticket {ident}"})
        return Response(200, {**self._doc(ticket), "document": ticket.document})

    def _link(self, ticket: Ticket) -> str:
        return f"{self.url}/tickets/{ticket.id}"

    def _doc(self, ticket: Ticket) -> dict:
        return {"id": ticket.id, "url": self._link(ticket)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8705)
    parser.add_argument("--secret", required=True, help="HUB_TICKET_WEBHOOK_SECRET of the hub")
    parser.add_argument("--token", help="an API token of the hub, for the write-back")
    args = parser.parse_args()
    fake = FakeTicketSystem(args.secret, args.token, args.port).start()
    print(json.dumps({"hook": fake.hook_url}), flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        fake.stop()


if __name__ == "__main__":
    main()
