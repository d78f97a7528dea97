"""Checklists end to end, on each backend: a SEV1 on a service with a runbook gives each role
its list (API, page email, room); a task ticked in Teams shows ticked in the room; another
role's task is refused with the reason; a late task is reminded once; the review lists them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from web_kit import sign_in, text_of
from workflow_kit import fire_due, notes

from hub.app.db import utcnow
from hub.http.auth import create_token
from hub.reviews.publish.jobs import open_review_now
from tests.intake.teams.test_teams_intake import activity, make_hub, post_teams


@pytest.fixture
def thub(backend, example_policy):
    hub = make_hub(backend, example_policy)
    yield hub
    hub.db.dispose()


@pytest.fixture
def client(thub):
    from hub import create_app

    return create_app({"TESTING": True}, hub=thub).test_client()


@pytest.fixture
def call(thub, client):
    tokens: dict[str, str] = {}

    def call(method, path, person="anna", json=None):
        if person not in tokens:
            with thub.db.session() as session:
                tokens[person] = create_token(session, thub.policy, person, "test")
        r = client.open(
            path, method=method, json=json, headers={"Authorization": f"Bearer {tokens[person]}"}
        )
        return r.status_code, r.get_json()

    return call


def say(client, policy, text, who):
    r = post_teams(client, activity(policy, text, who))
    assert r.status_code == 200, r.get_json()
    return r.get_json()["text"]


def room_task(client, ref: str, n: int) -> str:
    """The class of task n's line in the room ("task done", "task late", "task open")."""
    html = client.get(f"/incidents/{ref}").get_data(as_text=True)
    start = html.index(f'data-task="{n}"')
    line = html[html.rindex("<li", 0, start) : start]
    return line.split('class="')[1].split('"')[0]


def test_sev1_checklists_end_to_end(thub, client, call, example_policy, monkeypatch):
    status, doc = call(
        "POST",
        "/api/v1/incidents",
        "ivan",
        {"title": "Payroll is down", "services": ["payroll"], "impact": "outage"},
    )
    assert status == 201 and doc["severity"] == "SEV1", doc
    ref, iid, declared = doc["id"], int(doc["id"][4:]), utcnow()

    # each role its list: the policy's checklists (the SEV1-only task included), and the
    # payroll runbook's steps with its link on the Technical Lead's
    status, doc = call("GET", f"/api/v1/incidents/{ref}/tasks")
    assert status == 200
    by_role = {}
    for t in doc["tasks"]:
        by_role.setdefault(t["role"], []).append(t)
    assert [t["text"] for t in by_role["major_incident_manager"]] == [
        "Open the bridge and confirm who is on it",
        "Agree the first stakeholder update with the Communications Owner",
    ]
    tech = by_role["tech_lead"]
    assert [t["source"] for t in tech] == ["checklist", "runbook", "runbook"]
    assert tech[1]["text"].startswith("Payroll: Check the ADP interface job")
    assert tech[1]["url"] == "https://wiki.northwind.example/runbooks/payroll"
    assert [t["text"] for t in by_role["communications_owner"]] == [
        "Send the first stakeholder update"
    ]
    assert [t["n"] for t in doc["tasks"]] == list(range(1, len(doc["tasks"]) + 1))
    assert not any(t["done"] or t["late"] for t in doc["tasks"])
    n_tech, n_mim, n_comms = tech[0]["n"], 1, by_role["communications_owner"][0]["n"]

    # the page email carries the role's list and the link to it
    pages = notes(thub, iid, template="page", channel="email")
    mim_page = next(p for p in pages if p.recipient == "anna.schmidt@northwind.example")
    body = mim_page.payload["text"] if "text" in mim_page.payload else str(mim_page.payload)
    assert "YOUR CHECKLIST" in body and "Open the bridge and confirm who is on it" in body
    assert f"/incidents/{ref}#tasks" in body
    tl_page = next(p for p in pages if p.recipient == "elif.yilmaz@northwind.example")
    assert "Payroll: Check the ADP interface job" in str(tl_page.payload)

    # the room shows them; a tick in Teams by the tech lead shows ticked in the room
    sign_in(client, thub, "anna")
    assert room_task(client, ref, n_tech) == "task open"
    reply = say(client, example_policy, f"done {ref} {n_tech} hypothesis: ADP cert expired", "elif")
    assert f"Task {n_tech}" in reply and "done" in reply
    assert (
        room_task(client, ref, n_tech) == "task done"
    )  # on the room's next read (speed: bench/live_bench.py)
    assert "hypothesis: ADP cert expired" in text_of(client.get(f"/incidents/{ref}"))

    # another role's task: refused, saying whose it is, in Teams and over the API
    reply = say(client, example_policy, f"done {ref} {n_tech}", "chloe")
    assert "⛔" in reply and "Technical Lead" in reply
    status, doc = call("POST", f"/api/v1/incidents/{ref}/tasks/{n_tech}", "chloe", {"done": True})
    assert status == 403
    assert doc["error"]["message"] == (
        f"task {n_tech} of {ref} is the Technical Lead's; chloe does not hold that role, so "
        "only the Technical Lead (or a policy admin) may tick it"
    )
    status, doc = call(
        "POST", f"/api/v1/incidents/{ref}/tasks/{n_comms}", "chloe", {"note": "sent"}
    )
    assert status == 200 and doc["done"] and doc["done_by"] == "chloe"

    # late: the MIM's 5-minute task is reminded once, however often the worker looks
    for minutes in (6, 7, 9):
        fire_due(thub, declared + timedelta(minutes=minutes))
    late = [r for r in notes(thub, iid, template="task-late") if r.channel == "email"]
    assert [r.recipient for r in late] == ["anna.schmidt@northwind.example"]
    assert "Open the bridge" in str(late[0].payload)
    with monkeypatch.context() as m:  # the room a few minutes later
        m.setattr("hub.web.room.utcnow", lambda: declared + timedelta(minutes=9))
        assert room_task(client, ref, n_mim) == "task late"
        assert "late: was due" in text_of(client.get(f"/incidents/{ref}"))
    fire_due(thub, declared + timedelta(minutes=30))  # the done ones are never reminded
    late = [r for r in notes(thub, iid, template="task-late") if r.channel == "email"]
    assert len(late) == 2  # task 1 once, task 2 (15m) once; the comms task was done in time
    status, doc = call("GET", f"/api/v1/incidents/{ref}/tasks")
    assert [t["n"] for t in doc["tasks"] if t["reminded_at"]] == [1, 2]

    # the review lists the tasks and their times; the ticks are on its timeline
    status, _ = call("POST", f"/api/v1/incidents/{ref}/tasks/{n_mim}", "anna", {"done": True})
    assert status == 200
    status, doc = call(
        "POST", f"/api/v1/incidents/{ref}/resolve", "anna", {"summary": "cert renewed"}
    )
    assert status == 200, doc
    open_review_now(thub, iid, utcnow())  # the worker's job after the resolution
    status, review = call("GET", f"/api/v1/incidents/{ref}/review", "anna")
    assert status == 200, review
    done = {t["n"]: t for t in review["tasks"] if t["done"]}
    assert set(done) == {n_mim, n_tech, n_comms}
    assert done[n_tech]["done_by"] == "elif" and done[n_tech]["done_at"]
    ticks = [e for e in review["timeline"] if e["kind"] == "task"]
    assert len(ticks) == 3 and any("ADP cert expired" in e["text"] for e in ticks)

    from hub.app.models import Review
    from hub.reviews.publish.pages import render_review

    with thub.db.session(write=False) as session:
        row = session.query(Review).filter_by(incident_id=iid).one()
        page, _svg = render_review(row, thub.policy, [])
    assert "## Checklist" in page and "Post the current hypothesis" in page
    assert "by Elif Yilmaz" in page and "not done" in page
