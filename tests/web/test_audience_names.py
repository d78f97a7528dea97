"""Audiences are shown by the policy's `name:` for them (the example names `it-staff` "IT
staff"), else by their key in words: in the API's delivery summary, the room, the recipients
page, the update preview and the policy page."""

from __future__ import annotations

from tests.web_kit import payroll_outage_with_update, post, sign_in, text_of


def test_an_audience_is_shown_by_its_name(client, hub, api_caller):
    assert hub.policy.audiences["it-staff"].name == "IT staff"
    api = api_caller(client)
    ref = payroll_outage_with_update(api)
    _, doc = api("GET", f"/api/v1/incidents/{ref}")
    (update,) = [e for e in doc["deliveries"] if e["template"] == "stakeholder-update"]
    labels = {a["audience"]: a["label"] for a in update["audiences"]}
    assert labels["it-staff"] == "IT staff"  # its name:
    assert labels["service-desk"] == "Service desk"  # no name: the key in words

    sign_in(client, hub, "anna")
    room = text_of(client.get(f"/incidents/{ref}"))
    assert "IT staff" in room and "It staff" not in room
    recipients = text_of(client.get(f"/incidents/{ref}/deliveries?audience=it-staff"))
    assert "IT staff" in recipients and "it-staff" not in recipients.replace("it-staff@", "")
    preview = text_of(post(client, f"/incidents/{ref}/updates/preview", {"text": "Next"}))
    assert "IT staff" in preview and "it-staff" not in preview
    page = text_of(client.get("/ops/policy"))
    assert "Updates go to Executives, IT staff, Service desk, All staff" in page
