"""`mihub status build`: the static copy, with relative links, feeds that parse, no internal
text in the public variant; one-line errors."""

from __future__ import annotations

import feedparser
from click.testing import CliRunner

from hub.cli import main
from tests.conftest import EXAMPLE_POLICY
from tests.status.test_status_page import SECRET, atom_structure, update
from tests.web.test_web_pages import declare


def test_status_build_writes_a_copy_for_any_web_server(hub, backend, tmp_path, monkeypatch):
    ref = declare(hub, f"Portal down {SECRET}", ("customer-portal",), "outage")
    update(hub, ref, f"Internal {SECRET}", public_text="We are restoring the portal <b>now</b>")
    for name, value in {
        "HUB_DATA_DIR": str(backend["data_dir"]),
        "HUB_DATABASE_URL": backend["database_url"],
        "HUB_QUEUE_URL": backend["queue_url"],
        "HUB_POLICY": str(EXAMPLE_POLICY),
        "HUB_BASE_URL": "https://status.example.test",
    }.items():
        monkeypatch.setenv(name, value)
    out = tmp_path / "site"
    result = CliRunner().invoke(main, ["status", "build", "--out", str(out)])
    assert result.exit_code == 0, result.output
    html = (out / "index.html").read_text()
    assert 'href="status.css"' in html and 'href="services/customer-portal.atom"' in html
    assert "We are restoring the portal &lt;b&gt;now&lt;/b&gt;" in html
    assert SECRET not in html and "payroll" not in html.lower()
    assert (out / "status.css").stat().st_size > 1000
    feed = feedparser.parse((out / "services" / "customer-portal.atom").read_text())
    assert not feed.bozo and feed.entries
    assert feed.feed.link == "https://status.example.test/status"
    links, _ = atom_structure((out / "services" / "customer-portal.atom").read_text())
    assert links["self"] == "https://status.example.test/status/services/customer-portal.atom"
    assert not (out / "services" / "payroll.atom").exists()  # not a public service
    served = tmp_path / "served"  # the README's example: a host of its own named status.…
    url = "https://status.example.com"
    result = CliRunner().invoke(main, ["status", "build", "--out", str(served), "--url", url])
    assert result.exit_code == 0, result.output
    feed = feedparser.parse((served / "feed.atom").read_text())
    assert feed.feed.link == url and feed.feed.id.startswith(f"{url}/")
    assert atom_structure((served / "feed.atom").read_text())[0]["self"] == f"{url}/feed.atom"
    assert all(e.id.startswith(f"{url}/") for e in feed.entries) and feed.entries
    internal = tmp_path / "internal"
    result = CliRunner().invoke(main, ["status", "build", "--internal", "--out", str(internal)])
    assert result.exit_code == 0, result.output
    assert SECRET in (internal / "index.html").read_text()
    blocked = tmp_path / "file"
    blocked.write_text("")
    result = CliRunner().invoke(main, ["status", "build", "--out", str(blocked)])
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert result.output.splitlines()[-1].endswith("is a file.")
