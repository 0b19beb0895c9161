"""Where the collector keeps lineage events: SQLite (a file, WAL mode) by default, PostgreSQL given a DSN.

Each event is stored once, under its dedup key, as its JSON text beside the columns queries need (run, type,
time, job). Lineage is kept in three tables: ``datasets`` (models are datasets carrying the ``aifabric_model``
facet), ``jobs`` and ``edges`` (each run's or job's inputs -> job -> outputs). One writer at a time adds a batch
in one transaction; readers run beside it. The same SQL serves both databases.

Examples:
    >>> import tempfile
    >>> from pathlib import Path
    >>> from aifabric.lineage.collector.store import open_store, record_of
    >>> event = {
    ...     "eventType": "COMPLETE", "eventTime": "2025-01-01T00:00:00Z", "producer": "https://example.com/etl",
    ...     "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
    ...     "run": {"runId": "0190c4a2-8f2e-7b1c-9c1e-3f4a5b6c7d8e"}, "job": {"namespace": "etl", "name": "train"},
    ...     "inputs": [{"namespace": "s3://data", "name": "reviews"}],
    ...     "outputs": [{"namespace": "models", "name": "sentiment", "facets": {"aifabric_model": {}}}],
    ... }
    >>> with tempfile.TemporaryDirectory() as tmp, open_store(Path(tmp) / "lineage.db") as store:
    ...     print(store.add([record_of(event)]), store.add([record_of(event)]), store.count())
    ...     graph = store.graph("models", "sentiment", depth=2, direction="upstream")
    ...     print([f"{n.type}:{n.name}" for n in graph.nodes])
    [True] [False] 1
    ['model:sentiment', 'job:train', 'dataset:reviews']
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Literal, Self

import orjson

from aifabric._errors import StoreError
from aifabric._ids import utc_now
from aifabric.canonical import digest

__all__ = [
    "DIRECTIONS",
    "EVENT_KINDS",
    "MAX_DEPTH",
    "MAX_NODES",
    "MODEL_FACET",
    "DatasetRef",
    "Edge",
    "EventRecord",
    "Graph",
    "Node",
    "PostgresStore",
    "SQLiteStore",
    "Store",
    "StoreError",
    "StoredEvent",
    "event_kind",
    "open_store",
    "record_of",
]

MODEL_FACET: Final = "aifabric_model"
"""The dataset facet that marks a dataset as a model."""
EVENT_KINDS: Final = ("RunEvent", "DatasetEvent", "JobEvent")
"""The OpenLineage event kinds, as named in their schema URL's ``#/$defs/<kind>`` fragment."""
DIRECTIONS: Final = ("upstream", "downstream", "both")
"""Which way a lineage graph is walked from its root."""
MAX_DEPTH: Final = 50
"""The most hops a graph query walks."""
MAX_NODES: Final = 5000
"""The most nodes a graph query returns; beyond it the graph is marked truncated."""

Direction = Literal["upstream", "downstream", "both"]


# --- records -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DatasetRef:
    """A dataset an event names, and whether it carries the model facet."""

    namespace: str
    name: str
    model: bool = False


@dataclass(frozen=True, slots=True)
class EventRecord:
    """One validated event, ready to store: its dedup key, digest, query columns, JSON body and lineage."""

    key: str
    digest: str
    kind: str
    body: bytes
    event_time: str
    sort_time: str
    received_at: str
    event_type: str | None = None
    run_id: str | None = None
    job: tuple[str, str] | None = None
    inputs: tuple[DatasetRef, ...] = ()
    outputs: tuple[DatasetRef, ...] = ()


def event_kind(event: Mapping[str, Any]) -> str | None:
    """``RunEvent``, ``DatasetEvent`` or ``JobEvent``: from the schema URL's fragment, else from the event's shape."""
    url = event.get("schemaURL")
    if isinstance(url, str):
        fragment = url.partition("#")[2]
        for kind in EVENT_KINDS:
            if fragment == f"/$defs/{kind}":
                return kind
    if isinstance(event.get("run"), dict) and isinstance(event.get("job"), dict):
        return "RunEvent"
    if isinstance(event.get("dataset"), dict):
        return "DatasetEvent"
    if isinstance(event.get("job"), dict):
        return "JobEvent"
    return None


def record_of(
    event: Mapping[str, Any], *, key: str | None = None, received_at: str | None = None, body: bytes | None = None
) -> EventRecord:
    """The record of a (validated) event; the dedup key defaults to its canonical digest, ``sha256:<hex>``.

    ``body`` is the event as JSON when the caller has it already (``orjson.dumps(event)`` otherwise).

    Raises:
        CanonicalizationError: the event has no RFC 8785 form (a lone surrogate, an integer beyond 2**53).
    """
    hexdigest = digest(event)["sha256"]
    kind = event_kind(event) or "RunEvent"
    event_time = _text(event.get("eventTime")) or ""
    job = _job(event.get("job"))
    run = event.get("run")
    inputs = _datasets(event.get("inputs"))
    outputs = _datasets(event.get("outputs"))
    if kind == "DatasetEvent":
        inputs, outputs = _datasets([event.get("dataset")]), ()
    return EventRecord(
        key=key or f"sha256:{hexdigest}",
        digest=hexdigest,
        kind=kind,
        body=body if body is not None else orjson.dumps(event),
        event_time=event_time,
        sort_time=_sort_time(event_time),
        received_at=received_at or utc_now(),
        event_type=_text(event.get("eventType")),
        run_id=_text(run.get("runId")) if isinstance(run, dict) else None,
        job=job if kind != "DatasetEvent" else None,
        inputs=inputs,
        outputs=outputs,
    )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _job(value: Any) -> tuple[str, str] | None:
    if isinstance(value, dict) and isinstance(value.get("namespace"), str) and isinstance(value.get("name"), str):
        return value["namespace"], value["name"]
    return None


def _datasets(values: Any) -> tuple[DatasetRef, ...]:
    found: dict[tuple[str, str], DatasetRef] = {}
    for item in values if isinstance(values, list) else []:
        if not isinstance(item, dict):
            continue
        namespace, name, facets = item.get("namespace"), item.get("name"), item.get("facets")
        if isinstance(namespace, str) and isinstance(name, str):
            model = isinstance(facets, dict) and MODEL_FACET in facets
            previous = found.get((namespace, name))
            found[(namespace, name)] = DatasetRef(namespace, name, model or (previous is not None and previous.model))
    return tuple(found.values())


def _sort_time(text: str) -> str:
    """The event time in UTC with microseconds, so that text order is time order (the text itself if unparsable)."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return text
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# --- query results -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event as stored: its sequence number (the ``since`` cursor of the tail), when it arrived, its body."""

    id: int
    received_at: str
    kind: str
    event_type: str | None
    event_time: str
    run_id: str | None
    job: tuple[str, str] | None
    body: bytes

    def event(self) -> Any:
        """The event, parsed."""
        return orjson.loads(self.body)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready summary with the event itself embedded unparsed (``orjson`` writes it as it is)."""
        return {
            "id": self.id,
            "receivedAt": self.received_at,
            "kind": self.kind,
            "eventType": self.event_type,
            "eventTime": self.event_time,
            "runId": self.run_id,
            "job": {"namespace": self.job[0], "name": self.job[1]} if self.job else None,
            "event": orjson.Fragment(self.body),
        }


@dataclass(frozen=True, slots=True)
class Node:
    """A dataset, model or job in a lineage graph, with its distance in hops from the root."""

    id: str
    type: str
    namespace: str
    name: str
    depth: int

    def to_json(self) -> dict[str, Any]:
        """The node as a JSON object."""
        return {"id": self.id, "type": self.type, "namespace": self.namespace, "name": self.name, "depth": self.depth}


@dataclass(frozen=True, slots=True)
class Edge:
    """Data flow from ``source`` to ``target`` (input dataset -> job, or job -> output dataset)."""

    source: str
    target: str
    run_id: str | None

    def to_json(self) -> dict[str, Any]:
        """The edge as a JSON object."""
        return {"source": self.source, "target": self.target, "runId": self.run_id}


@dataclass(frozen=True, slots=True)
class Graph:
    """The lineage around one or more root nodes: nodes in walk order, edges sorted."""

    roots: tuple[str, ...]
    depth: int
    direction: str
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]
    truncated: bool = False

    def to_json(self) -> dict[str, Any]:
        """The graph as a JSON object."""
        return {
            "roots": list(self.roots),
            "depth": self.depth,
            "direction": self.direction,
            "nodes": [n.to_json() for n in self.nodes],
            "edges": [e.to_json() for e in self.edges],
            "truncated": self.truncated,
        }


def _node_id(kind: str, namespace: str, name: str) -> str:
    return f"{kind}:{namespace}:{name}"


def _key(namespace: str | None, name: str) -> str:
    """The index key of a namespace and name (or of a name alone): 128 bits of SHA-256, in hex."""
    text = name if namespace is None else f"{namespace}\x00{name}"
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


# --- the stores --------------------------------------------------------------------------------------------

_SCHEMA_VERSION: Final = "1"  # bump, with a migration, when the tables change

_TABLES: Final = """
CREATE TABLE IF NOT EXISTS collector_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    id {id_column},
    dedup_key TEXT NOT NULL UNIQUE,
    digest TEXT NOT NULL,
    kind TEXT NOT NULL,
    run_id TEXT,
    event_type TEXT,
    event_time TEXT NOT NULL,
    sort_time TEXT NOT NULL,
    job_namespace TEXT,
    job_name TEXT,
    body TEXT NOT NULL,
    received_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_run ON events (run_id, sort_time, id);
CREATE TABLE IF NOT EXISTS datasets (
    key TEXT PRIMARY KEY,
    name_key TEXT NOT NULL,
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    model INTEGER NOT NULL DEFAULT 0,
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS datasets_by_name ON datasets (name_key);
CREATE TABLE IF NOT EXISTS jobs (
    key TEXT PRIMARY KEY,
    name_key TEXT NOT NULL,
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_by_name ON jobs (name_key);
CREATE TABLE IF NOT EXISTS edges (
    dataset_key TEXT NOT NULL,
    job_key TEXT NOT NULL,
    direction TEXT NOT NULL CHECK (direction IN ('input', 'output')),
    dataset_namespace TEXT NOT NULL,
    dataset_name TEXT NOT NULL,
    job_namespace TEXT NOT NULL,
    job_name TEXT NOT NULL,
    run_id TEXT,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (dataset_key, job_key, direction)
);
CREATE INDEX IF NOT EXISTS edges_by_job ON edges (job_key);
"""
# Names are indexed through keys (a digest of namespace and name): PostgreSQL refuses index rows over ~2.7 KB,
# and OpenLineage puts no bound on a name's length.

_INSERT_EVENT: Final = """
INSERT INTO events (dedup_key, digest, kind, run_id, event_type, event_time, sort_time, job_namespace, job_name,
                    body, received_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (dedup_key) DO NOTHING
"""
_UPSERT_DATASET: Final = """
INSERT INTO datasets (key, name_key, namespace, name, model, first_seen, last_seen) VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (key) DO UPDATE SET last_seen = excluded.last_seen,
    model = CASE WHEN excluded.model > datasets.model THEN excluded.model ELSE datasets.model END
"""
_UPSERT_JOB: Final = """
INSERT INTO jobs (key, name_key, namespace, name, first_seen, last_seen) VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (key) DO UPDATE SET last_seen = excluded.last_seen
"""
_UPSERT_EDGE: Final = """
INSERT INTO edges (dataset_key, job_key, direction, dataset_namespace, dataset_name, job_namespace, job_name,
                   run_id, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (dataset_key, job_key, direction) DO UPDATE SET run_id = excluded.run_id, updated_at = excluded.updated_at
"""
_EVENT_COLUMNS: Final = "id, received_at, kind, event_type, event_time, run_id, job_namespace, job_name, body"
_CHUNK: Final = 500


@dataclass
class _Readers:
    """One read connection per thread, all closed with the store."""

    local: threading.local = field(default_factory=threading.local)
    every: list[Any] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class Store:
    """A lineage store: add records in batches, read the tail, a run's timeline and lineage graphs.

    Thread-safe: writes are serialised on one connection, each reading thread has its own. Use
    :func:`open_store` to get one; close it (or use it as a context manager) when done.
    """

    _id_column = ""
    _placeholder = "?"
    name = "store"

    def __init__(self) -> None:
        self._write_lock = threading.Lock()
        self._readers = _Readers()
        self._closed = False
        self._writer = self._connect(writer=True)
        try:
            self._setup()
        except BaseException:
            self._writer.close()
            raise

    # subclasses: connections and errors

    def _connect(self, *, writer: bool) -> Any:
        raise NotImplementedError

    def _errors(self) -> tuple[type[BaseException], ...]:
        raise NotImplementedError

    def _begin(self, conn: Any) -> None:
        raise NotImplementedError

    def _setup(self) -> None:
        statements = [s.strip() for s in _TABLES.format(id_column=self._id_column).split(";") if s.strip()]
        with self._write_lock, self._guard("create the tables"):
            self._begin(self._writer)
            try:
                for statement in statements:
                    self._writer.execute(statement)
                self._writer.execute(
                    self._sql("INSERT INTO collector_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING"),
                    ("schema_version", _SCHEMA_VERSION),
                )
                row = self._writer.execute(
                    self._sql("SELECT value FROM collector_meta WHERE key = ?"), ("schema_version",)
                ).fetchone()
            except BaseException:
                self._writer.rollback()
                raise
            self._writer.commit()
        if row is None or row[0] != _SCHEMA_VERSION:
            found = row[0] if row else None
            raise StoreError(f"the {self.name} database has collector tables of version {found}, not {_SCHEMA_VERSION}")

    def _sql(self, text: str) -> str:
        return text if self._placeholder == "?" else text.replace("?", self._placeholder)

    @contextmanager
    def _guard(self, action: str) -> Iterator[None]:
        """Database errors become :class:`StoreError`; a closed store refuses work."""
        if self._closed:
            raise StoreError(f"the {self.name} store is closed")
        try:
            yield
        except self._errors() as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise StoreError(f"cannot {action} in the {self.name} store: {first}") from exc

    def _reader(self) -> Any:
        conn = getattr(self._readers.local, "conn", None)
        if conn is None:
            conn = self._connect(writer=False)
            self._readers.local.conn = conn
            with self._readers.lock:
                self._readers.every.append(conn)
        return conn

    # the public interface

    def add(self, records: Sequence[EventRecord], *, check: Callable[[list[bool]], None] | None = None) -> list[bool]:
        """Store a batch in one transaction; for each record, True if stored, False if its key was already there.

        ``check``, when given, is called with that outcome inside the transaction before anything is written; an
        exception from it aborts the batch (it may read the store: nothing of the batch is visible yet).

        Raises:
            StoreError: the database failed; nothing of the batch is stored.
        """
        if not records:
            return []
        keys = [r.key for r in records]
        with self._write_lock, self._guard("add events"):
            conn = self._writer
            self._begin(conn)
            try:
                present = self._present(conn, keys)
                fresh: list[EventRecord] = []
                outcome: list[bool] = []
                for record in records:
                    new = record.key not in present
                    outcome.append(new)
                    if new:
                        present.add(record.key)
                        fresh.append(record)
                if check is not None:
                    check(outcome)
                self._insert(conn, fresh)
            except BaseException:
                conn.rollback()
                raise
            conn.commit()
        return outcome

    def _present(self, conn: Any, keys: list[str]) -> set[str]:
        found: set[str] = set()
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), _CHUNK):
            chunk = unique[start : start + _CHUNK]
            marks = ", ".join([self._placeholder] * len(chunk))
            rows = conn.execute(f"SELECT dedup_key FROM events WHERE dedup_key IN ({marks})", chunk).fetchall()  # noqa: S608 - placeholders only
            found.update(row[0] for row in rows)
        return found

    def _insert(self, conn: Any, records: list[EventRecord]) -> None:
        if not records:
            return
        events: list[tuple[Any, ...]] = []
        # one upsert per dataset, job and edge per batch (a run's events name the same ones again and again)
        datasets: dict[tuple[str, str], list[Any]] = {}
        jobs: dict[tuple[str, str], list[Any]] = {}
        edges: dict[tuple[str, str, str], list[Any]] = {}
        for r in records:
            job_ns, job_name = r.job if r.job else (None, None)
            events.append(
                (
                    r.key,
                    r.digest,
                    r.kind,
                    r.run_id,
                    r.event_type,
                    r.event_time,
                    r.sort_time,
                    job_ns,
                    job_name,
                    r.body.decode("utf-8"),
                    r.received_at,
                )
            )
            for ref in (*r.inputs, *r.outputs):
                seen = datasets.get((ref.namespace, ref.name))
                if seen is None:
                    key, name_key = _key(ref.namespace, ref.name), _key(None, ref.name)
                    row = [key, name_key, ref.namespace, ref.name, int(ref.model), r.received_at, r.received_at]
                    datasets[(ref.namespace, ref.name)] = row
                else:
                    seen[4] = max(seen[4], int(ref.model))
                    seen[5], seen[6] = min(seen[5], r.received_at), max(seen[6], r.received_at)
            if r.job is not None:
                job_key = _key(*r.job)
                job = jobs.setdefault(r.job, [job_key, _key(None, r.job[1]), *r.job, r.received_at, r.received_at])
                job[5] = max(job[5], r.received_at)
                for refs, direction in ((r.inputs, "input"), (r.outputs, "output")):
                    for ref in refs:
                        dataset_key = datasets[(ref.namespace, ref.name)][0]
                        edges[(dataset_key, job_key, direction)] = [
                            dataset_key,
                            job_key,
                            direction,
                            ref.namespace,
                            ref.name,
                            *r.job,
                            r.run_id,
                            r.received_at,
                        ]
        cur = conn.cursor()
        cur.executemany(self._sql(_INSERT_EVENT), events)
        if datasets:
            cur.executemany(self._sql(_UPSERT_DATASET), list(datasets.values()))
        if jobs:
            cur.executemany(self._sql(_UPSERT_JOB), list(jobs.values()))
        if edges:
            cur.executemany(self._sql(_UPSERT_EDGE), list(edges.values()))

    def existing(self, keys: Sequence[str]) -> set[str]:
        """Which of these dedup keys are already stored."""
        with self._guard("read events"):
            return self._present(self._reader(), list(keys))

    def run_history(self, run_ids: Sequence[str]) -> list[tuple[str, str | None, str]]:
        """``(runId, eventType, eventTime as written)`` of every stored event of these runs, in arrival order."""
        rows: list[tuple[int, str, str | None, str]] = []
        unique = list(dict.fromkeys(run_ids))
        with self._guard("read runs"):
            conn = self._reader()
            for start in range(0, len(unique), _CHUNK):
                chunk = unique[start : start + _CHUNK]
                marks = ", ".join([self._placeholder] * len(chunk))
                sql = f"SELECT id, run_id, event_type, event_time FROM events WHERE run_id IN ({marks})"  # noqa: S608
                rows.extend((int(r[0]), r[1], r[2], r[3]) for r in conn.execute(sql, chunk).fetchall())
        rows.sort()
        return [(run_id, event_type, event_time) for _, run_id, event_type, event_time in rows]

    def count(self) -> int:
        """How many events are stored."""
        with self._guard("count events"):
            row = self._reader().execute("SELECT count(*) FROM events").fetchone()
        return int(row[0])

    def events(self, *, since: int = 0, limit: int = 100) -> list[StoredEvent]:
        """Up to ``limit`` events stored after sequence number ``since``, oldest first."""
        with self._guard("read events"):
            rows = (
                self._reader()
                .execute(
                    self._sql(f"SELECT {_EVENT_COLUMNS} FROM events WHERE id > ? ORDER BY id LIMIT ?"),  # noqa: S608
                    (since, limit),
                )
                .fetchall()
            )
        return [_stored(row) for row in rows]

    def last(self, limit: int = 10) -> list[StoredEvent]:
        """The ``limit`` most recently stored events, oldest first."""
        with self._guard("read events"):
            rows = (
                self._reader()
                .execute(
                    self._sql(f"SELECT {_EVENT_COLUMNS} FROM events ORDER BY id DESC LIMIT ?"),  # noqa: S608
                    (limit,),
                )
                .fetchall()
            )
        return [_stored(row) for row in reversed(rows)]

    def run(self, run_id: str) -> list[StoredEvent]:
        """A run's events in time order (ties in arrival order): its timeline."""
        with self._guard("read a run"):
            rows = (
                self._reader()
                .execute(
                    self._sql(f"SELECT {_EVENT_COLUMNS} FROM events WHERE run_id = ? ORDER BY sort_time, id"),  # noqa: S608
                    (run_id,),
                )
                .fetchall()
            )
        return [_stored(row) for row in rows]

    def graph(
        self,
        namespace: str | None,
        name: str,
        *,
        depth: int = 4,
        direction: Direction = "both",
        node_type: str | None = None,
    ) -> Graph | None:
        """The lineage graph around the dataset, model or job called ``name`` (in ``namespace`` if given).

        ``depth`` counts hops (dataset -> job is one); ``upstream`` walks towards sources, ``downstream`` towards
        consumers, ``both`` does each. ``node_type`` (``dataset``, ``model`` or ``job``) narrows the roots.
        None when nothing has that name.
        """
        if direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {', '.join(DIRECTIONS)}")
        depth = max(0, min(depth, MAX_DEPTH))
        with self._guard("read lineage"):
            conn = self._reader()
            roots = self._roots(conn, namespace, name, node_type)
            if not roots:
                return None
            return self._walk(conn, roots, depth, direction)

    def _roots(self, conn: Any, namespace: str | None, name: str, node_type: str | None) -> list[Node]:
        where, arg = ("key = ?", _key(namespace, name)) if namespace is not None else ("name_key = ?", _key(None, name))
        roots: list[Node] = []
        if node_type in (None, "dataset", "model"):
            sql = f"SELECT namespace, name, model FROM datasets WHERE {where} ORDER BY namespace"  # noqa: S608
            for ns, nm, model in conn.execute(self._sql(sql), (arg,)).fetchall():
                kind = "model" if model else "dataset"
                if node_type in (None, kind) or node_type == "dataset":
                    roots.append(Node(_node_id("dataset", ns, nm), kind, ns, nm, 0))
        if node_type in (None, "job"):
            sql = f"SELECT namespace, name FROM jobs WHERE {where} ORDER BY namespace"  # noqa: S608
            rows = conn.execute(self._sql(sql), (arg,)).fetchall()
            roots.extend(Node(_node_id("job", ns, nm), "job", ns, nm, 0) for ns, nm in rows)
        return roots

    def _walk(self, conn: Any, roots: list[Node], depth: int, direction: str) -> Graph:
        nodes: dict[str, Node] = {n.id: n for n in roots}
        edges: dict[tuple[str, str], Edge] = {}
        truncated = False
        ways = ("upstream", "downstream") if direction == "both" else (direction,)
        by_dataset = self._sql("SELECT job_namespace, job_name, direction, run_id FROM edges WHERE dataset_key = ?")
        by_job = self._sql(
            "SELECT e.dataset_namespace, e.dataset_name, e.direction, e.run_id, d.model"
            " FROM edges e JOIN datasets d ON d.key = e.dataset_key WHERE e.job_key = ?"
        )
        for way in ways:
            seen = {n.id for n in roots}
            frontier = list(roots)
            for hop in range(1, depth + 1):
                following: list[Node] = []
                for node in frontier:
                    if node.type == "job":
                        # a job's inputs are upstream of it, its outputs downstream
                        wanted = "input" if way == "upstream" else "output"
                        rows = conn.execute(by_job, (_key(node.namespace, node.name),)).fetchall()
                        for ns, nm, flow, run_id, model in rows:
                            if flow != wanted:
                                continue
                            other = _node_id("dataset", ns, nm)
                            pair = (other, node.id) if flow == "input" else (node.id, other)
                            edges.setdefault(pair, Edge(pair[0], pair[1], run_id))
                            if other not in seen:
                                seen.add(other)
                                known = nodes.get(other)
                                if known is None:
                                    known = nodes[other] = Node(other, "model" if model else "dataset", ns, nm, hop)
                                following.append(known)
                    else:
                        # a dataset's producers (it is their output) are upstream, its consumers downstream
                        wanted = "output" if way == "upstream" else "input"
                        rows = conn.execute(by_dataset, (_key(node.namespace, node.name),)).fetchall()
                        for ns, nm, flow, run_id in rows:
                            if flow != wanted:
                                continue
                            other = _node_id("job", ns, nm)
                            pair = (node.id, other) if flow == "input" else (other, node.id)
                            edges.setdefault(pair, Edge(pair[0], pair[1], run_id))
                            if other not in seen:
                                seen.add(other)
                                known = nodes.get(other)
                                if known is None:
                                    known = nodes[other] = Node(other, "job", ns, nm, hop)
                                following.append(known)
                    if len(nodes) > MAX_NODES:
                        truncated = True
                        break
                frontier = following
                if truncated or not frontier:
                    break
            if truncated:
                break
        kept = dict(list(nodes.items())[:MAX_NODES])
        kept_edges = sorted(
            (e for e in edges.values() if e.source in kept and e.target in kept), key=lambda e: (e.source, e.target)
        )
        return Graph(
            roots=tuple(n.id for n in roots),
            depth=depth,
            direction=direction,
            nodes=tuple(kept.values()),
            edges=tuple(kept_edges),
            truncated=truncated,
        )

    def close(self) -> None:
        """Close every connection (idempotent)."""
        if self._closed:
            return
        with self._write_lock:
            self._closed = True
            self._writer.close()
        with self._readers.lock:
            for conn in self._readers.every:
                conn.close()
            self._readers.every.clear()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _stored(row: Sequence[Any]) -> StoredEvent:
    body = row[8]
    return StoredEvent(
        id=int(row[0]),
        received_at=row[1],
        kind=row[2],
        event_type=row[3],
        event_time=row[4],
        run_id=row[5],
        job=(row[6], row[7]) if row[6] is not None and row[7] is not None else None,
        body=body.encode("utf-8") if isinstance(body, str) else bytes(body),
    )


class SQLiteStore(Store):
    """Events in a SQLite file: WAL mode, full sync on commit, one writer, batches in one transaction.

    Args:
        path: the database file (created with its folder if missing).
        synchronous: SQLite's ``synchronous`` setting; ``FULL`` (the default) makes an acknowledged event survive
            a power loss, ``NORMAL`` only a crash of the process.
        checkpoint_pages: how large the write-ahead log grows, in pages, before it is copied into the database.
    """

    _id_column = "INTEGER PRIMARY KEY AUTOINCREMENT"
    name = "SQLite"

    def __init__(self, path: str | Path, *, synchronous: str = "FULL", checkpoint_pages: int = 16384) -> None:
        if synchronous.upper() not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ValueError(f"synchronous must be OFF, NORMAL, FULL or EXTRA, not {synchronous!r}")
        self.path = Path(path)
        self._synchronous = synchronous.upper()
        self._checkpoint_pages = int(checkpoint_pages)
        if str(path) == ":memory:" or str(path).startswith("file:"):
            raise StoreError("the SQLite store needs a file path (readers and the writer share it)")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"{self.path.parent}: cannot create the folder: {exc.strerror}") from None
        super().__init__()

    def _errors(self) -> tuple[type[BaseException], ...]:
        return (sqlite3.Error,)

    def _connect(self, *, writer: bool) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
            conn.execute("PRAGMA busy_timeout = 30000")
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()
            conn.execute(f"PRAGMA synchronous = {self._synchronous}")
            if writer:  # checkpoint in large steps: far fewer syncs of the database file under a steady load
                conn.execute(f"PRAGMA wal_autocheckpoint = {self._checkpoint_pages}")
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot open as a SQLite database: {exc}") from None
        if mode is None or str(mode[0]).lower() != "wal":
            conn.close()
            raise StoreError(f"{self.path}: SQLite refused WAL mode (journal mode {mode and mode[0]})")
        return conn

    def _begin(self, conn: Any) -> None:
        conn.execute("BEGIN IMMEDIATE")

    def __repr__(self) -> str:
        return f"SQLiteStore({str(self.path)!r})"


class PostgresStore(Store):
    """Events in PostgreSQL through ``psycopg`` 3 (the ``postgres`` extra); the tables are created if missing."""

    _id_column = "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"
    _placeholder = "%s"
    name = "PostgreSQL"

    def __init__(self, dsn: str) -> None:
        try:
            import psycopg
        except ImportError:
            raise StoreError("PostgreSQL storage needs psycopg: pip install 'aifabric[postgres]'") from None
        self._psycopg = psycopg
        self.dsn = dsn
        super().__init__()

    def _errors(self) -> tuple[type[BaseException], ...]:
        return (self._psycopg.Error,)

    def _connect(self, *, writer: bool) -> Any:
        try:
            return self._psycopg.connect(self.dsn, autocommit=not writer)
        except self._psycopg.Error as exc:
            reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
            raise StoreError(f"cannot connect to PostgreSQL: {reason}") from None

    def _begin(self, conn: Any) -> None:
        """The writer is not in autocommit mode: psycopg begins a transaction at the first statement."""

    def __repr__(self) -> str:
        return "PostgresStore(<dsn>)"


def open_store(target: str | Path, **options: Any) -> Store:
    """A PostgreSQL store for a ``postgres://`` or ``postgresql://`` DSN, else a SQLite store at that path.

    Raises:
        StoreError: the database cannot be opened or its tables created.
    """
    text = str(target)
    if text.startswith(("postgres://", "postgresql://")):
        return PostgresStore(text, **options)
    return SQLiteStore(target, **options)
