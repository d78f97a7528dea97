"""deploy/ says what it claims: the Compose services and their health checks, the Dockerfile,
the systemd units (checked by systemd-analyze where it runs), the nginx path split."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time

import pytest
import requests
import yaml

from hub.testing.harness import free_port
from tests.conftest import ROOT

DEPLOY = ROOT / "deploy"
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def test_compose_names_the_services_and_their_health_checks(compose):
    services = compose["services"]
    assert set(services) == {"postgres", "redis", "migrate", "web", "worker", "smtpd", "nginx"}
    for name in ("postgres", "redis", "web", "worker", "smtpd", "nginx"):
        assert services[name]["healthcheck"]["test"][0] == "CMD", name
    assert "/readyz" in " ".join(services["web"]["healthcheck"]["test"])
    assert "/readyz" in " ".join(services["nginx"]["healthcheck"]["test"])
    assert services["migrate"]["command"] == ["db", "upgrade"]
    assert services["web"]["deploy"]["replicas"] == 2
    assert [services[n]["command"] for n in ("web", "worker", "smtpd")] == [
        ["web"],
        ["worker"],
        ["smtpd"],
    ]
    for name in ("web", "worker", "smtpd"):
        service = services[name]
        assert service["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
        env = service["environment"]
        assert env["HUB_DATABASE_URL"].startswith("postgresql+psycopg://")
        assert env["HUB_QUEUE_URL"].startswith("redis://") and env["HUB_ENV"] == "production"
        assert "hubdata:/var/lib/mihub" in service["volumes"]  # web serves what worker builds
    assert services["worker"]["stop_signal"] == services["smtpd"]["stop_signal"] == "SIGINT"
    assert "ports" not in services["web"]  # reached through nginx only
    assert services["nginx"]["ports"] == [
        "${MIHUB_HTTP_PORT:-80}:80",
        "${MIHUB_HTTPS_PORT:-443}:443",
    ]


def test_the_image_runs_the_wheel_as_a_non_root_user():
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert re.findall(r"^FROM (\S+)", dockerfile, re.M) == ["python:3.12-slim"] * 2
    assert re.search(r"^USER mihub$", dockerfile, re.M)
    assert re.search(r"^HEALTHCHECK .*\n.*/readyz", dockerfile, re.M)
    assert 'ENTRYPOINT ["mihub"]' in dockerfile and "pip wheel" in dockerfile
    # everything setup.py packages is in the build context
    for name in ("templates", "reviews_site/docs", "mkdocs.yml", "policy.yaml", "setup.py"):
        assert name in dockerfile, name


def test_nginx_lets_microsoft_in_and_keeps_the_rest_internal():
    conf = (DEPLOY / "nginx" / "mihub.conf").read_text()
    assert "location = /intake/teams" in conf and "location = /intake/bot" in conf
    internal = re.search(r"location ~ \^/\((.*)\) \{\n\s+if \(\$mihub_internal = 0\)", conf)
    assert set(internal.group(1).split("|")) >= {"metrics", "healthz", "readyz", "livez", "ops/"}
    assert "ssl_certificate " in conf and "proxy_set_header Host $http_host;" in conf
    assert "proxy_buffering off;" in conf  # the live events


@pytest.mark.parametrize("unit", UNITS, ids=[u.name for u in UNITS])
def test_systemd_units(unit):
    text = unit.read_text()
    assert "Restart=on-failure" in text and "EnvironmentFile=/etc/mihub/mihub.env" in text
    assert "User=mihub" in text
    part = unit.stem.removeprefix("mihub-")
    assert f"ExecStart=/opt/mihub/bin/mihub {part}\n" in text
    assert ("KillSignal=SIGTERM" if part == "web" else "KillSignal=SIGINT") in text


def test_systemd_analyze_accepts_the_units(tmp_path):
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze is not installed")
    # verify wants ExecStart to exist: point it at an executable that does
    for unit in UNITS:
        text = unit.read_text().replace("/opt/mihub/bin/mihub", sys.executable)
        (tmp_path / unit.name).write_text(text)
    done = subprocess.run(
        ["systemd-analyze", "verify", *map(str, sorted(tmp_path.glob("*.service")))],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and done.stderr.strip() == "", done.stderr


def _compose_cli() -> list[str] | None:
    """`docker compose` (v2) or `docker-compose`, whichever is installed; None otherwise."""
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True)
        if probe.returncode == 0:
            return ["docker", "compose"]
    return ["docker-compose"] if shutil.which("docker-compose") else None


def test_compose_config_is_valid(tmp_path):
    cli = _compose_cli()
    if cli is None:
        pytest.skip("neither `docker compose` nor `docker-compose` is installed")
    shutil.copytree(DEPLOY, tmp_path / "deploy")
    shutil.copyfile(DEPLOY / "mihub.env.example", tmp_path / "deploy" / "mihub.env")
    done = subprocess.run(
        [*cli, "-f", "compose.yaml", "config", "-q"],
        cwd=tmp_path / "deploy",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.e2e
def test_compose_brings_the_hub_up(tmp_path):
    """The whole stack on a Docker host: built, healthy, answering through nginx with TLS."""
    cli = _compose_cli()
    if (
        cli != ["docker", "compose"]
        or subprocess.run(["docker", "info"], capture_output=True).returncode
    ):
        pytest.skip(
            "no Docker daemon (with `docker compose`) answers here: the bring-up (build the "
            "image, start PostgreSQL, Redis, web x2, worker, smtpd and nginx, wait for their "
            "health checks, ask through nginx) runs only on a host with Docker"
        )
    here = tmp_path / "deploy"
    shutil.copytree(DEPLOY, here)
    # production settings that pass the start-up checks: mail through a sink relay (below)
    (here / "mihub.env").write_text(
        f"HUB_SECRET_KEY={'compose-test-' * 4}\nHUB_BASE_URL=https://localhost\n"
        "HUB_MAIL_TRANSPORT=smtp\nHUB_SMTP_URL=smtp://mailsink:1025\n"
    )
    shutil.copyfile(ROOT / "policy.yaml", here / "policy.yaml")
    _self_signed(here / "tls")
    # build from this checkout (compose.yaml's context is the folder above deploy/)
    built = "".join(
        f"  {name}:\n    build:\n      context: {ROOT}\n"
        for name in ("migrate", "web", "worker", "smtpd")
    )
    sink = (
        "  mailsink:\n    image: mihub:latest\n    entrypoint: [python, -m, "
        "hub.testing.fakes.smtp_sink, --host, 0.0.0.0, --port, '1025', --dir, /tmp/sink]\n"
    )
    (here / "compose.override.yaml").write_text(f"services:\n{built}{sink}")
    https, http, smtp = free_port(), free_port(), free_port()
    env = dict(
        os.environ,
        MIHUB_HTTPS_PORT=str(https),
        MIHUB_HTTP_PORT=str(http),
        MIHUB_SMTP_PORT=str(smtp),
        COMPOSE_PROJECT_NAME=f"mihub-test-{os.getpid()}",
    )
    compose = [*cli, "-f", "compose.yaml", "-f", "compose.override.yaml"]

    def run(*args, timeout=900):
        return subprocess.run(
            [*compose, *args], cwd=here, env=env, capture_output=True, text=True, timeout=timeout
        )

    try:
        up = run("up", "-d", "--build", "--wait", "--wait-timeout", "300")
        assert up.returncode == 0, up.stderr[-3000:] + run("logs", "--tail", "50").stdout[-5000:]
        base, trust = f"https://localhost:{https}", str(here / "tls" / "fullchain.pem")
        login = requests.get(f"{base}/login", verify=trust, timeout=10)
        assert login.status_code == 200 and "Sign in" in login.text
        assert login.headers["Strict-Transport-Security"]
        bot = requests.post(f"{base}/intake/bot", json={}, verify=trust, timeout=10)
        assert bot.status_code == 503  # reached the hub: no HUB_BOT_APP_ID configured
        # a declaration pages through the SMTP relay (the sink container)
        token = run("exec", "-T", "web", "mihub", "token", "create", "anna").stdout.split()[-1]
        auth = {"Authorization": f"Bearer {token}"}
        body = {"title": "Payroll is down", "services": ["payroll"], "impact": "outage"}
        made = requests.post(
            f"{base}/api/v1/incidents", json=body, headers=auth, verify=trust, timeout=10
        )
        assert made.status_code == 201, made.text
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            sunk = run("exec", "-T", "mailsink", "ls", "/tmp/sink").stdout.split()
            if any(name.endswith(".eml") for name in sunk):
                break
            time.sleep(2)
        else:
            raise AssertionError("no page reached the SMTP sink: " + run("logs").stdout[-3000:])
        # /kb/ through the proxy, once built (signed-in by default: the API token reads it)
        assert run("exec", "-T", "worker", "mihub", "publish").returncode == 0
        kb = requests.get(f"{base}/kb/", headers=auth, verify=trust, timeout=10)
        assert kb.status_code == 200 and "Post-incident reviews" in kb.text
        assert kb.headers["X-Content-Type-Options"] == "nosniff"
        ready = requests.get(f"http://127.0.0.1:{http}/readyz", timeout=10)
        assert ready.status_code == 200  # the internal probe path, from this host
    finally:
        run("down", "-v", "--remove-orphans", timeout=300)


def _self_signed(directory) -> None:
    """A throwaway certificate for localhost: tls/fullchain.pem and tls/privkey.pem."""
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    directory.mkdir()
    (directory / "fullchain.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / "privkey.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
