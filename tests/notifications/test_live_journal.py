"""A live worker cut off from the database: its accepted messages are not sent again.

Its claims run out while it cannot renew them (the database is away for longer than the
lease); the tick of another worker on the same machine reads the live worker's journal and
marks those rows sent before putting expired claims back to pending.
"""

from __future__ import annotations

from datetime import timedelta

from workflow_kit import T0, declare, notes

from hub.app.models import Notification
from hub.notifications import outbox, sent_journal
from hub.ticker import tick


def _row(hub, row_id) -> Notification:
    with hub.db.session(write=False) as session:
        return session.get(Notification, row_id)


def test_tick_marks_a_live_workers_journaled_rows_sent_before_reclaiming(wired):
    iid = declare(wired)
    rows = [r.id for r in notes(wired, iid)[:3]]
    with wired.db.session() as session:
        assert outbox.claim_many(session, rows, T0) == rows  # a worker took three rows…
    journal = sent_journal.SentJournal(wired.settings.data_dir / "journal")  # …and is alive
    try:
        for row_id in rows[:2]:  # two accepted, not yet committed: the database went away
            journal.record(row_id, f"<m{row_id}>", T0)
        wired.enqueued.clear()
        tick(wired, T0 + outbox.LEASE + timedelta(seconds=1))  # its claims ran out meanwhile
        assert [(_row(wired, i).status, _row(wired, i).provider_id) for i in rows[:2]] == [
            ("sent", f"<m{rows[0]}>"),
            ("sent", f"<m{rows[1]}>"),
        ]
        assert _row(wired, rows[2]).status == "pending"  # never accepted: it goes out again
        requeued = {i for name, i in wired.enqueued if name == "deliver"}
        assert rows[2] in requeued and not requeued & set(rows[:2])
        assert journal.path.exists()  # the live owner's file: it commits and empties it itself
    finally:
        journal.close()
