"""Properties of dedupe by identity over generated label sets: two fingerprints are never
merged (whatever their labels and summaries), one fingerprint is never split (whatever its
labels do between sends), and every receipt is counted on its alert."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from hub.app.models import Alert, AlertGroup
from hub.intake.alerts import ingest
from tests.alerts_kit import am_alert, am_group

T0 = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)
label_values = st.sampled_from(["a", "b", "prod", "website", "payroll", "", "x y", "ünï"])
label_sets = st.dictionaries(
    st.sampled_from(["instance", "job", "service", "severity", "env", "pod"]),
    label_values,
    max_size=4,
)
alerts = st.tuples(
    st.sampled_from(["f1", "f2", "f3", "f4", "f5"]),  # few fingerprints: many repeats
    label_sets,
    st.sampled_from(["Disk full", "Disk full", "High latency"]),  # shared summaries
    st.sampled_from(["firing", "resolved"]),
)
sends = st.lists(
    st.tuples(
        st.sampled_from(["g1", "g2"]),
        st.sampled_from(["team-a", "team-b"]),  # receivers
        st.lists(alerts, min_size=1, max_size=6),
    ),
    min_size=1,
    max_size=8,
)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(sends=sends)
def test_dedupe_never_merges_and_never_splits(hub, sends):
    name = f"am-{uuid.uuid4().hex[:12]}"  # this example's own source: examples share the db
    expected: Counter = Counter()
    for n, (group, receiver, items) in enumerate(sends):
        body = am_group(
            group,
            [am_alert(fp, summary, status, **{"alertname": "A", **labels})
             for fp, labels, summary, status in items],
            receiver=receiver,
        )  # fmt: skip
        with hub.transaction() as session:
            ident = ingest.store(session, "alertmanager", name, json.dumps(body).encode(), T0)
        result = ingest.process(hub, ident, T0 + timedelta(seconds=n))
        assert result.status == "processed", result
        for fp in {fp for fp, *_ in items}:  # one alert twice in a payload is one receipt
            expected[(receiver, fp)] += 1
    with hub.db.session(write=False) as session:
        rows = session.execute(
            select(Alert.identity, Alert.fingerprint, Alert.receipts)
            .join(AlertGroup, AlertGroup.id == Alert.group_id)
            .where(AlertGroup.source_name == name)
        ).all()
    found = {
        (identity.split("|")[2], fingerprint): receipts for identity, fingerprint, receipts in rows
    }
    assert len(rows) == len(found)  # no identity twice: never split
    assert found == dict(expected)  # one row per (receiver, fingerprint): never merged
