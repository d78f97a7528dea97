"""/metrics request counts shared by the processes of one server (hub.http.health.RequestCounts)."""

from __future__ import annotations

import threading

from hub.http.health import RequestCounts


def test_concurrent_flushes_and_scrapes_never_lose_or_go_back(tmp_path):
    """The writer thread and scrapes flush the same process's file at once: every scrape
    reads whole files, and the total never goes back."""
    counts = RequestCounts()
    counts.share(tmp_path)
    other = RequestCounts()  # a second worker process, as far as the files go
    other.share(tmp_path)
    for _ in range(7):
        other.add("GET", "/x", 200)
    other.flush()
    stop = threading.Event()
    seen: list[int] = []
    errors: list[BaseException] = []

    def hammer():
        try:
            while not stop.is_set():
                counts.add("GET", "/x", 200)
                counts.flush()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=hammer) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        for _ in range(300):
            seen.append(dict(counts.totals()).get(("GET", "/x", 200), 0))
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not errors
    assert seen == sorted(seen) and seen[0] >= 7
    total = dict(counts.totals())[("GET", "/x", 200)]
    assert total == 7 + sum(c for k, c in counts._counts.items())  # every request, once
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".json", ".json"]


def test_a_new_process_with_a_reused_pid_keeps_the_old_file(tmp_path):
    """Files are named by pid and a random part: a worker that reuses a dead worker's pid
    (here: two counters in one process, so one pid) does not overwrite what it left."""
    dead = RequestCounts()
    dead.share(tmp_path)
    dead.add("GET", "/x", 200)
    dead.flush()
    reborn = RequestCounts()
    reborn.share(tmp_path)
    reborn.add("GET", "/x", 200)
    reborn.flush()
    assert dict(reborn.totals())[("GET", "/x", 200)] == 2
