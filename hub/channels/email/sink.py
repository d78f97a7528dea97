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
        index = json.dumps(summary).encode() + b"\n"
        try:
            try:
                _write(self.dir / f"{name}.eml", data)  # read once its .json is there
            except FileNotFoundError:  # the first message (or the directory was removed)
                self.dir.mkdir(parents=True, exist_ok=True)
                _write(self.dir / f"{name}.eml", data)
            _write_atomic(self.dir / f"{name}.json", index)
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


def _write(path: Path, data: bytes) -> None:
    """A new file with `data` (no fsync: a development sink trades durability for speed)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    _write(tmp, data)
    os.replace(tmp, path)
