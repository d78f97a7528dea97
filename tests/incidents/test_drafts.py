"""Approval of stakeholder updates: a drafted update reaches the Communications Owner's card
(Bot Framework fakes), Approve / Edit there send it the normal way, a missed deadline sends
"no change" and keeps the draft, and every draft, edit and approval is recorded."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import select

from hub.app.models import AuditRecord, Notification, UpdateDraft
from hub.app.templates import EXAMPLE_POLICY
from hub.channels.teams.cards import ADAPTIVE, BOT_ACTIONS, card_problems
from hub.incidents import drafts
from hub.policy.load import parse_policy
from tests.intake.teams.test_card_actions import (  # noqa: F401  (fixtures)
    APP_ID,
    bclient,
    bhub,
    botframework,
    deliver_pending,
    personal,
    post,
    say_hello,
    sev2,
    teams,
)
from tests.web_kit import post as form_post
from tests.web_kit import sign_in
from tests.workflow_kit import T0, act, fire_due, minutes, timeline

APPROVED_SEV2 = "    notify: [it-staff, service-desk]\n"


def approving_policy():
    """The example policy with SEV2 updates approved by the Communications Owner."""
    text = EXAMPLE_POLICY.read_text()
    assert text.count(APPROVED_SEV2) == 1
    text = text.replace(
        APPROVED_SEV2, APPROVED_SEV2 + "    approve_updates: communications_owner\n"
    )
    return parse_policy(text, str(EXAMPLE_POLICY), env={})


@pytest.fixture
def ahub(bhub):  # noqa: F811
    bhub.policies._policy = approving_policy()
    return bhub


def press(client, bot, policy, who, url, verb, data):
    value = {"action": {"type": "Action.Execute", "verb": verb, "data": data}, "trigger": "manual"}
    doc = personal(policy, who, url, type="invoke", name="adaptiveCard/action", value=value)
    r = post(client, bot, doc, url)
    assert r.status_code == 200
    return r.get_json()


def api(client, make, method, path, person, body=None):
    return client.open(
        path, method=method, json=body, headers={"Authorization": f"Bearer {make(person)}"}
    )


def token_for(hub):
    from hub.http.auth import create_token

    def make(person):
        with hub.db.session() as session:
            return create_token(session, hub.policy, person, "test")

    return make


def stakeholder_rows(hub, iid, template="stakeholder-update"):
    with hub.db.session(write=False) as s:
        return s.scalars(
            select(Notification).where(
                Notification.incident_id == iid, Notification.template == template
            )
        ).all()


def test_a_drafted_update_reaches_the_comms_owners_card_and_approve_sends_it(
    ahub,
    bclient,  # noqa: F811
    botframework,  # noqa: F811
    teams,  # noqa: F811
):
    policy, url = ahub.policy, teams.url
    say_hello(bclient, botframework, policy, "chloe", url)
    iid = sev2(ahub, T0)
    make = token_for(ahub)
    with ahub.db.session(write=False) as s:
        assert drafts.approvers(policy, s.get(drafts.Incident, iid), "communications_owner") == [
            "chloe"
        ]

    # the Technical Lead posts an update: 202 with the draft, nothing goes to stakeholders
    r = api(bclient, make, "POST", f"/api/v1/incidents/INC-{iid}/updates", "felix",
            {"text": "Failover <b>started</b>; ETA 20 min"})  # fmt: skip
    assert r.status_code == 202, r.get_json()
    draft = r.get_json()["draft"]
    assert draft["state"] == "awaiting" and draft["author"] == "felix"
    assert draft["request"] == {"text": "Failover <b>started</b>; ETA 20 min"}
    assert stakeholder_rows(ahub, iid) == []
    assert [e.kind for e in timeline(ahub, iid, "update")] == []

    deliver_pending(ahub)
    (card,) = [
        d.card
        for d in teams.deliveries("bot", "a:1chat-chloe")
        if d.card and "Approval needed" in json.dumps(d.card, ensure_ascii=False)
    ]
    assert card_problems(card, BOT_ACTIONS) == []
    assert "Failover \\<b\\>started\\</b\\>; ETA 20 min" in [e.get("text") for e in card["body"]]
    verbs = [a.get("verb") for a in card["actions"] if a["type"] == "Action.Execute"]
    assert verbs == ["approve-update", "edit-update"]
    data = next(a["data"] for a in card["actions"] if a.get("verb") == "approve-update")
    assert data == {"incident": f"INC-{iid}", "draft": draft["id"]}

    # someone else presses Approve: refused, still a draft
    say_hello(bclient, botframework, policy, "felix", url)
    answer = press(bclient, botframework, policy, "felix", url, "approve-update", data)
    assert "⛔" in json.dumps(answer["value"], ensure_ascii=False)
    assert stakeholder_rows(ahub, iid) == []

    answer = press(bclient, botframework, policy, "chloe", url, "approve-update", data)
    assert answer["type"] == ADAPTIVE
    assert "Approved" in json.dumps(answer["value"], ensure_ascii=False)
    assert not [a for a in answer["value"]["actions"] if a["type"] == "Action.Execute"]
    (update,) = timeline(ahub, iid, "update")
    assert update.actor == "felix" and update.text == "Failover <b>started</b>; ETA 20 min"
    rows = stakeholder_rows(ahub, iid)
    assert rows and {r.payload["render"]["context"]["update"]["text"] for r in rows} == {
        update.text
    }
    kinds = [e.kind for e in timeline(ahub, iid) if e.kind.startswith("update")]
    assert kinds == ["update-draft", "update-approved", "update"]
    with ahub.db.session(write=False) as s:
        audit = s.scalars(select(AuditRecord).where(AuditRecord.incident_id == iid)).all()
        assert [(a.action, a.actor) for a in audit if a.action.startswith("update")] == [
            ("update-drafted", "felix"),
            ("update-approved", "chloe"),
        ]
        assert s.get(UpdateDraft, draft["id"]).state == "approved"

    # the Communications Owner's own update goes straight out: 200
    r = api(bclient, make, "POST", f"/api/v1/incidents/INC-{iid}/updates", "chloe",
            {"text": "Back to normal soon"})  # fmt: skip
    assert r.status_code == 200 and "draft" not in r.get_json()


def test_edit_on_the_card_then_approve_records_the_edit(ahub, bclient, botframework, teams):  # noqa: F811
    policy, url = ahub.policy, teams.url
    say_hello(bclient, botframework, policy, "chloe", url)
    iid = sev2(ahub, T0)
    draft = act(ahub, iid, drafts.submit_update, {"text": "DB is borked"}, actor="felix", now=T0)
    data = {"incident": f"INC-{iid}", "draft": draft.id}

    editing = press(bclient, botframework, policy, "chloe", url, "edit-update", data)["value"]
    assert card_problems(editing, BOT_ACTIONS) == []
    (box,) = [e for e in editing["body"] if e["type"] == "Input.Text"]
    assert box["id"] == "text" and box["value"] == "DB is borked"
    (button,) = [a for a in editing["actions"] if a["type"] == "Action.Execute"]
    assert button["verb"] == "approve-update"
    assert timeline(ahub, iid, "update-draft-edited") == []  # opening the box changes nothing

    # Teams merges the box into the action's data
    said = "The database is degraded; a fix is being applied."
    press(bclient, botframework, policy, "chloe", url, "approve-update", {**data, "text": said})
    (edited,) = timeline(ahub, iid, "update-draft-edited")
    assert edited.actor == "chloe"
    assert edited.data["before"] == "DB is borked" and edited.data["after"] == said
    (update,) = timeline(ahub, iid, "update")
    assert update.text == said
    with ahub.db.session(write=False) as s:
        (record,) = s.scalars(
            select(AuditRecord).where(AuditRecord.action == "update-draft-edited")
        ).all()
        assert record.before["text"] == "DB is borked" and record.after["text"] == said
        assert s.get(UpdateDraft, draft.id).edits == 1


def test_a_missed_deadline_sends_no_change_and_keeps_the_draft(ahub):
    iid = sev2(ahub, T0)
    act(ahub, iid, drafts.submit_update, {"text": "Working on it"}, actor="felix", now=T0)
    fired = fire_due(ahub, T0 + minutes(61))  # SEV2: an update every 60 minutes
    assert "fired" in [v for k, v in fired.items() if k.startswith("update-due")]
    reminders = stakeholder_rows(ahub, iid, "update-reminder")  # to the Communications Owner
    assert reminders and {r.recipient for r in reminders} == {
        "chloe",
        "chloe.martin@northwind.example",
    }
    assert {r.payload["render"]["context"]["drafts_awaiting"] for r in reminders} == {1}
    rows = stakeholder_rows(ahub, iid, "no-change-update")
    assert rows and {r.payload["render"]["context"]["drafts_awaiting"] for r in rows} == {1}
    (auto,) = timeline(ahub, iid, "update-auto")
    assert "a drafted update is awaiting approval" in auto.text
    assert stakeholder_rows(ahub, iid) == []
    with ahub.db.session(write=False) as s:
        (kept,) = s.scalars(select(UpdateDraft).where(UpdateDraft.incident_id == iid)).all()
        assert kept.state == "awaiting"
        draft_id = kept.id

    # the real templates say so to the stakeholders
    from hub.notifications.notify import materialize

    text = materialize(rows[0].payload, ahub.settings)
    assert "awaiting approval" in json.dumps(text, ensure_ascii=False)

    # approving later still sends it, and restarts the cadence
    def approve(session, policy, incident, *, now):
        draft = drafts.get_draft(session, incident, draft_id)
        return drafts.approve(session, policy, incident, draft, actor="chloe", now=now)

    act(ahub, iid, approve, now=T0 + minutes(70))
    assert stakeholder_rows(ahub, iid)


def test_the_signed_link_and_the_room_approve_a_draft(ahub, bclient):  # noqa: F811
    iid = sev2(ahub, T0)
    request = {"text": "first <script>", "public_text": "Portal slow <b>x</b>"}
    draft = act(ahub, iid, drafts.submit_update, request, actor="felix", now=T0)
    with ahub.db.session(write=False) as s:
        (mail,) = s.scalars(
            select(Notification).where(
                Notification.template == "update-draft", Notification.channel == "email"
            )
        ).all()
    link = mail.payload["render"]["context"]["approve_url"]
    assert mail.payload["render"]["context"]["draft"]["public_text"] == "Portal slow <b>x</b>"
    path = link.removeprefix("https://hub.example.com")
    page = bclient.get(path)
    assert page.status_code == 200 and b"draft-approve" in page.data
    assert b"first &lt;script&gt;" in page.data
    assert b"Public text for the status page" in page.data  # the approver sees what goes public
    assert b"Portal slow &lt;b&gt;x&lt;/b&gt;" in page.data
    bad = bclient.get(path[:-3] + "AAA")
    assert b"draft-approve" not in bad.data and b"not valid" in bad.data
    token = path.rsplit("/", 1)[1]
    done = bclient.post(path, data={"token": token, "text": "edited by link"})
    assert b"Approved" in done.data
    assert timeline(ahub, iid, "update")[0].text == "edited by link"
    again = bclient.post(path, data={"token": token, "text": "once more"})
    assert b"approved by" in again.data and b"Approved</h1>" not in again.data
    assert len(timeline(ahub, iid, "update")) == 1

    # the room: a new draft shows with its form to the Communications Owner only
    act(ahub, iid, drafts.submit_update, {"text": "second"}, actor="felix", now=T0)
    sign_in(bclient, ahub, "felix")
    assert b"approve-draft-" not in bclient.get(f"/incidents/INC-{iid}").data
    sign_in(bclient, ahub, "chloe")
    room = bclient.get(f"/incidents/INC-{iid}").data.decode()
    (draft_id,) = re.findall(r'id="approve-draft-(\d+)"', room)
    assert re.search(r'<textarea id="draft-public-\d+" name="public_text"[^>]*></textarea>', room)
    r = form_post(bclient, f"/incidents/INC-{iid}/drafts/{draft_id}/approve", {"text": "second!"})
    assert r.status_code == 303
    assert [e.text for e in timeline(ahub, iid, "update")] == ["edited by link", "second!"]
    assert draft.id != int(draft_id)


def test_teams_and_email_commands_draft_too(ahub):
    from hub.intake.commands import Command, run_command

    iid = sev2(ahub, T0)
    with ahub.transaction() as session:
        done = run_command(
            session, ahub.policy, Command("update", f"INC-{iid}", "From Teams"), "felix", T0
        )
        assert done.draft is not None and done.draft.request == {"text": "From Teams"}
        direct = run_command(
            session, ahub.policy, Command("update", f"INC-{iid}", "Mine"), "chloe", T0
        )
        assert direct.draft is None
    assert [e.text for e in timeline(ahub, iid, "update")] == ["Mine"]


def test_the_api_lists_and_approves_drafts(ahub, bclient):  # noqa: F811
    iid = sev2(ahub, T0)
    make = token_for(ahub)
    path = f"/api/v1/incidents/INC-{iid}"
    r = api(bclient, make, "POST", f"{path}/updates", "felix", {"text": "Rebooting"})
    draft = r.get_json()["draft"]
    (listed,) = api(bclient, make, "GET", path, "felix").get_json()["drafts"]
    assert listed["id"] == draft["id"] and listed["text"] == "Rebooting"
    approve = f"{path}/drafts/{draft['id']}/approve"
    assert api(bclient, make, "POST", approve, "felix", {}).status_code == 403
    assert api(bclient, make, "POST", f"{path}/drafts/999/approve", "chloe", {}).status_code == 404
    r = api(bclient, make, "POST", approve, "chloe", {"text": "Rebooting the gateway"})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["draft"]["state"] == "approved" and r.get_json()["draft"]["edits"] == 1
    assert api(bclient, make, "POST", approve, "chloe", {}).status_code == 409
    assert api(bclient, make, "GET", path, "felix").get_json()["drafts"] == []
    assert [e.text for e in timeline(ahub, iid, "update")] == ["Rebooting the gateway"]


def test_the_author_or_the_approver_discards_a_draft_in_the_api_and_the_room(ahub, bclient):  # noqa: F811
    iid = sev2(ahub, T0)
    make = token_for(ahub)
    path = f"/api/v1/incidents/INC-{iid}"
    sent_before = len(stakeholder_rows(ahub, iid))
    draft = api(bclient, make, "POST", f"{path}/updates", "felix", {"text": "Oops"}).get_json()
    discard = f"{path}/drafts/{draft['draft']['id']}/discard"
    assert api(bclient, make, "POST", discard, "ivan", {}).status_code == 403
    assert api(bclient, make, "POST", f"{path}/drafts/999/discard", "felix", {}).status_code == 404
    r = api(bclient, make, "POST", discard, "felix", {})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["draft"]["state"] == "discarded"
    assert r.get_json()["draft"]["decided_by"] == "felix"
    assert api(bclient, make, "POST", discard, "chloe", {}).status_code == 409
    approve = f"{path}/drafts/{draft['draft']['id']}/approve"
    assert api(bclient, make, "POST", approve, "chloe", {}).status_code == 409
    assert api(bclient, make, "GET", path, "felix").get_json()["drafts"] == []
    assert timeline(ahub, iid, "update") == []
    assert len(stakeholder_rows(ahub, iid)) == sent_before  # nothing went out
    (entry,) = timeline(ahub, iid, "update-draft-discarded")
    assert "discarded by" in entry.text and entry.actor == "felix"
    with ahub.db.session(write=False) as s:
        (record,) = s.scalars(
            select(AuditRecord).where(AuditRecord.action == "update-draft-discarded")
        ).all()
        assert record.actor == "felix" and record.before == {"text": "Oops"}

    # the room: the author and the approver see Discard, someone else does not
    act(ahub, iid, drafts.submit_update, {"text": "second"}, actor="felix", now=T0)
    sign_in(bclient, ahub, "ivan")
    assert b"discard-draft-" not in bclient.get(f"/incidents/INC-{iid}").data
    sign_in(bclient, ahub, "felix")
    assert b"discard-draft-" in bclient.get(f"/incidents/INC-{iid}").data
    sign_in(bclient, ahub, "chloe")
    room = bclient.get(f"/incidents/INC-{iid}").data.decode()
    (draft_id,) = re.findall(r'id="discard-draft-(\d+)"', room)
    r = form_post(bclient, f"/incidents/INC-{iid}/drafts/{draft_id}/discard", {})
    assert r.status_code == 303
    assert b"discard-draft-" not in bclient.get(f"/incidents/INC-{iid}").data
    assert [e.actor for e in timeline(ahub, iid, "update-draft-discarded")] == ["felix", "chloe"]
    assert timeline(ahub, iid, "update") == []


HOSTILE = "Back <script>alert(1)</script> & soon"


def public_texts(hub, iid) -> list[str | None]:
    return [(e.data or {}).get("public_text") for e in timeline(hub, iid, "update")]


def test_the_approver_edits_the_public_text_too(ahub, bclient):  # noqa: F811
    iid = sev2(ahub, T0)
    ref = f"INC-{iid}"
    # the signed link: the page offers the public text to edit, escaped
    request = {"text": "Rebooting", "public_text": "Portal slow <b>x</b>"}
    act(ahub, iid, drafts.submit_update, request, actor="felix", now=T0)
    with ahub.db.session(write=False) as s:
        (mail,) = s.scalars(
            select(Notification).where(
                Notification.template == "update-draft", Notification.channel == "email"
            )
        ).all()
    path = mail.payload["render"]["context"]["approve_url"].removeprefix("https://hub.example.com")
    page = bclient.get(path).get_data(as_text=True)
    assert re.search(r'name="public_text"[^>]*>Portal slow &lt;b&gt;x&lt;/b&gt;</textarea>', page)
    token = path.rsplit("/", 1)[1]
    done = bclient.post(path, data={"token": token, "text": "Rebooting", "public_text": HOSTILE})
    assert b"Approved" in done.data
    assert public_texts(ahub, iid) == [HOSTILE]
    (edited,) = timeline(ahub, iid, "update-draft-edited")
    assert (edited.data["public_before"], edited.data["public_after"]) == (
        "Portal slow <b>x</b>", HOSTILE,
    )  # fmt: skip
    sign_in(bclient, ahub, "chloe")
    status = bclient.get("/status/public").get_data(as_text=True)
    assert "Back &lt;script&gt;alert(1)&lt;/script&gt; &amp; soon" in status
    assert "<script>alert(1)" not in status
    room = bclient.get(f"/incidents/{ref}").get_data(as_text=True)
    assert "<script>alert(1)" not in room

    # the room: the approver's form sets a public text the draft did not have
    act(ahub, iid, drafts.submit_update, {"text": "Second"}, actor="felix", now=T0)
    room = bclient.get(f"/incidents/{ref}").get_data(as_text=True)
    (draft_id,) = re.findall(r'id="approve-draft-(\d+)"', room)
    approve = f"/incidents/{ref}/drafts/{draft_id}/approve"
    assert (
        form_post(bclient, approve, {"text": "Second", "public_text": "Fixed"}).status_code == 303
    )
    assert public_texts(ahub, iid) == [HOSTILE, "Fixed"]

    # the API: public_text set, or emptied (not on the public page), or left as it was
    make = token_for(ahub)
    api_path = f"/api/v1/incidents/{ref}"
    for given, kept in [({"public_text": ""}, None), ({}, "Third, public"),
                        ({"public_text": "  Third <i>  "}, "Third <i>")]:  # fmt: skip
        body = {"text": "Third", "public_text": "Third, public"}
        draft = api(bclient, make, "POST", f"{api_path}/updates", "felix", body).get_json()["draft"]
        r = api(bclient, make, "POST", f"{api_path}/drafts/{draft['id']}/approve", "chloe", given)
        assert r.status_code == 200, r.get_json()
        assert r.get_json()["draft"]["request"].get("public_text") == kept
        assert public_texts(ahub, iid)[-1] == kept
