"""Collector benchmark: events ingested per second over HTTP, with validation, lifecycle checks and SQLite storage.

The collector runs in its own process (this script started again with ``--serve``) on a loopback port; the client
here sends pre-serialised events over one keep-alive connection, so the figure is the server's. Each event is
bench/openlineage-runevent-6k.json from ../shared/data (6 KB, 5 datasets) made unique by its runId: every run
sends START then COMPLETE, validated against OpenLineage's own schemas, checked against the run's stored events,
deduplicated and stored (WAL, full sync, one transaction per request). Measured: single-event POSTs and batches
(a JSON array per POST); the small-event lines use a ~0.4 KB RunEvent.
Each line has a fresh collector and database, so that no figure depends on the ones measured before it.

Run: `.venv/bin/python benchmarks/bench_lineage_collector.py [--quick]`.
"""

from __future__ import annotations

import argparse
import copy
import http.client
import json
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
TARGET_BATCHED = 5000.0


def registry() -> Any:
    """The packaged schemas plus OpenLineage's own (as the tests use them)."""
    from aifabric.schemas import Registry

    folder = DATA / "openlineage"
    reg = Registry.default().copy()
    for path in [folder / "OpenLineage.json", *sorted(folder.glob("facets/*.json"))]:
        reg.add(json.loads(path.read_bytes()))
    return reg


def serve(db: str) -> None:
    """The server side: a collector on a free loopback port, its URL printed on stdout."""
    from aifabric.lineage.collector import serve as run

    run(db, port=0, registry=registry(), ready=lambda url: print(url, flush=True))


def runs(template: dict[str, Any]) -> Iterator[list[dict[str, Any]]]:
    """Endless runs of the template: [START, COMPLETE] with a fresh runId each."""
    while True:
        run_id = str(uuid.uuid4())
        pair = []
        for event_type, when in (("START", "2026-11-23T08:00:00Z"), ("COMPLETE", "2026-11-23T08:05:00Z")):
            event = copy.deepcopy(template)
            event["eventType"], event["eventTime"] = event_type, when
            event["run"]["runId"] = run_id
            pair.append(event)
        yield pair


def small_event() -> dict[str, Any]:
    """A ~0.4 KB RunEvent: one input, one output, no facets."""
    return {
        "eventType": "START",
        "eventTime": "2026-11-23T08:00:00Z",
        "producer": "https://github.com/aifabric/aifabric/tree/v0.1.0/benchmarks",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {"runId": ""},
        "job": {"namespace": "bench", "name": "small"},
        "inputs": [{"namespace": "s3://bench", "name": "in"}],
        "outputs": [{"namespace": "s3://bench", "name": "out"}],
    }


def bodies(template: dict[str, Any], per_request: int, count: int) -> list[bytes]:
    """``count`` request bodies of ``per_request`` events each (1: a single event, not an array)."""
    events = (event for pair in runs(template) for event in pair)
    out = []
    for _ in range(count):
        chunk = [next(events) for _ in range(per_request)]
        out.append(orjson.dumps(chunk[0] if per_request == 1 else chunk))
    return out


def send(conn: http.client.HTTPConnection, body: bytes) -> dict[str, Any]:
    """POST one body; the collector's reply (anything but 200 ends the benchmark)."""
    conn.request("POST", "/api/v1/lineage", body, {"Content-Type": "application/json"})
    response = conn.getresponse()
    reply: dict[str, Any] = orjson.loads(response.read())
    if response.status != 200:
        raise SystemExit(f"the collector refused a benchmark request: {response.status} {reply}")
    return reply


def measure(port: int, template: dict[str, Any], per_request: int, seconds: float) -> tuple[float, int]:
    """Events per second for requests of ``per_request`` events, sent back to back for about ``seconds``."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    for body in bodies(template, per_request, 3):  # warm up: connection, compiled validators, caches
        send(conn, body)
    # enough pre-serialised bodies for the time given, judged from a short probe
    probe = bodies(template, per_request, 5)
    start = time.perf_counter()
    for body in probe:
        send(conn, body)
    per_request_s = (time.perf_counter() - start) / len(probe)
    work = bodies(template, per_request, max(5, int(seconds / per_request_s)))
    stored = 0
    start = time.perf_counter()
    for body in work:
        stored += send(conn, body)["stored"]
    elapsed = time.perf_counter() - start
    conn.close()
    events = len(work) * per_request
    if stored != events:
        raise SystemExit(f"stored {stored} of {events} events: dedup or storage is wrong")
    return events / elapsed, events


@contextmanager
def collector(db: str) -> Iterator[int]:
    """A collector process (this script with ``--serve``) on its own database: its port."""
    with subprocess.Popen([sys.executable, __file__, "--serve", db], stdout=subprocess.PIPE, text=True) as server:
        try:
            assert server.stdout is not None
            url = server.stdout.readline().strip()
            yield int(url.rsplit(":", 1)[1])
        finally:
            server.terminate()
            server.wait(timeout=30)


def main() -> int:
    """Start the collector, measure, print the figures and the verdicts."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter rounds (noisier)")
    parser.add_argument("--serve", metavar="DB", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return 0
    seconds = 1.0 if args.quick else 4.0
    template = json.loads((DATA / "bench" / "openlineage-runevent-6k.json").read_bytes())
    small = small_event()

    print(f"Python {sys.version.split()[0]} on {sys.platform}; a fresh collector process and database per line")
    print(f"event: {len(orjson.dumps(template)):,} bytes compact (small event: {len(orjson.dumps(small))} bytes)")
    rows = []
    for label, event, per_request in (
        ("single POSTs, 6 KB events", template, 1),
        ("batches of 100, 6 KB events", template, 100),
        ("batches of 500, 6 KB events", template, 500),
        ("single POSTs, small events", small, 1),
        ("batches of 100, small events", small, 100),
    ):
        with tempfile.TemporaryDirectory() as tmp, collector(str(Path(tmp) / "bench.db")) as port:
            rate, events = measure(port, event, per_request, seconds)
        print(f"{label:<32} {rate:>10,.0f} events/s   ({events:,} events)")
        rows.append((label, rate, per_request))

    print()
    print(f"{'measure':<38} {'figure':>14}  {'target':<16} verdict")
    for label, rate, per_request in rows:
        if per_request > 1 and "6 KB" in label:
            target, verdict = f">= {TARGET_BATCHED:,.0f}/s", "met" if rate >= TARGET_BATCHED else "MISSED"
        else:
            target, verdict = "(none)", "-"
        print(f"{label:<38} {rate:>12,.0f}/s  {target:<16} {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
