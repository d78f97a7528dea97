"""Secrets stay secret: a full scenario with Teams webhooks, SMTP credentials and tokens
configured, then every API document, console page and log line searched for them."""

from __future__ import annotations

import os
import re
import time

import pytest
import requests

from hub import create_app
from hub.testing.fakes.smtp_sink import SmtpSink
from hub.testing.fakes.teams import FakeTeams
from hub.testing.harness import create_token, free_port, start_mihub, wait_for, wait_healthy
from tests.conftest import EXAMPLE_POLICY

pytestmark = pytest.mark.e2e
ANNA = "anna.schmidt@northwind.example"
SIG_EXEC = "SigExec0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6"
SIG_ONCALL = "SigOncall9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4"
SIG_DEAD = "SigDead11223344556677889900aabbccddeeff"
SMTP_PASSWORD = "smtp-Pa55word-4711-xyz"
SECRET_KEY = "secret-key-" + "q" * 40
METRICS_TOKEN = "metrics-token-5c7d9e1f3a5b7c9d"
OUTGOING_SECRET = "b3V0Z29pbmctc2VjcmV0LWZvci10ZWFtcw=="
CLIENT_SECRET = "client-secret~Q8x.ZZyy-0011"


def _hook(teams: FakeTeams, name: str, sig: str) -> str:
    return (
        f"{teams.webhook_url(name)}?api-version=2016-06-01"
        f"&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig={sig}"
    )


@pytest.fixture
def scenario(tmp_path):
    teams = FakeTeams().start()
    sink = SmtpSink(credentials=("hub-mailer", SMTP_PASSWORD)).start()
    dead_port = free_port()  # nothing listens: the delivery fails with the URL in its error
    http = free_port()
    env = dict(
        {k: v for k, v in os.environ.items() if not k.startswith("HUB_")},
        HUB_DATA_DIR=str(tmp_path / "var"),
        HUB_HTTP=f"127.0.0.1:{http}",
        HUB_SMTP_LISTEN=f"127.0.0.1:{free_port()}",
        HUB_POLICY=str(EXAMPLE_POLICY),
        HUB_QUEUE_URL=f"sqlite:///{tmp_path / 'var' / 'queue.db'}",
        HUB_MAIL_TRANSPORT="smtp",
        HUB_SMTP_URL=sink.url,
        HUB_MAIL_FROM="Major Incident Hub <incidents@northwind.example>",
        HUB_TEAMS_TRANSPORT="webhook",
        HUB_SECRET_KEY=SECRET_KEY,
        HUB_METRICS_TOKEN=METRICS_TOKEN,
        HUB_TEAMS_OUTGOING_SECRET=OUTGOING_SECRET,
        HUB_GRAPH_CLIENT_SECRET=CLIENT_SECRET,
        HUB_RETRY_BASE="1",
        HUB_LOG_LEVEL="DEBUG",
        TEAMS_EXEC_WEBHOOK=_hook(teams, "exec", SIG_EXEC),
        TEAMS_SERVICEDESK_WEBHOOK=_hook(teams, "desk", SIG_EXEC),
        TEAMS_ONCALL_WEBHOOK=_hook(teams, "oncall", SIG_ONCALL),
        TEAMS_IT_WEBHOOK=f"http://127.0.0.1:{dead_port}/workflows/it/run?sig={SIG_DEAD}",
    )
    log = tmp_path / "mihub.log"
    proc = start_mihub("run", env=env, cwd=tmp_path, log=log)
    base = f"http://127.0.0.1:{http}"
    try:
        wait_healthy(base, proc, timeout=60)
        token = create_token("anna", env=env, cwd=tmp_path)
        yield {"base": base, "token": token, "teams": teams, "sink": sink, "log": log}
    finally:
        proc.stop()
        teams.stop()
        sink.stop()


def _sign_in(http: requests.Session, base: str, sink: SmtpSink) -> None:
    """Sign in with the mailed one-time link, as a person would."""
    login = http.get(f"{base}/login", timeout=10)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', login.text).group(1)
    http.post(f"{base}/login/link", data={"email": ANNA, "csrf_token": csrf}, timeout=10)

    def link():
        for received in list(sink.messages):
            msg = received.message()
            if msg["X-Mihub-Template"] == "sign-in-link":
                text = msg.get_body(("plain",)).get_content()
                return re.search(r"https?://\S+/login/link/\S+", text).group(0)
        return None

    url = wait_for(link, timeout=30, what="the sign-in link")
    confirm = http.get(url, timeout=10)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', confirm.text).group(1)
    done = http.post(url, data={"csrf_token": csrf}, allow_redirects=False, timeout=10)
    assert done.status_code == 303


def _get_routes() -> list[str]:
    """Every GET route of the app, with INC-1 (or 1) for its one parameter; others skipped."""
    app = create_app({"TESTING": True})
    paths = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.rule.startswith(("/static", "/kb/")):
            continue
        path = rule.rule
        for arg in rule.arguments:
            value = "INC-1" if arg in ("ref", "incident_id", "ident") else "1"
            path = re.sub(rf"<(?:[a-z]+:)?{arg}>", value, path)
        if "<" not in path and "/events" not in path and "/login/" not in path:
            paths.append(path)
    return sorted(set(paths))


def test_no_secret_in_any_document_page_or_log_line(scenario):
    base, teams, sink = scenario["base"], scenario["teams"], scenario["sink"]
    api = requests.Session()
    api.headers["Authorization"] = f"Bearer {scenario['token']}"
    created = api.post(
        f"{base}/api/v1/incidents",
        json={"title": "Payroll down", "services": ["payroll"], "impact": "outage"},
        timeout=10,
    )
    assert created.status_code == 201, created.text
    ref = created.json()["id"]
    assert ref == "INC-1"
    api.post(f"{base}/api/v1/incidents/{ref}/updates", json={"text": "Rolling back"}, timeout=10)
    # the hooks are used (the scenario means something): cards reached the fake Teams, mail
    # went through the authenticated relay, and the dead hook left an error on its rows
    wait_for(lambda: teams.cards(), timeout=60, what="cards at the fake Teams")
    wait_for(lambda: sink.messages, timeout=60, what="mail through the SMTP relay")

    def dead_hook_error():
        doc = api.get(f"{base}/api/v1/incidents/{ref}", timeout=10).json()
        return [n for n in doc["notifications"] if n.get("last_error") and n["channel"] == "teams"]

    errors = wait_for(dead_hook_error, timeout=90, what="the dead webhook's error")
    assert "127.0.0.1" in errors[0]["last_error"]

    browser = requests.Session()
    _sign_in(browser, base, sink)
    documents = {}
    for path in _get_routes():
        url = f"{base}{path}"
        documents[f"api {path}"] = api.get(url, timeout=10).text
        documents[f"page {path}"] = browser.get(url, timeout=10).text
    documents["metrics"] = requests.get(
        f"{base}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, timeout=10
    ).text
    assert "mihub_incidents" in documents["metrics"]
    assert "Payroll down" in documents["page /incidents/INC-1"]
    assert ref in documents["api /api/v1/incidents/INC-1"]
    time.sleep(1.5)  # the children flush their log lines
    log = scenario["log"].read_text(errors="replace")
    assert "huey: Executing tasks.deliver" in log  # the workers said what they did

    secrets = {
        "exec webhook sig": SIG_EXEC,
        "on-call webhook sig": SIG_ONCALL,
        "dead webhook sig": SIG_DEAD,
        "SMTP password": SMTP_PASSWORD,
        "secret key": SECRET_KEY,
        "metrics token": METRICS_TOKEN,
        "Teams outgoing secret": OUTGOING_SECRET,
        "Graph client secret": CLIENT_SECRET,
        "API token": scenario["token"],
    }
    leaks = [
        f"{what} in {where}"
        for where, text in {**documents, "log": log}.items()
        for what, secret in secrets.items()
        if secret in text
    ]
    assert leaks == [], leaks
    assert len(documents) > 40  # every route, as a tool and as a person
