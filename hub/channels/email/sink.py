"""The local email sink: each message as an .eml file plus a .json summary, for people to look at."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

from hub.channels.base import Sent, TransientError
from hub.channels.email.wire import mime_bytes


class SinkTransport:
    """Writes each message to `<data_dir>/sinks/email/` as NAME.eml plus a NAME.json summary."""

    def __init__(self, data_dir: Path | str):
        self.dir = Path(data_dir) / "sinks" / "email"

    def send(self, payload: dict) -> Sent:
        """Write the .eml, then the .json index entry (its presence means the .eml is complete)."""
        now = datetime.now(UTC)
        name = f"{now:%Y%m%dT%H%M%S%f}-{os.urandom(4).hex()}"
        data = mime_bytes(payload, now=now)  # the bytes an SMTP relay would get (CRLF)
        summary = {
            "file": f"{name}.eml",
            "at": now.isoformat(timespec="seconds"),
            "to": payload["to"],
            "bcc": len(payload.get("bcc") or ()),
            "from": payload["from"],
            "subject": payload["subject"],
            "message_id": payload["headers"].get("Message-ID"),
            "incident": payload["headers"].get("X-Mihub-Incident"),
            "template": payload["headers"].get("X-Mihub-Template"),
            "text": payload["text"],
        }
        try:
            if not self.dir.is_dir():
                self.dir.mkdir(parents=True, exist_ok=True)
            (self.dir / f"{name}.eml").write_bytes(data)  # read once its .json is there
            _write_atomic(self.dir / f"{name}.json", json.dumps(summary).encode() + b"\n")
        except OSError as exc:
            raise TransientError(f"email sink {self.dir} not writable: {exc}") from None
        return Sent(f"{name}.eml", "written to the local sink")

    def messages(self) -> list[dict]:
        """The sink's index entries, oldest first (for the console and the demo)."""
        if not self.dir.exists():
            return []
        return [json.loads(p.read_text()) for p in sorted(self.dir.glob("*.json"))]

    def close(self) -> None:
        pass


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)  # no fsync: a development sink trades durability for speed
    os.replace(tmp, path)
