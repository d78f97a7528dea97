"""Repeated log lines: once per interval with a count; an outage's traceback is one line."""

from __future__ import annotations

import logging

from hub.app.quietlog import RepeatFilter, RepeatLog


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def _records(logger, handler):
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    return logger


class Keep(logging.Handler):
    def __init__(self):
        super().__init__()
        self.lines = []

    def emit(self, record):
        self.lines.append(self.format(record))


def test_repeat_filter_counts_and_flattens_outages():
    clock, keep = Clock(), Keep()
    keep.addFilter(RepeatFilter(interval=60, clock=clock))
    log = _records(logging.getLogger("test.quietlog.huey"), keep)
    for n in range(500):
        try:
            raise ConnectionRefusedError(111, "Connection refused")
        except OSError:
            log.exception("Error reading from queue (worker %d)", n % 8)
    assert len(keep.lines) == 1
    assert "Traceback" not in keep.lines[0] and "ConnectionRefusedError" in keep.lines[0]
    clock.t = 61
    try:
        raise ConnectionRefusedError(111, "Connection refused")
    except OSError:
        log.exception("Error reading from queue (worker %d)", 3)
    assert len(keep.lines) == 2 and "499 more like it" in keep.lines[1]
    log.info("info lines are never filtered")
    log.info("info lines are never filtered")
    assert len(keep.lines) == 4


def test_bugs_keep_their_traceback():
    keep = Keep()
    keep.addFilter(RepeatFilter())
    log = _records(logging.getLogger("test.quietlog.bug"), keep)
    try:
        {}["missing"]
    except KeyError:
        log.exception("task failed")
    assert "Traceback" in keep.lines[0]


def test_repeat_log():
    clock, keep = Clock(), Keep()
    log = _records(logging.getLogger("test.quietlog.repeat"), keep)
    repeats = RepeatLog(log, interval=60, clock=clock)
    assert repeats.error("db", "database away")
    assert not repeats.error("db", "database away")
    assert repeats.error("queue", "queue away")
    clock.t = 60
    assert repeats.error("db", "database away")
    assert keep.lines == [
        "database away",
        "queue away",
        "database away (1 more like it in the last 60 s)",
    ]
