"""End to end: the emitter and the reference collector, the collector SIGKILLed mid-stream and restarted."""

from __future__ import annotations

import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import aifabric
from aifabric.lineage.config import EmitterConfig
from aifabric.lineage.emitter import PRODUCER, RUN_EVENT_SCHEMA_URL, Emitter
from aifabric.lineage.transports import HttpTransport

pytest.importorskip("aiohttp")

RUNS, PER_RUN = 50, 200  # 10,000 events: per run START, 198 RUNNING, COMPLETE
SCRIPT = Path(sys.executable).parent / "aifabric"


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _start(port: int, db: Path) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [str(SCRIPT), "serve", "collector", "--port", str(port), "--db", str(db)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return process
        except OSError:
            time.sleep(0.05)
    process.kill()
    pytest.fail("the collector did not start listening")


def _stored(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as con:
            count: int = con.execute("SELECT count(*) FROM events").fetchone()[0]
            return count
    except sqlite3.Error:
        return 0


def _events() -> list[dict[str, Any]]:
    base = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    runs = [aifabric.uuid7() for _ in range(RUNS)]
    events = []
    for step in range(PER_RUN):
        kind = "START" if step == 0 else "COMPLETE" if step == PER_RUN - 1 else "RUNNING"
        for n, run in enumerate(runs):
            when = base + timedelta(milliseconds=step * RUNS + n)
            events.append(
                {
                    "eventType": kind,
                    "eventTime": when.isoformat().replace("+00:00", "Z"),
                    "producer": PRODUCER,
                    "schemaURL": RUN_EVENT_SCHEMA_URL,
                    "run": {"runId": run},
                    "job": {"namespace": "reliability", "name": f"job-{n}"},
                    "inputs": [],
                    "outputs": [],
                }
            )
    return events


@pytest.mark.slow
def test_ten_thousand_events_survive_a_collector_killed_mid_stream(tmp_path: Path) -> None:
    """[LIN-020] [LIN-022] Every event arrives exactly once, in per-run order, across a SIGKILL and restart."""
    port, db = _port(), tmp_path / "lineage.db"
    collector = _start(port, db)
    transport = HttpTransport(f"http://127.0.0.1:{port}", mode="openlineage-batch", timeout=5)
    config = EmitterConfig(spool_dir=tmp_path / "spool", backoff_initial=0.02, backoff_max=0.3)
    emitter = Emitter(transport, config)
    killed_at: list[int] = []

    def kill_mid_stream() -> None:
        nonlocal collector
        deadline = time.monotonic() + 60
        while _stored(db) < 3_000 and time.monotonic() < deadline:
            time.sleep(0.01)
        killed_at.append(_stored(db))
        collector.send_signal(signal.SIGKILL)
        collector.wait()
        time.sleep(0.5)  # refused connections for a while
        collector = _start(port, db)

    killer = threading.Thread(target=kill_mid_stream)
    killer.start()
    try:
        events = _events()
        for event in events:
            emitter.emit(event)
        killer.join()
        result = emitter.flush(timeout=120)
        emitter.close(timeout=5)
        assert (result.delivered, result.dropped, result.spooled) == (len(events), 0, 0), result
        assert 3_000 <= killed_at[0] < len(events)  # the kill came while events were flowing
        with sqlite3.connect(db) as con:
            rows = con.execute("SELECT run_id, event_type, event_time FROM events ORDER BY rowid").fetchall()
    finally:
        collector.send_signal(signal.SIGTERM)
        collector.wait(timeout=10)
    assert len(rows) == len(events)  # exactly once: replays after the kill were deduplicated
    assert len(set(rows)) == len(events)
    by_run: dict[str, list[datetime]] = {}
    for run_id, _, event_time in rows:
        by_run.setdefault(run_id, []).append(datetime.fromisoformat(event_time.replace("Z", "+00:00")))
    assert len(by_run) == RUNS
    assert all(times == sorted(times) for times in by_run.values())  # stored in each run's order
