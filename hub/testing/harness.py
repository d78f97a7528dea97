"""One process harness for tests, benchmarks and the demo: free ports, waiting on a condition,
the health probe, and `mihub` child processes started with an environment and stopped cleanly.

No pytest here: the benchmarks and `mihub demo` use it too.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, TypeVar

import requests

from hub.app import audit
from hub.app.db import Database
from hub.app.settings import load_settings
from hub.http.auth import create_token as new_token
from hub.policy.load import load_policy

T = TypeVar("T")

MIHUB = (sys.executable, "-m", "hub.cli")


class WaitTimeout(TimeoutError):
    """`wait_for` ran out of time; the message says what it waited for."""


class ProcessExited(RuntimeError):
    """A child process ended while something was waiting on it; the message ends with its output."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now (the OS picks it)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_for(
    predicate: Callable[[], T],
    *,
    timeout: float = 30.0,
    interval: float = 0.2,
    what: str = "the condition",
) -> T:
    """Call `predicate` every `interval` seconds until it returns something true, and return
    that; raise WaitTimeout naming `what` after `timeout` seconds. Exceptions propagate."""
    deadline = time.monotonic() + timeout
    while True:
        found = predicate()
        if found:
            return found
        if time.monotonic() >= deadline:
            raise WaitTimeout(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


def probe_health(base: str, *, session: requests.Session | None = None) -> dict | None:
    """One GET {base}/healthz: its JSON when the hub answers 200, None otherwise (not yet
    listening, workers still starting, or a check failing)."""
    try:
        r = (session or requests).get(f"{base}/healthz", timeout=2)
    except requests.RequestException:
        return None
    return r.json() if r.status_code == 200 else None


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something accepts TCP connections on host:port."""
    try:
        socket.create_connection((host, port), 1).close()
        return True
    except OSError:
        return False


class Child:
    """One child process. Its output goes to a file, never to a pipe nobody reads (a full
    pipe would block the child): `log` when given, else a temporary file, or nowhere with
    `quiet`. `stop()` sends SIGINT (the hub's clean stop), then kills after `timeout`."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | Path | None = None,
        log: str | Path | None = None,
        quiet: bool = False,
    ):
        self.argv = list(argv)
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self.log = Path(log) if log else None
        self.quiet = quiet
        self.proc: subprocess.Popen | None = None
        self._out: IO[bytes] | None = None
        self._final = ""

    def start(self) -> Child:
        if self.quiet:
            out = subprocess.DEVNULL
        else:
            self._out = open(self.log, "w+b") if self.log else tempfile.TemporaryFile()  # noqa: SIM115
            out = self._out
        self.proc = subprocess.Popen(
            self.argv, env=self.env, cwd=self.cwd, stdout=out, stderr=subprocess.STDOUT
        )
        return self

    @property
    def returncode(self) -> int | None:
        return self.proc.poll()

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def output(self) -> str:
        """Everything the child wrote so far (stdout and stderr)."""
        if self._out is None or self._out.closed:
            return self._final
        # pread leaves the offset the child shares with us where the child left it
        fd = self._out.fileno()
        return os.pread(fd, os.fstat(fd).st_size, 0).decode(errors="replace")

    def check_alive(self) -> None:
        """Raise ProcessExited, with the last of the output, if the child has ended."""
        if self.proc.poll() is not None:
            tail = "\n".join(self.output.strip().splitlines()[-40:])
            raise ProcessExited(
                f"{' '.join(self.argv[1:])} exited with status {self.proc.returncode}:\n{tail}"
            )

    def send_signal(self, sig: int) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the child to end by itself; its exit status."""
        return self.proc.wait(timeout=timeout)

    def kill(self, timeout: float = 10) -> int:
        """SIGKILL, no clean stop; the exit status."""
        self.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=timeout)
        return self._ended()

    def stop(self, sig: int = signal.SIGINT, timeout: float = 60) -> int:
        """Send `sig` and wait up to `timeout` seconds, then kill; the exit status."""
        self.send_signal(sig)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        return self._ended()

    def _ended(self) -> int:
        if self._out is not None and not self._out.closed:
            self._final = self.output
            self._out.close()
        return self.proc.returncode

    def __enter__(self) -> Child:
        return self.start() if self.proc is None else self

    def __exit__(self, *exc) -> None:
        self.stop()


def start_mihub(
    *args: str,
    env: Mapping[str, str] | None = None,
    cwd: str | Path | None = None,
    log: str | Path | None = None,
    quiet: bool = False,
) -> Child:
    """`mihub <args>` as a child process, already started."""
    return Child([*MIHUB, *args], env=env, cwd=cwd, log=log, quiet=quiet).start()


def run_mihub(
    *args: str, env: Mapping[str, str] | None = None, cwd: str | Path | None = None
) -> str:
    """`mihub <args>` run to its end; its standard output (CalledProcessError if it fails)."""
    return subprocess.run(
        [*MIHUB, *args], env=env, cwd=cwd, capture_output=True, text=True, check=True
    ).stdout


def create_token(person: str, *, env: Mapping[str, str], cwd: str | Path | None = None) -> str:
    """A live API token for `person` in the hub that `env` (HUB_* settings, relative paths
    from `cwd`) describes, made in this process by what `mihub token create` runs (the
    command itself is tested in tests/cli; a process of its own costs seconds of CPU)."""
    env = dict(env)
    for name in ("HUB_DATA_DIR", "HUB_POLICY"):
        if env.get(name) and not Path(env[name]).is_absolute():
            env[name] = str(Path(cwd or os.getcwd()) / env[name])
    settings = load_settings(env)
    policy = load_policy(settings.path("HUB_POLICY"), env, log_warnings=False)
    db = Database(settings.database_url)
    where = audit.source.set("cli")  # recorded as the command records it
    try:
        with db.session() as session:
            return new_token(session, policy, person, "", actor="test harness (command line)")
    finally:
        audit.source.reset(where)
        db.close()


def wait_healthy(
    base: str,
    child: Child | None = None,
    *,
    timeout: float = 90.0,
    interval: float = 0.2,
    session: requests.Session | None = None,
) -> dict:
    """Poll {base}/healthz until it answers 200 and return its JSON; ProcessExited at once if
    `child` ends first, WaitTimeout after `timeout` seconds."""

    def ready():
        if child is not None:
            child.check_alive()
        return probe_health(base, session=session)

    return wait_for(ready, timeout=timeout, interval=interval, what=f"{base}/healthz to answer 200")


def wait_listening(
    port: int, child: Child | None = None, *, host: str = "127.0.0.1", timeout: float = 60.0
) -> None:
    """Wait until host:port accepts TCP connections; ProcessExited at once if `child` ends."""

    def ready():
        if child is not None:
            child.check_alive()
        return port_open(port, host)

    wait_for(ready, timeout=timeout, what=f"{host}:{port} to accept connections")


def hub_env(
    data_dir: str | Path, policy: str | Path, backend: Mapping[str, str], **extra: str
) -> tuple[dict[str, str], str]:
    """The environment of a `mihub run` on free local ports over `backend` (its database and
    queue URLs) with `policy`, plus `extra` settings; and the web's base URL."""
    port = free_port()
    env = dict(
        os.environ,
        HUB_DATA_DIR=str(data_dir),
        HUB_HTTP=f"127.0.0.1:{port}",
        HUB_SMTP_LISTEN=f"127.0.0.1:{free_port()}",
        HUB_POLICY=str(policy),
        HUB_DATABASE_URL=backend["database_url"],
        HUB_QUEUE_URL=backend["queue_url"],
        **extra,
    )
    return env, f"http://127.0.0.1:{port}"
