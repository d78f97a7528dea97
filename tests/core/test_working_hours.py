"""The review meeting's slot: the first working-hour slot within the review window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from hub.core.working_hours import first_working_slot

BERLIN = ZoneInfo("Europe/Berlin")


def berlin(*args) -> datetime:
    return datetime(*args, tzinfo=BERLIN).astimezone(UTC)


@pytest.mark.parametrize(
    ("earliest", "window", "expected"),
    [
        (berlin(2026, 3, 3, 10, 10), 48, berlin(2026, 3, 3, 10, 30)),  # Tuesday: next half hour
        (berlin(2026, 3, 3, 16, 10), 48, berlin(2026, 3, 4, 9, 0)),  # too late today
        (berlin(2026, 3, 6, 18, 0), 72, berlin(2026, 3, 9, 9, 0)),  # Friday evening → Monday
        (berlin(2026, 3, 6, 18, 0), 48, None),  # the weekend fills a 48 h window
        (berlin(2026, 3, 27, 17, 30), 72, berlin(2026, 3, 30, 9, 0)),  # across the DST change
    ],
)
def test_first_working_slot(earliest, window, expected):
    assert (
        first_working_slot(earliest, earliest + timedelta(hours=window), "Europe/Berlin")
        == expected
    )


def test_the_slot_ends_inside_the_window():
    earliest = berlin(2026, 3, 3, 9, 0)
    assert first_working_slot(earliest, earliest + timedelta(minutes=59), "Europe/Berlin") is None
    assert first_working_slot(earliest, earliest + timedelta(hours=1), "Europe/Berlin") == earliest
