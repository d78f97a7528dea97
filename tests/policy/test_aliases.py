"""`mihub policy check` warns about aliases that read reports badly, naming services and lines."""

from __future__ import annotations

from hub.policy.load import check_policy_text
from tests.policy.test_policy import EXAMPLE


def test_overlapping_and_everyday_aliases_are_warned_about_with_both_services_and_lines():
    text = EXAMPLE.read_text(encoding="utf-8").replace(
        "\n  identity:\n",
        "\n  hr-portal:\n    name: HR portal\n    aliases: [hr portal, workday]\n  identity:\n",
    )
    lines = text.splitlines()
    portal_line = next(i for i, line in enumerate(lines, 1) if "aliases: [portal," in line)
    hr_line = next(i for i, line in enumerate(lines, 1) if "aliases: [hr portal" in line)
    policy, problems, warnings = check_policy_text(text, env={})
    assert problems == [] and "hr-portal" in policy.services
    overlap = [w for w in warnings if "is part of" in w]
    assert overlap == [
        f"<string>:{portal_line}: services.customer-portal.aliases[0]: alias 'portal' of "
        f"customer-portal is part of 'hr portal' of hr-portal (line {hr_line}): a report naming "
        "'hr portal' is read as hr-portal, the longer name, but 'portal' alone still means "
        "customer-portal; make them distinct"
    ], warnings
    everyday = {w.split("alias ")[1].split(" is an")[0] for w in warnings if "everyday" in w}
    assert {"'mail' of email", "'sap' of erp", "'orders' of erp"} <= everyday, everyday
    assert all("'workday'" not in w and "'globalprotect'" not in w for w in warnings)
