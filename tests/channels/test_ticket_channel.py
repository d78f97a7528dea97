"""The ticket channel: how a ticket system's answers map to sent / retry / failed, what is signed,
and that the channel notifies nobody (not a policy's `via:`). Real HTTP to the local fake."""

from __future__ import annotations

import pytest

from hub.app.settings import load_settings
from hub.channels import registry
from hub.channels.base import PermanentError, TransientError
from hub.channels.ticket import TicketTransport, body_of, sign
from hub.policy.load import PolicyError, load_policy
from hub.testing.fakes.ticket import HOOK, FakeTicketSystem
from tests.conftest import EXAMPLE_POLICY

pytestmark = pytest.mark.usefixtures("no_internet")

SECRET = "s3cret"
MESSAGE = {
    "delivery": "export:7:1",
    "document": {
        "event": "action_item.export",
        "action_item": {"id": 7, "title": "Zoë's <b>fix</b>"},
        "callback": {"url": "http://127.0.0.1:9/api/v1/action-items/7", "method": "PATCH"},
    },
}


@pytest.fixture
def fake():
    with FakeTicketSystem(SECRET) as server:
        yield server


def _transport(url, secret=SECRET) -> TicketTransport:
    env = {"HUB_TICKET_WEBHOOK_URL": url}
    if secret:
        env["HUB_TICKET_WEBHOOK_SECRET"] = secret
    return TicketTransport(load_settings(env=env))


def test_a_signed_export_is_sent_and_names_the_ticket(fake):
    sent = _transport(fake.hook_url).send(MESSAGE)
    assert sent.provider_id == f"{fake.url}/tickets/TCK-1" and sent.detail == "201 Created"
    (request,) = fake.recorder.requests(HOOK)
    assert request.body == body_of(MESSAGE["document"])
    assert request.headers["x-mihub-signature"] == sign(SECRET, request.body)
    assert request.json()["action_item"]["title"] == "Zoë's <b>fix</b>"  # JSON, as written
    # the same delivery again: the ticket system answers with the same ticket
    assert _transport(fake.hook_url).send(MESSAGE).provider_id.endswith("/tickets/TCK-1")
    assert len(fake.tickets) == 1


@pytest.mark.parametrize("status", [429, 500, 502, 503, 408])
def test_throttling_and_server_errors_are_retried_honouring_retry_after(fake, status):
    fake.fail_next(HOOK, status, retry_after=7)
    with pytest.raises(TransientError) as caught:
        _transport(fake.hook_url).send(MESSAGE)
    assert str(status) in str(caught.value) and caught.value.retry_after == 7


@pytest.mark.parametrize("status", [400, 404, 410, 422, 302])
def test_other_answers_fail_with_the_reason(fake, status):
    fake.fail_next(HOOK, status, body={"error": "project MIHUB is archived"})
    with pytest.raises(PermanentError, match=f"answered {status}.*project MIHUB is archived"):
        _transport(fake.hook_url).send(MESSAGE)


def test_a_wrong_secret_is_refused_by_the_ticket_system(fake):
    with pytest.raises(PermanentError, match="401.*bad signature"):
        _transport(fake.hook_url, secret="other").send(MESSAGE)
    assert fake.tickets == {} and fake.rejected == ["bad signature"]


def test_a_ticket_system_that_is_down_is_retried(fake):
    url = fake.hook_url
    fake.stop()
    with pytest.raises(TransientError, match="cannot connect"):
        _transport(url).send(MESSAGE)


def test_unset_or_plain_http_elsewhere_is_refused_before_any_request():
    with pytest.raises(PermanentError, match="export to a ticket system is off"):
        _transport("https://tickets.example.test/hook", secret=None).send(MESSAGE)
    with pytest.raises(PermanentError, match="needs https"):
        _transport("http://tickets.example.test/hook?key=abc").send(MESSAGE)


def test_the_channel_delivers_rows_but_notifies_nobody(tmp_path):
    channel = registry.for_kind("ticket")
    assert channel.name == "ticket" and not channel.notifies
    assert "ticket" not in registry.channel_names()
    assert channel not in registry.channels()  # not in previews, pages or the sinks page
    text = EXAMPLE_POLICY.read_text(encoding="utf-8")
    first_step = "role:communications_owner], via: [teams, email]}"
    path = tmp_path / "policy.yaml"
    path.write_text(text.replace(first_step, "role:communications_owner], via: [ticket]}"))
    with pytest.raises(PolicyError, match="ticket"):
        load_policy(path)
