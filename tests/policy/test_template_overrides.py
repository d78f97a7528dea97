"""Stakeholder texts overridden from the policy directory: checked at load (file and line of
what is wrong), sandboxed, used when rendering and in the update preview, reloaded with the
policy (a broken edit keeps the last good ones)."""

from __future__ import annotations

import os
import shutil

import pytest
from click.testing import CliRunner

from hub.app.templates import EXAMPLE_POLICY
from hub.channels.registry import load_channels
from hub.policy.load import PolicyError, load_policy
from hub.policy.templates import active

load_channels()  # the channels register their template kinds

GOOD_TEXT = """{{ reply_marker }}

NORTHWIND NOTICE for {{ incident.id }}: {{ update.text if update else "no news" }}
Next: {{ next_update_at_local or "later" }}
"""
GOOD_CARD = """{%- extends "_base.json.j2" -%}
{%- import "_macros.j2" as m -%}
{% block body -%}
{{ m.text("Northwind card: " ~ (update.text|md_escape if update else "none")) }}
{%- endblock %}
"""
GOOD_STATUS = "Northwind status: {{ update.text }}\n"


def policy_dir(tmp_path, files: dict[str, str]):
    folder = tmp_path / "pol"
    folder.mkdir()
    shutil.copy(EXAMPLE_POLICY, folder / "policy.yaml")
    for rel, text in files.items():
        path = folder / "templates" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return folder / "policy.yaml"


@pytest.mark.parametrize(
    ("rel", "text", "line", "says"),
    [
        ("email/stakeholder-update/body.txt", "{{ reply_marker }}\n\n{% if update %}\n{{ x", 4,
         "syntax error"),
        ("email/stakeholder-update/body.html", "<p>{{ incident.title }}</p>\n<p>{{ updaet.text }}</p>",
         2, "unknown variable 'updaet'"),
        ("teams/stakeholder-update.json.j2", '{\n"type": "AdaptiveCard",\n{{ incident.title|nofilter }}}',
         3, "nofilter"),
        ("status/update.md.j2", "Fine\n\n{{ incident.nope.deeper }}", 3, "has no attribute 'nope'"),
        ("status/update.md.j2", "{{ incident.__class__.__mro__ }}", 1, "__class__"),
        ("teams/no-change-update.json.j2", '{"type": {{ incident.title }}}', None, "not JSON"),
    ],
)  # fmt: skip
def test_a_bad_override_is_refused_at_load_naming_the_file_and_line(
    tmp_path, rel, text, line, says
):
    path = policy_dir(tmp_path, {rel: text})
    with pytest.raises(PolicyError) as caught:
        load_policy(path, env={}, log_warnings=False)
    (problem,) = caught.value.problems
    assert problem.file == str(path.parent / "templates" / rel)
    assert problem.line == line
    assert says in problem.message
    assert f"{problem.file}:{line}:" in str(caught.value) if line else True


def test_policy_check_names_the_file_and_line(tmp_path, monkeypatch):
    from hub.cli import main

    path = policy_dir(tmp_path, {"email/no-change-update/subject.txt": "[{{ incident.id }\n"})
    monkeypatch.setenv("HUB_DATA_DIR", str(tmp_path / "var"))
    result = CliRunner().invoke(main, ["policy", "check", str(path)])
    assert result.exit_code != 0
    where = f"{path.parent}/templates/email/no-change-update/subject.txt:1:"
    assert where in result.output and "template syntax error" in result.output
    assert "Traceback" not in result.output


def test_good_overrides_render_in_every_channel_and_the_preview(tmp_path, backend):
    from hub.app.models import Incident
    from hub.web.preview import update_preview
    from tests.conftest import build_hub
    from tests.workflow_kit import T0, declare, minutes, notes

    path = policy_dir(
        tmp_path,
        {
            "email/stakeholder-update/body.txt": GOOD_TEXT,
            "teams/stakeholder-update.json.j2": GOOD_CARD,
            "status/update.md.j2": GOOD_STATUS,
            "teams/unrelated.txt": "ignored, with a warning",
        },
    )
    policy = load_policy(path, env={"TEAMS_IT_WEBHOOK": "https://hooks.example.test/it"})
    hub = build_hub(backend, policy, HUB_POLICY=str(path))
    try:
        iid = declare(hub)
        with hub.db.session(write=False) as session:
            incident = session.get(Incident, iid)
            preview = update_preview(
                hub.settings, policy, incident, "Rolling <b>back</b>", "anna", T0 + minutes(5)
            )
        assert preview.problem is None
        mail, card = preview.channels[0], preview.channels[1]
        assert "NORTHWIND NOTICE for INC-" in mail.text and "Rolling <b>back</b>" in mail.text
        assert "Northwind card: Rolling" in card.card and "<b>back" not in card.card
        assert preview.status_text == "Northwind status: Rolling <b>back</b>"

        from hub.incidents import operations as ops
        from tests.workflow_kit import act

        act(hub, iid, ops.post_update, "Fixed the DNS", actor="chloe", now=T0 + minutes(6))
        sent = notes(hub, iid, template="stakeholder-update")
        texts = [r.payload.get("text") for r in sent if r.channel == "email"]
        assert texts and all("NORTHWIND NOTICE" in t and "Fixed the DNS" in t for t in texts)
        cards = [r.payload["envelope"] for r in sent if r.channel == "teams"]
        assert cards and all("Northwind card: Fixed the DNS" in str(c) for c in cards)
        # the no-change update was not overridden: the hub's own
        assert active(path).names("email") == {"stakeholder-update/body.txt"}
    finally:
        hub.db.dispose()


def test_a_broken_edit_keeps_the_last_good_templates(tmp_path):
    from hub.app.context import PolicyHolder

    path = policy_dir(tmp_path, {"status/update.md.j2": GOOD_STATUS})
    holder = PolicyHolder(path, check_every=0)
    holder.reload(strict=True)
    assert active(path).sources["status"]["update.md.j2"][0] == GOOD_STATUS
    broken = path.parent / "templates" / "status" / "update.md.j2"
    broken.write_text("{{ update.text ")
    stat = broken.stat()
    os.utime(broken, (stat.st_atime, stat.st_mtime + 5))
    assert holder.current is not None  # the reload failed, the last good policy stays
    assert "template syntax error" in holder.last_error
    assert active(path).sources["status"]["update.md.j2"][0] == GOOD_STATUS
