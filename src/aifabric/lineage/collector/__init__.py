"""The reference lineage collector: receive, validate, deduplicate, store and query OpenLineage events.

An aiohttp server (the ``collector`` extra) speaking the OpenLineage HTTP API and the CloudEvents HTTP binding,
over SQLite by default or PostgreSQL (the ``postgres`` extra). Run it with ``aifabric serve collector``, or from
Python with :func:`start` (a background thread) or :func:`serve` (the foreground).

Examples:
    >>> import json, tempfile, urllib.request
    >>> from pathlib import Path
    >>> from aifabric.lineage.collector import start
    >>> with tempfile.TemporaryDirectory() as tmp, start(Path(tmp) / "lineage.db") as server:
    ...     with urllib.request.urlopen(server.url + "/api/v1/events?since=0") as response:
    ...         print(json.load(response))
    {'events': [], 'next': 0}
"""

from aifabric.lineage.collector.app import DEFAULT_MAX_BODY, DEFAULT_PORT, Collector, CollectorServer, serve, start
from aifabric.lineage.collector.store import PostgresStore, SQLiteStore, Store, StoreError, open_store

__all__ = [
    "DEFAULT_MAX_BODY",
    "DEFAULT_PORT",
    "Collector",
    "CollectorServer",
    "PostgresStore",
    "SQLiteStore",
    "Store",
    "StoreError",
    "open_store",
    "serve",
    "start",
]
