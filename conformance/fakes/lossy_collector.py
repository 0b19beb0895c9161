"""A broken lineage collector that acknowledges every event but silently drops every 100th one.

It is aifabric's reference collector (the OpenLineage HTTP API: ``POST /api/v1/lineage`` and ``/batch``, and the
read API ``GET /api/v1/events``, ``/api/v1/runs/{runId}``, ``/api/v1/lineage/graph`` and ``/health``) with one
fault: the 100th, 200th, ... event it accepts is answered as stored, with the same status and summary, and never
written, so it is missing when read back. A suite MUST fail it on CONF-040 (the Lineage Consumer profile reads
accepted events back and fails when any is missing), naming the dropped events.

Run it with ``python conformance/fakes/lossy_collector.py [--port N] [--every 100] [--store FILE]``; it prints
``listening on <url>`` on stdout once it serves, and stops on SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

from _http import serve

from aifabric.lineage.collector import Collector, open_store
from aifabric.lineage.collector.store import EventRecord


class LossyCollector(Collector):
    """The reference collector, but every ``every``-th event accepted is acknowledged and not stored."""

    def __init__(self, *args: Any, every: int = 100, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.every = every
        self.seen = 0
        self.dropped: list[str | None] = []

    def _write(self, records: list[EventRecord], batch: bool) -> list[bool]:
        kept: list[EventRecord] = []
        dropped: list[int] = []
        for n, record in enumerate(records):
            self.seen += 1
            if self.seen % self.every == 0:
                dropped.append(n)
                self.dropped.append(record.run_id)
            else:
                kept.append(record)
        outcome = iter(super()._write(kept, batch) if kept else [])
        # BROKEN ON PURPOSE: a dropped event is reported as stored (CONF-040).
        return [True if n in dropped else next(outcome) for n in range(len(records))]


def main(argv: list[str] | None = None) -> int:
    """Serve the lossy collector until SIGINT or SIGTERM."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: a free port (printed)")
    parser.add_argument("--every", type=int, default=100, help="drop every N-th event (default 100)")
    parser.add_argument("--store", type=Path, help="SQLite file (default: a temporary one)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="aifabric-lossy-") as scratch:
        store = open_store(args.store or Path(scratch) / "lineage.db")
        collector = LossyCollector(store, every=args.every, owns_store=True)
        try:
            serve(collector.application(), args.host, args.port)
        finally:
            collector.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
