"""`mihub demo`: a narrated major incident on local sinks, against a real `mihub run`."""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

from hub.testing.harness import (
    Child,
    ProcessExited,
    WaitTimeout,
    create_token,
    free_port,
    start_mihub,
    wait_healthy,
)

DEMO_POLICY = Path(__file__).resolve().parent / "policy.yaml"


@dataclass
class SinkWatcher:
    """Reports each new message in the email and Teams sinks once."""

    data_dir: Path
    seen: set = field(default_factory=set)
    emails: list = field(default_factory=list)
    cards: list = field(default_factory=list)

    def poll(self) -> list[str]:
        lines = []
        for path in sorted((self.data_dir / "sinks" / "email").glob("*.json")):
            if path.name not in self.seen:
                self.seen.add(path.name)
                msg = json.loads(path.read_text())
                self.emails.append(msg)
                lines.append(
                    f"email  → {msg['to']:<26} {msg.get('template') or ''}: {msg['subject']}"
                )
        for path in sorted((self.data_dir / "sinks" / "teams").glob("*.json")):
            if path.name not in self.seen:
                self.seen.add(path.name)
                doc = json.loads(path.read_text())
                self.cards.append(doc)
                lines.append(f"Teams  → {_short(doc.get('to', '')):<26} {_card_title(doc)}")
        return lines


def _short(to: str) -> str:
    return to.rsplit("/", 1)[-1] if "/" in to else to


def _card_title(doc: dict) -> str:
    try:
        body = doc["envelope"]["attachments"][0]["content"]["body"]
    except (KeyError, IndexError, TypeError):
        return "(card)"
    for element in body:
        if element.get("type") == "TextBlock":
            return element.get("text", "")[:90]
    return "(card)"


class Demo:
    """Starts the hub with the demo policy and drives it through the API."""

    def __init__(self, data_dir: Path | None, echo=print, pace: float = 1.0):
        self.data_dir = Path(data_dir or tempfile.mkdtemp(prefix="mihub-demo-")).resolve()
        self.echo = echo
        self.pace = pace
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
        self.env.update(
            HUB_DATA_DIR=str(self.data_dir),
            HUB_POLICY=str(DEMO_POLICY),
            HUB_HTTP=f"127.0.0.1:{self.port}",
            HUB_SMTP_LISTEN=f"127.0.0.1:{free_port()}",
            HUB_MAIL_TRANSPORT="sink",
            HUB_TEAMS_TRANSPORT="sink",
            HUB_LOG_LEVEL="WARNING",
        )
        self.watch = SinkWatcher(self.data_dir)
        self.started = time.monotonic()
        self.proc: Child | None = None
        self.http = requests.Session()
        self.http.trust_env = False

    def say(self, text: str) -> None:
        self.echo(f"[{time.monotonic() - self.started:5.1f}s] {text}")

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.proc = start_mihub("run", env=self.env, log=self.data_dir / "hub.log")
        try:
            wait_healthy(self.base, self.proc, timeout=60, session=self.http)
        except (ProcessExited, WaitTimeout) as exc:
            raise RuntimeError(f"the hub did not start; see {self.data_dir / 'hub.log'}") from exc
        self.tokens = {p: create_token(p, env=self.env) for p in ("anna", "ben", "chloe")}

    def api(self, person: str, method: str, path: str, body: dict | None = None) -> dict:
        r = self.http.request(
            method,
            f"{self.base}/api/v1{path}",
            json=body,
            timeout=10,
            headers={"Authorization": f"Bearer {self.tokens[person]}"},
        )
        r.raise_for_status()
        return r.json()

    def wait(self, seconds: float) -> None:
        """Wait, printing what arrives at the sinks meanwhile."""
        end = time.monotonic() + seconds * self.pace
        while True:
            for line in self.watch.poll():
                self.say(line)
            if time.monotonic() >= end:
                return
            time.sleep(0.25)

    def stop(self) -> None:
        if self.proc:
            self.proc.stop(timeout=60)

    def run(self) -> dict:
        """The scenario; returns the incident as the API shows it at the end."""
        self.say(f"Starting the hub on {self.base} (data in {self.data_dir})")
        self.start()
        self.say("Chloe from the service desk reports: 'Payroll is down for everyone'")
        inc = self.api(
            "chloe",
            "POST",
            "/incidents",
            {
                "title": "Payroll is down for everyone",
                "services": ["payroll"],
                "impact": "outage",
                "description": "ADP login fails with 503 since 09:12",
            },
        )
        ref = inc["id"]
        self.say(f"{ref}: {inc['severity']}, major={inc['major']}, rule {inc['rule']}")
        for reason in inc["reasons"]:
            self.say(f"   because: {reason}")
        self.say("Pages go out to the Major Incident Manager and the Technical Lead…")
        self.wait(17)
        self.say("Nobody acknowledged within 15 s, so the second Major Incident Manager was paged.")
        self.say("Anna acknowledges from the hub.")
        self.api("anna", "POST", f"/incidents/{ref}/acknowledge", {})
        self.wait(2)
        self.say("Chloe posts a stakeholder update.")
        self.api(
            "chloe",
            "POST",
            f"/incidents/{ref}/updates",
            {"text": "Database failover to the standby in progress. Payslips are safe."},
        )
        self.wait(36)
        self.say("No update was posted in time, so the hub sent a 'no change' update itself.")
        self.api(
            "anna",
            "POST",
            f"/incidents/{ref}/resolve",
            {"summary": "Failed over to the standby database; ADP logins work again."},
        )
        self.say("Anna resolves the incident; everyone gets the final notice.")
        self.wait(4)
        final = self.api("anna", "GET", f"/incidents/{ref}")
        self.say(f"{ref} is {final['state']}. Timeline:")
        for entry in final["timeline"]:
            self.echo(f"    {entry['at'][11:19]}  {entry['kind']:<14} {entry['text'][:100]}")
        sent = [n for n in final["notifications"] if n["status"] == "sent"]
        self.say(
            f"{len(sent)} notifications delivered to the local sinks in {self.data_dir / 'sinks'}"
        )
        return final
