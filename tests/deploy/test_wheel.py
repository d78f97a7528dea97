"""The hub as a deployment gets it: built into a wheel (through the sdist, as a release is),
installed into a fresh virtual environment, run from an empty directory with no checkout in
sight. Mail and Teams cards render, the console signs people in, a review is published."""

from __future__ import annotations

import email
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from email import policy as email_policy
from pathlib import Path

import pytest
import requests

from hub.testing.harness import free_port
from tests.conftest import ROOT
from tests.review_factory import TEXTS

pytestmark = pytest.mark.e2e

TITLE = "Payroll is down after release 4.2"
ANNA = "anna.schmidt@northwind.example"
# Teams targets of the example policy come from the environment; the sink records them.
WEBHOOKS = {
    name: f"https://northwind.example/workflows/{name.lower()}"
    for name in ("TEAMS_ONCALL_WEBHOOK", "TEAMS_EXEC_WEBHOOK", "TEAMS_IT_WEBHOOK")
}


@pytest.fixture(scope="session")
def wheel(tmp_path_factory) -> Path:
    """The wheel, built once per session from the sdist of a snapshot of this checkout (the
    files git knows or would add): tests running beside it write under the checkout too, and a
    file that vanishes while the sdist is copied fails the build."""
    out = tmp_path_factory.mktemp("dist")
    src = tmp_path_factory.mktemp("source")
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, (n.decode() for n in listed)):
        if (ROOT / name).is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, src / name)
    done = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(src)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return next(out.glob("mihub-*.whl"))


@pytest.fixture(scope="session")
def mihub(wheel, tmp_path_factory) -> Path:
    """The `mihub` script of a fresh venv with only the wheel (and its dependencies) in it."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    done = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet"]
        + ["--no-compile", str(wheel)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return venv / "bin" / "mihub"


def _env(**extra) -> dict:
    """The environment of a machine where the hub is installed: no HUB_* of the suite, no
    path back into this checkout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.pop("PYTHONPATH", None)
    return {**env, **extra}


def _cli(mihub: Path, *args: str, cwd: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(mihub), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


def test_the_installed_hub_runs_from_its_own_files(mihub, tmp_path):
    python = mihub.with_name("python")
    where = subprocess.run(
        [str(python), "-c", "import hub.app.templates as t; print(t.ASSETS)"],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert where.endswith("site-packages/hub/_assets") and not where.startswith(str(ROOT))
    assets = Path(where)
    for name in ("mkdocs.yml", "policy.yaml", "reviews_site/docs/index.md"):
        assert (assets / name).read_bytes() == (ROOT / name).read_bytes(), name
    shipped = [p.relative_to(ROOT) for p in (ROOT / "templates").rglob("*") if p.is_file()]
    assert len(shipped) > 50 and [p for p in shipped if not (assets / p).is_file()] == []


def test_without_a_policy_it_says_how_to_start(mihub, tmp_path):
    env = _env()
    missing = _cli(mihub, "token", "create", "anna", cwd=tmp_path, env=env)
    assert missing.returncode == 1
    message = missing.stderr.strip()
    assert "\n" not in message and "HUB_POLICY" in message, message
    assert "mihub policy example > policy.yaml" in message
    example = _cli(mihub, "policy", "example", cwd=tmp_path, env=env)
    assert example.returncode == 0 and example.stdout == (ROOT / "policy.yaml").read_text()
    (tmp_path / "policy.yaml").write_text(example.stdout)
    checked = _cli(mihub, "policy", "check", cwd=tmp_path, env=env)
    assert checked.returncode == 0 and "policy.yaml: OK" in checked.stdout, checked.stderr


def test_declare_page_sign_in_and_publish_from_an_empty_directory(mihub, tmp_path):
    here = tmp_path / "hub"
    here.mkdir()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = _env(
        HUB_HTTP=f"127.0.0.1:{port}",
        HUB_SMTP_LISTEN=f"127.0.0.1:{free_port()}",
        HUB_MAIL_TRANSPORT="sink",
        HUB_TEAMS_TRANSPORT="sink",
        HUB_WEB_WORKERS="1",
        HUB_LOG_LEVEL="WARNING",
        **WEBHOOKS,
    )
    example = _cli(mihub, "policy", "example", cwd=here, env=env)
    (here / "policy.yaml").write_text(example.stdout)
    migrated = _cli(mihub, "db", "upgrade", cwd=here, env=env)
    assert migrated.returncode == 0, migrated.stderr
    assert (here / "var" / "hub.db").is_file()  # the defaults: ./policy.yaml, ./var
    made = _cli(mihub, "token", "create", "anna", cwd=here, env=env)  # an admin: may do all
    assert made.returncode == 0, made.stderr
    auth = {"Authorization": f"Bearer {made.stdout.split()[-1]}"}
    log = open(here / "hub.log", "w")  # noqa: SIM115  (closed with the process)
    proc = subprocess.Popen(
        [str(mihub), "run"], cwd=here, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    http = requests.Session()
    http.trust_env = False
    try:
        _until("the hub answers /healthz", lambda: _healthy(http, base, proc, here), 90)
        ref = _declare_and_check_the_pages(http, base, auth, here / "var" / "sinks")
        _sign_in(http, base, here / "var" / "sinks" / "email", ref)
        _publish_a_review(http, base, auth, ref)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        finally:
            log.close()
    assert proc.returncode == 0, (here / "hub.log").read_text()[-3000:]


def _declare_and_check_the_pages(http, base, auth, sinks: Path) -> str:
    r = http.post(
        f"{base}/api/v1/incidents",
        headers=auth,
        json={"title": TITLE, "services": ["payroll"], "impact": "outage"},
        timeout=10,
    )
    assert r.status_code == 201, r.text
    doc = r.json()
    assert doc["major"] is True and doc["severity"] == "SEV1"
    ref = doc["id"]

    pages = _until(
        "the page email in the sink",
        lambda: [m for m in _sunk(sinks / "email") if m["template"] == "page"],
    )
    page = pages[0]
    assert page["subject"] == f"[{ref}] {TITLE}" and page["incident"] == ref
    assert f"YOU ARE PAGED as Major Incident Manager for {ref} (SEV1)" in page["text"]
    assert f"{base}/" in page["text"]  # links to the hub, from HUB_HTTP
    mime = email.message_from_bytes(
        (sinks / "email" / page["file"]).read_bytes(), policy=email_policy.default
    )
    html = mime.get_body(("html",)).get_content()
    assert TITLE in html and ref in html and "{{" not in html

    cards = _until(
        "a Teams page card in the sink",
        lambda: [c for c in _sunk(sinks / "teams") if "Page:" in json.dumps(c["envelope"])],
    )
    card = cards[0]["envelope"]["attachments"][0]
    assert card["contentType"] == "application/vnd.microsoft.card.adaptive"
    text = json.dumps(card["content"], ensure_ascii=False)
    assert "📟 Page: Major Incident Manager" in text and ref in text and TITLE in text
    return ref


def _sign_in(http, base, mail: Path, ref: str) -> None:
    login = http.get(f"{base}/login", timeout=10)
    assert login.status_code == 200 and "Sign in" in login.text
    sent = http.post(
        f"{base}/login/link",
        data={"email": ANNA, "csrf_token": _csrf(login.text), "next": "/"},
        timeout=10,
    )
    assert sent.status_code == 200 and "Check your mail" in sent.text
    message = _until(
        "the sign-in link in the sink",
        lambda: [m for m in _sunk(mail) if m["template"] == "sign-in-link" and m["to"] == ANNA],
    )[0]
    link = re.search(r"https?://\S+/login/link/\S+", message["text"]).group(0)
    assert link.startswith(f"{base}/login/link/")
    confirm = http.get(link, timeout=10)
    assert confirm.status_code == 200 and "Continue as Anna Schmidt" in confirm.text
    done = http.post(
        link, data={"csrf_token": _csrf(confirm.text)}, allow_redirects=False, timeout=10
    )
    assert done.status_code == 303 and done.headers["Location"] == "/"
    board = http.get(f"{base}/", timeout=10)
    assert board.status_code == 200 and ref in board.text and TITLE in board.text
    room = http.get(f"{base}/incidents/{ref}", timeout=10)
    assert room.status_code == 200 and "Anna Schmidt" in room.text


def _publish_a_review(http, base, auth, ref: str) -> None:
    def call(method, path, body=None, expect=200):
        r = http.request(method, f"{base}/api/v1/incidents/{ref}{path}", headers=auth, json=body)
        assert r.status_code == expect, r.text
        return r.json()

    call("POST", "/acknowledge", {})
    call("POST", "/updates", {"text": "Rolling back release 4.2"})
    assert call("POST", "/resolve", {"summary": "Rolled back"})["state"] == "resolved"
    review = _until(
        "the worker to open the review",
        lambda: http.get(f"{base}/api/v1/incidents/{ref}/review", headers=auth),
        check=lambda r: r.status_code == 200,
    ).json()
    body = {
        **TEXTS,
        "tags": ["software"],
        "version": review["version"],
        "action_items": [
            {"title": "Load-test pool settings", "owner": "david", "due": "2030-01-10"}
        ],
    }
    assert call("PUT", "/review", body)["missing"] == []
    assert call("POST", "/review/submit", {})["state"] == "in_review"
    assert call("POST", "/review/approve", {}, expect=202)["state"] == "approved"
    published = _until(
        "the worker to publish the review",
        lambda: call("GET", "/review"),
        check=lambda doc: doc["state"] == "published" or doc.get("publish_error"),
    )
    assert published["state"] == "published", published
    assert published["site_url"].endswith(f"/kb/reviews/{ref}/")
    page = http.get(f"{base}/kb/reviews/{ref}/", timeout=10)
    assert page.status_code == 200 and TEXTS["trigger"] in page.text and TITLE in page.text
    home = http.get(f"{base}/kb/", timeout=10)
    assert home.status_code == 200 and "Post-incident reviews" in home.text


def _csrf(page: str) -> str:
    return re.search(r'data-csrf="([^"]+)"', page).group(1)


def _sunk(directory: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(directory.glob("*.json"))]


def _healthy(http, base, proc, here) -> bool:
    assert proc.poll() is None, (here / "hub.log").read_text()[-3000:]
    try:
        return http.get(f"{base}/healthz", timeout=2).status_code == 200
    except requests.RequestException:  # not listening yet
        return False


def _until(what: str, probe, timeout: float = 45, check=bool):
    """Poll `probe` until `check` holds for its answer; the answer."""
    deadline = time.monotonic() + timeout
    while True:
        answer = probe()
        if check(answer):
            return answer
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; last: {answer!r}"[:3000])
        time.sleep(0.2)
