"""The reference lineage collector: the OpenLineage HTTP API, with CloudEvents, validation and deduplication.

``POST /api/v1/lineage`` takes one OpenLineage event (``application/json``), a JSON array of them, or a
CloudEvent in structured (``application/cloudevents+json``), binary (``ce-*`` headers) or batched
(``application/cloudevents-batch+json``) mode; ``/api/v1/lineage/batch`` is the same endpoint under the name the
OpenLineage API gives batches. Every event is validated against the schema it names (and the lineage
lifecycle rules, where available); a request with any invalid event stores nothing and gets 400 with every
problem, a body over the cap 413, an unsupported content type 415. Accepted requests get 200 with the
OpenLineage batch summary. A replay is acknowledged and stored once: CloudEvents dedup on ``(source, id)``,
plain events on their canonical digest.

Reads: ``GET /api/v1/lineage/graph?name=&namespace=&depth=&direction=&type=``, ``GET /api/v1/runs/{runId}``,
``GET /api/v1/events?since=&limit=`` (or ``?tail=N``) and ``GET /health``. Needs the ``collector`` extra.

Examples:
    >>> import json, tempfile, urllib.request
    >>> from pathlib import Path
    >>> from aifabric.lineage.collector import start
    >>> with tempfile.TemporaryDirectory() as tmp, start(Path(tmp) / "lineage.db") as server:
    ...     with urllib.request.urlopen(server.url + "/health") as response:
    ...         print(response.status, json.load(response)["events"])
    ...     request = urllib.request.Request(server.url + "/api/v1/lineage", data=b'{"eventType": "START"}',
    ...                                      headers={"Content-Type": "application/json"})
    ...     try:
    ...         urllib.request.urlopen(request)
    ...     except urllib.error.HTTPError as exc:
    ...         print(exc.code, json.load(exc)["problems"][0]["rule"])
    200 0
    400 schemaURL
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import importlib
import signal
import socket
from collections.abc import Callable, Coroutine, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Final

import orjson

try:
    from aiohttp import web
except ImportError as exc:  # pragma: no cover - the extra is part of the dev install
    raise ImportError("the lineage collector needs aiohttp: pip install 'aifabric[collector]'") from exc

from aifabric import envelope
from aifabric._errors import AifabricError, CanonicalizationError, DocumentError, EnvelopeError, Problem
from aifabric._web import BackgroundServer, bind, serve_socket, url_of
from aifabric.lineage.collector.store import (
    DIRECTIONS,
    EVENT_KINDS,
    MAX_DEPTH,
    EventRecord,
    Store,
    StoreError,
    event_kind,
    open_store,
    record_of,
)
from aifabric.schemas import Registry
from aifabric.validation import load_documents, problems

__all__ = [
    "DEFAULT_MAX_BODY",
    "DEFAULT_PORT",
    "MAX_EVENTS",
    "MAX_PROBLEMS",
    "Collector",
    "CollectorServer",
    "serve",
    "start",
]

DEFAULT_PORT: Final = 5000
"""The port the collector listens on unless told otherwise (Marquez's, which OpenLineage clients expect)."""
DEFAULT_MAX_BODY: Final = 16 * 1024 * 1024
"""The largest request body accepted, in bytes (after decompression); larger ones get 413."""
MAX_EVENTS: Final = 10_000
"""The most events one request may carry; more get 413."""
MAX_PROBLEMS: Final = 1000
"""The most problems one 400 response lists (a last one says how many more there were)."""

_JSON: Final = "application/json"
_EVENT_FRAGMENTS: Final = frozenset(f"/$defs/{kind}" for kind in EVENT_KINDS)
_OFFLOAD: Final = 64 * 1024  # bodies larger than this are checked off the event loop
_MAX_LIMIT: Final = 1000
_CARRIED_INVALID: Final = "the carried document is invalid"


class _RejectedError(Exception):
    """A request refused with a status and the problems that explain why."""

    def __init__(self, status: int, found: list[dict[str, Any]], *, received: int = 1) -> None:
        super().__init__(status)
        self.status = status
        self.problems = found
        self.received = received

    def response(self) -> web.Response:
        failed = len({p.get("index", 0) for p in self.problems}) if self.status == 400 else self.received
        body = {
            "status": "rejected",
            "summary": {"received": self.received, "successful": 0, "failed": min(failed, self.received)},
            "problems": self.problems,
        }
        return _json(body, status=self.status)


def _problem(found: Problem, index: int | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"pointer": found.pointer, "rule": found.rule, "message": found.message}
    if index is not None:
        out["index"] = index
    return out


def _json(value: Any, *, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(value), status=status, content_type=_JSON)


def _lifecycle_checker() -> Callable[..., Iterable[Problem]] | None:
    """``aifabric.lineage._profile.lifecycle_problems`` where that module exists; None (no lifecycle checks) if not."""
    name = "aifabric.lineage._profile"
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name == name:
            return None
        raise
    check = getattr(module, "lifecycle_problems", None)
    return check if callable(check) else None


class Collector:
    """Validates, deduplicates and stores lineage events, and answers lineage queries, over HTTP.

    Args:
        store: where events go (see :func:`~aifabric.lineage.collector.store.open_store`); not closed by the
            collector unless ``owns_store``.
        registry: the schemas events are validated against (default: the packaged ones).
        max_body: the largest request body accepted, in bytes.
        lifecycle: apply the lineage lifecycle rules as well as the schema (where the SDK has them).
        owns_store: close the store when the collector closes.
    """

    def __init__(
        self,
        store: Store,
        *,
        registry: Registry | None = None,
        max_body: int = DEFAULT_MAX_BODY,
        lifecycle: bool = True,
        owns_store: bool = False,
    ) -> None:
        self.store = store
        self.registry = registry or Registry.default()
        self.max_body = max_body
        self._lifecycle = _lifecycle_checker() if lifecycle else None
        self._owns_store = owns_store
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="aifabric-collector-writer")
        self._readers = ThreadPoolExecutor(max_workers=4, thread_name_prefix="aifabric-collector-reader")

    @property
    def lifecycle_checks(self) -> bool:
        """Whether the lineage lifecycle rules are applied (they need ``aifabric.lineage._profile``)."""
        return self._lifecycle is not None

    def application(self) -> web.Application:
        """The aiohttp application serving the collector's routes."""
        app = web.Application(client_max_size=self.max_body)
        app.add_routes(
            [
                web.post("/api/v1/lineage", self._post),
                web.post("/api/v1/lineage/batch", self._post),
                web.get("/api/v1/lineage/graph", self._graph),
                web.get("/api/v1/runs/{run_id}", self._run),
                web.get("/api/v1/events", self._events),
                web.get("/health", self._health),
            ]
        )
        return app

    def close(self) -> None:
        """Finish pending writes and release the threads (and the store, when the collector owns it)."""
        self._writer.shutdown(wait=True)
        self._readers.shutdown(wait=True)
        if self._owns_store:
            self.store.close()

    # --- ingest --------------------------------------------------------------------------------------------

    def _prepare(self, headers: Mapping[str, str], body: bytes) -> tuple[list[EventRecord], bool]:
        """The records of every event a request carries, each validated, and whether it was a batch; no I/O.

        Raises:
            _RejectedError: the request, or any event in it, is not acceptable (with every problem found).
        """
        headers = {k.lower(): v for k, v in headers.items()}
        raw_type = headers.get("content-type")
        mime, _, params = (raw_type or "").partition(";")
        mime = mime.strip().lower()
        charset = _charset(params)
        if charset not in (None, "utf-8", "utf8"):
            raise _RejectedError(415, [_problem(Problem("", "contentType", f"charset {charset!r} is not UTF-8"))])
        if mime == envelope.BATCH_CONTENT_TYPE:
            return self._cloudevent_batch(headers, body)
        if mime == envelope.STRUCTURED_CONTENT_TYPE or any(k.startswith("ce-") for k in headers):
            return self._cloudevent(headers, body, binary=mime != envelope.STRUCTURED_CONTENT_TYPE)
        if not mime or mime == _JSON or (mime.startswith("application/") and mime.endswith("+json")):
            return self._plain(body)
        message = (
            f"content type {raw_type!r} is not accepted: send {_JSON} (one event or an array of them), "
            f"{envelope.STRUCTURED_CONTENT_TYPE}, {envelope.BATCH_CONTENT_TYPE}, or a binary-mode CloudEvent"
        )
        raise _RejectedError(415, [_problem(Problem("", "contentType", message))])

    def _parse(self, body: bytes) -> Any:
        try:
            value = orjson.loads(body)
            orjson.dumps(value)  # orjson writes at most 255 levels: a depth check at C speed
        except (orjson.JSONDecodeError, orjson.JSONEncodeError):
            pass  # the exact path below says what is wrong (or reads what orjson refuses, such as a lone surrogate)
        else:
            return value
        try:
            return load_documents(body, source="<request>", fmt="json")[0]
        except DocumentError as exc:
            raise _RejectedError(400, [_problem(Problem(exc.pointer, exc.rule, exc.reason))]) from None

    def _plain(self, body: bytes) -> tuple[list[EventRecord], bool]:
        value = self._parse(body)
        if isinstance(value, list):
            _check_count(len(value))
            # a U+0000 in a string can only be written as the escape \u0000: without one, no name can hold it
            nul = b"\\u0000" in body
            return self._check(value, [None] * len(value), batch=True, nul=nul), True
        return self._check([value], [None], batch=False, nul=b"\\u0000" in body), False

    def _cloudevent(self, headers: dict[str, str], body: bytes, *, binary: bool) -> tuple[list[EventRecord], bool]:
        parsed = self._parse(body)
        try:
            doc = envelope.from_http(headers, body, registry=self.registry)
        except EnvelopeError as exc:
            carried = parsed if binary else parsed.get("data") if isinstance(parsed, dict) else None
            raise _RejectedError(400, self._explain(carried, exc)) from None
        attributes = {"source": headers.get("ce-source"), "id": headers.get("ce-id")} if binary else parsed
        return self._check([doc], [_cloudevent_key(attributes)], batch=False), False

    def _cloudevent_batch(self, headers: dict[str, str], body: bytes) -> tuple[list[EventRecord], bool]:
        items = self._parse(body)
        if isinstance(items, list):
            _check_count(len(items))
        try:
            docs = envelope.from_batch(headers, body, registry=self.registry)
        except EnvelopeError as exc:
            if not isinstance(items, list):
                raise _RejectedError(400, [_problem(Problem("", "cloudevents", str(exc)))]) from None
            found: list[dict[str, Any]] = []
            structured = {"content-type": envelope.STRUCTURED_CONTENT_TYPE}
            for n, item in enumerate(items):
                try:
                    envelope.from_http(structured, orjson.dumps(item), registry=self.registry)
                except EnvelopeError as item_exc:
                    carried = item.get("data") if isinstance(item, dict) else None
                    found.extend(dict(p, index=n) for p in self._explain(carried, item_exc))
                except TypeError:  # orjson: an integer beyond 64 bits
                    found.append(_problem(Problem("", "cloudevents", "not a CloudEvent: a number out of range"), n))
            found = found or [_problem(Problem("", "cloudevents", str(exc)))]
            raise _RejectedError(400, found, received=len(items)) from None
        keys: list[str | None] = [_cloudevent_key(item) for item in items]
        return self._check(docs, keys, batch=True), True

    def _explain(self, carried: Any, exc: EnvelopeError) -> list[dict[str, Any]]:
        """Every problem of the document a refused CloudEvent carries, beside the envelope's own complaint."""
        found = self._event_problems(carried)[1] if isinstance(carried, dict) else []
        out = [_problem(p) for p in found]
        if not out or _CARRIED_INVALID not in str(exc):
            out.insert(0, _problem(Problem("", "cloudevents", str(exc))))
        return out

    def _check(self, docs: list[Any], keys: list[str | None], *, batch: bool, nul: bool = True) -> list[EventRecord]:
        records: list[EventRecord] = []
        found: list[dict[str, Any]] = []
        for n, (doc, key) in enumerate(zip(docs, keys, strict=True)):
            record, problems_of = self._event_problems(doc, key, nul=nul)
            if record is None:
                found.extend(_problem(p, n if batch else None) for p in problems_of)
            else:
                records.append(record)
        if found:
            if len(found) > MAX_PROBLEMS:
                more = Problem("", "maxProblems", f"and {len(found) - MAX_PROBLEMS:,} more problems not listed")
                found = [*found[:MAX_PROBLEMS], _problem(more)]
            raise _RejectedError(400, found, received=len(docs))
        return records

    def _event_problems(
        self, doc: Any, key: str | None = None, *, nul: bool = True
    ) -> tuple[EventRecord | None, list[Problem]]:
        """The record of a valid event, or None and every problem with it."""
        if not isinstance(doc, dict):
            return None, [Problem("", "type", f"an OpenLineage event is a JSON object, not {_json_type(doc)}")]
        url = doc.get("schemaURL", doc.get("$schema"))
        if isinstance(url, str) and not self._is_lineage_url(url):
            message = f"{url!r} is not the schema of a lineage event: an OpenLineage RunEvent, DatasetEvent or JobEvent"
            return None, [Problem("/schemaURL", "lineageEvent", message)]
        found = problems(doc, registry=self.registry)
        if not found and event_kind(doc) is None:
            found = [Problem("", "lineageEvent", "not a RunEvent, DatasetEvent or JobEvent")]
        if not found and nul:
            found = _nul_problems(doc)
        if found:
            return None, found
        try:
            body: bytes | None = orjson.dumps(doc)
        except orjson.JSONEncodeError as exc:
            if "ecursion" in str(exc):
                return None, [Problem("", "maxDepth", "the event is nested too deeply to store (over 255 levels)")]
            body = None  # a lone surrogate: the canonical form's error below names it
        try:
            return record_of(doc, key=key, body=body), []
        except (CanonicalizationError, orjson.JSONEncodeError) as exc:
            return None, [Problem("", "canonical", f"the event has no canonical JSON form (RFC 8785): {exc}")]

    def _is_lineage_url(self, url: str) -> bool:
        fragment = url.partition("#")[2]
        if fragment in _EVENT_FRAGMENTS:
            return True
        if fragment:
            return False
        try:
            return "lineage" in self.registry.info(url).kind
        except AifabricError:
            return False

    async def _body(self, request: web.Request) -> bytes:
        too_big = f"the body is over the {self.max_body:,}-byte limit"
        if request.content_length is not None and request.content_length > self.max_body:
            raise _RejectedError(413, [_problem(Problem("", "maxBytes", too_big))])
        try:
            return await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise _RejectedError(413, [_problem(Problem("", "maxBytes", too_big))]) from None

    async def _post(self, request: web.Request) -> web.Response:
        loop = asyncio.get_running_loop()
        try:
            body = await self._body(request)
            headers = {k.lower(): v for k, v in request.headers.items()}
            if len(body) > _OFFLOAD:
                records, batch = await loop.run_in_executor(self._readers, self._prepare, headers, body)
            else:
                records, batch = self._prepare(headers, body)
            outcome = await loop.run_in_executor(self._writer, self._write, records, batch)
        except _RejectedError as exc:
            return exc.response()
        except StoreError as exc:
            return _json({"status": "error", "retriable": True, "message": str(exc)}, status=503)
        stored = sum(outcome)
        summary = {"received": len(records), "successful": len(records), "failed": 0}
        return _json({"status": "success", "summary": summary, "stored": stored, "duplicates": len(records) - stored})

    def _write(self, records: list[EventRecord], batch: bool) -> list[bool]:
        """Store, checking the lifecycle rules inside the store's transaction (and in the one writer thread)."""
        if self._lifecycle is None or not any(r.run_id is not None and r.kind == "RunEvent" for r in records):
            return self.store.add(records)
        return self.store.add(records, check=lambda outcome: self._check_lifecycle(records, outcome, batch))

    def _check_lifecycle(self, records: list[EventRecord], outcome: list[bool], batch: bool) -> None:
        """The run lifecycle rules over each run's stored events followed by this request's new ones.

        Replays (``outcome`` False: stored already, or repeated in the request) are left out: acknowledged, not judged.
        """
        fresh = [n for n, r in enumerate(records) if outcome[n] and r.run_id is not None and r.kind == "RunEvent"]
        if not fresh:
            return
        history = self.store.run_history([records[n].run_id or "" for n in fresh])
        runs = [*history, *((records[n].run_id or "", records[n].event_type, records[n].event_time) for n in fresh)]
        sequence = [{"eventType": t, "eventTime": time, "run": {"runId": run_id}} for run_id, t, time in runs]
        assert self._lifecycle is not None
        found: list[dict[str, Any]] = []
        for problem in self._lifecycle(sequence, finished=False):
            _, position, rest = (problem.pointer + "/").split("/", 2)
            if not position.isdigit() or int(position) < len(history):
                continue  # about a stored event: judged when it arrived
            pointer = "/" + rest.rstrip("/") if rest.rstrip("/") else ""
            index = fresh[int(position) - len(history)]
            found.append(_problem(Problem(pointer, problem.rule, problem.message), index if batch else None))
        if found:
            raise _RejectedError(400, found, received=len(records))

    # --- queries -------------------------------------------------------------------------------------------

    async def _read(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, lambda: fn(*args, **kwargs))

    async def _graph(self, request: web.Request) -> web.Response:
        query = request.query
        try:
            name = query.get("name")
            if not name:
                raise _RejectedError(
                    400, [_query_problem("name", "is required: the dataset, model or job to start from")]
                )
            depth = _int_param(query, "depth", default=4, low=0, high=MAX_DEPTH)
            direction = query.get("direction", "both")
            if direction not in DIRECTIONS:
                raise _RejectedError(400, [_query_problem("direction", f"must be one of {', '.join(DIRECTIONS)}")])
            node_type = query.get("type")
            if node_type not in (None, "dataset", "model", "job"):
                raise _RejectedError(400, [_query_problem("type", "must be dataset, model or job")])
            namespace = query.get("namespace") or None
            graph = await self._read(
                self.store.graph, namespace, name, depth=depth, direction=direction, node_type=node_type
            )
        except _RejectedError as exc:
            return exc.response()
        except StoreError as exc:
            return _json({"status": "error", "message": str(exc)}, status=503)
        if graph is None:
            where = f" in namespace {namespace!r}" if namespace else ""
            problem = Problem("", "notFound", f"no dataset, model or job named {name!r}{where}")
            return _json({"status": "not found", "problems": [_problem(problem)]}, status=404)
        return _json(graph.to_json())

    async def _run(self, request: web.Request) -> web.Response:
        run_id = request.match_info["run_id"]
        try:
            events = await self._read(self.store.run, run_id)
        except StoreError as exc:
            return _json({"status": "error", "message": str(exc)}, status=503)
        if not events:
            problem = Problem("", "notFound", f"no events of run {run_id!r}")
            return _json({"status": "not found", "problems": [_problem(problem)]}, status=404)
        typed = [e.event_type for e in events if e.event_type]
        return _json(
            {
                "runId": run_id,
                "job": events[0].to_json()["job"],
                "state": typed[-1] if typed else None,
                "events": [e.to_json() for e in events],
            }
        )

    async def _events(self, request: web.Request) -> web.Response:
        query = request.query
        try:
            if "tail" in query:
                tail = _int_param(query, "tail", default=10, low=0, high=_MAX_LIMIT)
                events = await self._read(self.store.last, tail)
                since = 0
            else:
                since = _int_param(query, "since", default=0, low=0, high=2**62)
                limit = _int_param(query, "limit", default=100, low=1, high=_MAX_LIMIT)
                events = await self._read(self.store.events, since=since, limit=limit)
        except _RejectedError as exc:
            return exc.response()
        except StoreError as exc:
            return _json({"status": "error", "message": str(exc)}, status=503)
        return _json({"events": [e.to_json() for e in events], "next": events[-1].id if events else since})

    async def _health(self, request: web.Request) -> web.Response:
        try:
            count = await self._read(self.store.count)
        except StoreError as exc:
            return _json({"status": "error", "message": str(exc)}, status=503)
        return _json(
            {"status": "ok", "store": self.store.name, "events": count, "lifecycleChecks": self.lifecycle_checks}
        )


def _check_count(count: int) -> None:
    if count > MAX_EVENTS:
        message = f"{count:,} events in one request, over the limit of {MAX_EVENTS:,}: send smaller batches"
        raise _RejectedError(413, [_problem(Problem("", "maxEvents", message))], received=count)


def _charset(params: str) -> str | None:
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            return value.strip().strip('"').lower()
    return None


def _cloudevent_key(attributes: Any) -> str:
    """The dedup key of a CloudEvent: a digest of its ``source`` and ``id``, which together name it uniquely."""
    source = attributes.get("source") if isinstance(attributes, dict) else None
    event_id = attributes.get("id") if isinstance(attributes, dict) else None
    return "ce:" + hashlib.sha256(orjson.dumps([str(source), str(event_id)])).hexdigest()


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else type(value).__name__


def _nul_problems(doc: dict[str, Any]) -> list[Problem]:
    """U+0000 in a name, namespace or id that the store indexes: PostgreSQL text cannot hold it, so none may."""
    found: list[Problem] = []

    def check(value: Any, pointer: str) -> None:
        if isinstance(value, str) and "\x00" in value:
            found.append(Problem(pointer, "nul", "a U+0000 character cannot be stored in a name, namespace or id"))

    run, job = doc.get("run"), doc.get("job")
    if isinstance(run, dict):
        check(run.get("runId"), "/run/runId")
    if isinstance(job, dict):
        check(job.get("namespace"), "/job/namespace")
        check(job.get("name"), "/job/name")
    for field in ("inputs", "outputs"):
        items = doc.get(field)
        for n, item in enumerate(items if isinstance(items, list) else []):
            if isinstance(item, dict):
                check(item.get("namespace"), f"/{field}/{n}/namespace")
                check(item.get("name"), f"/{field}/{n}/name")
    dataset = doc.get("dataset")
    if isinstance(dataset, dict):
        check(dataset.get("namespace"), "/dataset/namespace")
        check(dataset.get("name"), "/dataset/name")
    return found


def _query_problem(name: str, message: str) -> dict[str, Any]:
    return _problem(Problem("", "query", f"query parameter {name!r} {message}"))


def _int_param(query: Mapping[str, str], name: str, *, default: int, low: int, high: int) -> int:
    text = query.get(name)
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise _RejectedError(400, [_query_problem(name, f"must be an integer, not {text!r}")]) from None
    if not low <= value <= high:
        raise _RejectedError(400, [_query_problem(name, f"must be between {low} and {high}, not {value}")])
    return value


# --- running it --------------------------------------------------------------------------------------------


def _collector(store: Store | str | Path, *, registry: Registry | None, max_body: int, lifecycle: bool) -> Collector:
    if isinstance(store, Store):
        return Collector(store, registry=registry, max_body=max_body, lifecycle=lifecycle)
    return Collector(open_store(store), registry=registry, max_body=max_body, lifecycle=lifecycle, owns_store=True)


class CollectorServer(BackgroundServer):
    """A collector serving on a loopback port from a background thread; stop it, or use it as a context manager.

    Stopping finishes pending writes and closes what the collector owns.
    """

    def __init__(self, collector: Collector, sock: socket.socket) -> None:
        self.collector = collector

        def run(ready: Callable[[], None], stop: asyncio.Event) -> Coroutine[Any, Any, None]:
            return serve_socket(collector.application(), sock, ready, stop)

        super().__init__(run, sock, name="aifabric-collector", on_stop=collector.close)


def start(
    store: Store | str | Path,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    registry: Registry | None = None,
    max_body: int = DEFAULT_MAX_BODY,
    lifecycle: bool = True,
) -> CollectorServer:
    """Serve a collector from a background thread (port 0: a free port; see ``.url``).

    ``store`` is a :class:`~aifabric.lineage.collector.store.Store`, a SQLite file path or a PostgreSQL DSN; a store
    opened here is closed on stop.

    Raises:
        StoreError: the store cannot be opened.
        OSError: the address cannot be bound.
    """
    return CollectorServer(*_open(store, host, port, registry=registry, max_body=max_body, lifecycle=lifecycle))


def _open(
    store: Store | str | Path, host: str, port: int, *, registry: Registry | None, max_body: int, lifecycle: bool
) -> tuple[Collector, socket.socket]:
    """The collector and its bound socket; the store is closed again when the address cannot be bound."""
    collector = _collector(store, registry=registry, max_body=max_body, lifecycle=lifecycle)
    try:
        return collector, bind(host, port)
    except OSError:
        collector.close()
        raise


def serve(
    store: Store | str | Path,
    *,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    registry: Registry | None = None,
    max_body: int = DEFAULT_MAX_BODY,
    lifecycle: bool = True,
    ready: Callable[[str], None] | None = None,
) -> None:
    """Serve a collector in the foreground until SIGINT or SIGTERM; ``ready`` is called with the URL once listening.

    Raises:
        StoreError: the store cannot be opened.
        OSError: the address cannot be bound.
    """
    collector, sock = _open(store, host, port, registry=registry, max_body=max_body, lifecycle=lifecycle)
    url = url_of(sock)

    async def main() -> None:
        gc.freeze()  # what is alive now (schemas, validators, modules) is never collected: keep it out of the way
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await serve_socket(collector.application(), sock, lambda: ready(url) if ready else None, stop)

    try:
        asyncio.run(main())
    finally:
        collector.close()
