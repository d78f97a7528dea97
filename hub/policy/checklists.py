"""The checklists section (each role's tasks) and a service's runbook, read into the model.

```yaml
checklists:
  major_incident_manager:
    - {task: "Open the bridge and confirm who is on it", within: 5m}
    - {task: "Agree the first stakeholder update", within: 15m, severities: [SEV1]}
services:
  payroll: {runbook: {url: "https://wiki.example.com/payroll", steps: ["Check the ADP feed"]}}
```
"""

from __future__ import annotations

from yaml.nodes import Node

from hub.policy.checks import Reader, join
from hub.policy.model import ROLE_NAMES, ChecklistItem, Runbook

ITEM_KEYS = ("task", "within", "severities")


def read_checklists(
    r: Reader, node: Node | None, known: dict
) -> dict[str, tuple[ChecklistItem, ...]]:
    """Each role's checklist; an unknown role or a malformed item is a problem at its line."""
    roles = r.mapping(node, "checklists", ROLE_NAMES, what="role")
    out = {}
    for role, value in (roles or {}).items():
        items = []
        for i, item in enumerate(r.seq(value, f"checklists.{role}") or []):
            field = join(f"checklists.{role}", i)
            if r.is_text(item):  # a bare string: a task with no deadline
                items.append(ChecklistItem(task=r.string(item, field) or ""))
                continue
            f = r.mapping(item, field, ITEM_KEYS, required=("task",))
            if f is None:
                continue
            task = r.string(f.get("task"), f"{field}.task")
            within = r.duration(f.get("within"), f"{field}.within")
            severities = r.refs(
                f.get("severities"), f"{field}.severities", known["severities"], "severity"
            )
            if task:
                items.append(ChecklistItem(task=task, within=within, severities=severities))
        out[role] = tuple(i for i in items if i.task)
    return out


def read_runbook(r: Reader, node: Node | None, field: str) -> Runbook | None:
    """A service's runbook: a link and steps for its Technical Lead."""
    if node is None:
        return None
    f = r.mapping(node, field, ("url", "steps"))
    if f is None:
        return None
    url = r.url(f.get("url"), f"{field}.url", "the runbook has no link", secret=False)
    steps = r.strings(f.get("steps"), f"{field}.steps")
    if url is None and not steps:
        r.problem(node, field, "a runbook needs a url or steps")
        return None
    return Runbook(url=url, steps=steps)
