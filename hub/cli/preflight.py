"""Checks made before any part of the hub starts, each failing with one line, not a traceback.

The data directory (missing parent, a file, unwritable), the listening addresses (in use, not
allowed), the database (unreachable, refusing). A second `mihub run` on a busy port used to
start its worker on the same database before gunicorn gave up and aiosmtpd crashed.
"""

from __future__ import annotations

import errno
import getpass
import os
import socket
import tempfile
from pathlib import Path

import click

from hub.app.redact import redact_text
from hub.app.settings import join_hostport, split_hostport


def check_data_dir(path: Path, name: str = "HUB_DATA_DIR") -> None:
    """The data directory (`name`: how the user gave it) exists (or can be made) as a
    directory this user can write in."""
    if path.exists() and not path.is_dir():
        raise click.ClickException(f"{name}={path} is a file, not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise click.ClickException(
            f"{name}={path} does not exist and cannot be created: {_reason(exc)}"
        ) from None
    try:  # os.access is not enough: read-only mounts and ACLs answer differently
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        raise click.ClickException(
            f"{name}={path} is not writable by user {_user()}: {_reason(exc)}"
        ) from None


def check_free(*addresses: str) -> None:
    """Each `host:port` can be listened on now (nothing else holds it)."""
    for address in addresses:
        host, port = split_hostport(address)
        shown = join_hostport(host, port)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        probe = socket.socket(family, socket.SOCK_STREAM)
        # what the servers set too: a port in TIME_WAIT after a restart is not "in use"
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                message = f"{shown} is in use — is another mihub running?"
            elif exc.errno == errno.EACCES:
                message = (
                    f"cannot listen on {shown}: permission denied (ports below 1024 need "
                    "CAP_NET_BIND_SERVICE, or listen on a higher port behind a forward)"
                )
            elif exc.errno == errno.EADDRNOTAVAIL:
                message = f"cannot listen on {shown}: that address is not on this machine"
            else:
                message = f"cannot listen on {shown}: {_reason(exc)}"
            raise click.ClickException(message) from None
        finally:
            probe.close()


def check_tls(settings) -> None:
    """The SMTP listener's certificate and key load (a wrong file is one line, not a crash)."""
    import ssl

    from hub.intake.email.listener import tls_context

    try:
        tls_context(settings)
    except (ssl.SSLError, OSError) as exc:
        raise click.ClickException(
            f"HUB_SMTP_TLS_CERT/HUB_SMTP_TLS_KEY cannot be used for STARTTLS: "
            f"{getattr(exc, 'reason', None) or _reason(exc)}"
        ) from None


def migrate_or_exit(url: str) -> tuple[str | None, str | None]:
    """Bring the database to the latest schema: (revision before, after); one line when it
    cannot be reached."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import DBAPIError

    from hub.app.migrate import current_revision, upgrade

    try:
        before = current_revision(url)
        upgrade(url)
        return before, current_revision(url)
    except DBAPIError as exc:
        shown = make_url(url).render_as_string(hide_password=True)
        raise click.ClickException(
            f"the database at {shown} cannot be used: {database_reason(exc)}"
        ) from None
    except OSError as exc:  # SQLite: its file's directory cannot be made
        shown = make_url(url).render_as_string(hide_password=True)
        where = f"its directory {exc.filename} cannot be made: " if exc.filename else ""
        raise click.ClickException(
            f"the database at {shown} cannot be used: {where}{_reason(exc)}"
        ) from None


def database_reason(exc: Exception) -> str:
    """The driver's own words, on one line and with no secret in them."""
    orig = getattr(exc, "orig", None) or exc
    lines = [ln.strip() for ln in str(orig).splitlines() if ln.strip()]
    return redact_text(" ".join(lines) or type(orig).__name__)[:400]


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())
