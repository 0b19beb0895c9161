"""The lineage emitter: check each event at once, spool it durably, deliver it in the background, report.

``emit`` validates the event (a plain OpenLineage 2-0-2 dict), refuses one over the size cap, and puts its JSON on
a bounded in-memory queue; it does not wait for the network. A writer thread appends the queue to an on-disk
spool (see ``fsync`` in :class:`~aifabric.lineage.config.EmitterConfig` for the durability each policy buys), and
a sender thread delivers the spool in order through a transport, retrying with jittered exponential backoff
(honouring ``Retry-After``) while the destination is down or slow. A restarted process replays what was not
delivered, in order. :meth:`Emitter.flush` and :meth:`Emitter.close` say how many events were delivered, are
still spooled, or were dropped and why. Delivery is at least once: a crash between delivery and the spool's
acknowledgement sends an event again, so receivers deduplicate (OpenLineage events are keyed by run id, event
type and time; CloudEvents by ``source`` and ``id``).

:meth:`Emitter.run` is a context manager and decorator that sends START, then COMPLETE, or FAIL with the
``errorMessage`` run facet when the body raises.

Examples:
    >>> import json, tempfile
    >>> from pathlib import Path
    >>> from aifabric.lineage.config import EmitterConfig
    >>> from aifabric.lineage.emitter import Emitter
    >>> from aifabric.lineage.transports import FileTransport
    >>> out = Path(tempfile.mkdtemp()) / "lineage.jsonl"
    >>> config = EmitterConfig(spool_dir=None)  # no spool: undelivered events die with the process
    >>> with Emitter(FileTransport(out), config) as emitter:
    ...     with emitter.run("examples", "daily_revenue", inputs=[("postgres://db:5432", "sales.orders")]) as run:
    ...         run.add_output("s3://warehouse", "daily_revenue")
    >>> emitter.stats()
    FlushResult(delivered=2, spooled=0, dropped=0, reasons={}, timed_out=False)
    >>> [(e["eventType"], len(e["inputs"]), len(e["outputs"])) for e in map(json.loads, out.read_text().splitlines())]
    [('START', 1, 0), ('COMPLETE', 1, 1)]
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import inspect
import logging
import os
import random
import threading
import traceback
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from contextvars import ContextVar, Token
from dataclasses import dataclass, field, replace
from time import monotonic
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, ParamSpec, Protocol, TypeVar, cast

import orjson

from aifabric._errors import DocumentError
from aifabric._ids import utc_now, uuid7
from aifabric._version import __version__
from aifabric.canonical import canonicalize
from aifabric.lineage._spool import Position, Record, Spool
from aifabric.lineage.config import EmitterConfig
from aifabric.lineage.transports import RetryableTransportError, Transport, TransportError, transport_from_config
from aifabric.validation import validate

if TYPE_CHECKING:
    from aifabric.schemas import Registry

__all__ = [
    "ERROR_MESSAGE_FACET_URL",
    "PARENT_RUN_FACET_URL",
    "PRODUCER",
    "RUN_EVENT_SCHEMA_URL",
    "EmitResult",
    "Emitter",
    "FlushResult",
    "Run",
    "RunContext",
    "current_run",
    "dataset",
    "run_event",
]

PRODUCER: Final = f"https://github.com/aifabric/aifabric/tree/v{__version__}"
"""The ``producer`` of events this SDK makes (and the ``_producer`` of its facets)."""
RUN_EVENT_SCHEMA_URL: Final = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
ERROR_MESSAGE_FACET_URL: Final = (
    "https://openlineage.io/spec/facets/1-0-1/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet"
)
PARENT_RUN_FACET_URL: Final = "https://openlineage.io/spec/facets/1-2-0/ParentRunFacet.json#/$defs/ParentRunFacet"

_log = logging.getLogger("aifabric.lineage")


class _Typed(Protocol):
    def to_json(self) -> dict[str, Any]: ...


_NOWHERE: Final = Position(0, 0)
_MAX_REASONS: Final = 32
_OTHER: Final = "other reasons"

_P = ParamSpec("_P")
_R = TypeVar("_R")


@dataclass(frozen=True, slots=True)
class EmitResult:
    """What ``emit`` can say about one event when asked to wait for it, or when it did not take it.

    Attributes:
        accepted: the event was queued or spooled for delivery.
        delivered: the transport accepted it (known only when ``emit`` waited).
        reason: why it was not accepted, was dropped, or is not known to be delivered yet.
    """

    accepted: bool
    delivered: bool = False
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class FlushResult:
    """Counts since the emitter started (replayed events included).

    Attributes:
        delivered: events the transport accepted.
        spooled: events accepted and not yet delivered: on disk (replayed on the next start) with a spool, in
            memory without one.
        dropped: events given up: refused for good by the destination, over the spool's size cap, a full queue
            with no spool, damaged spool records, or undelivered at ``close`` with no spool.
        reasons: how many were dropped for each reason.
        timed_out: ``flush`` or ``close`` returned at its timeout with events emitted before it still spooled.
    """

    delivered: int
    spooled: int
    dropped: int
    reasons: Mapping[str, int] = field(default_factory=dict)
    timed_out: bool = False


class _Waiter:
    __slots__ = ("done", "reason")

    def __init__(self) -> None:
        self.done = False
        self.reason: str | None = None


class Emitter:
    """Sends lineage events through a transport, durably and without making the caller wait.

    Args:
        transport: where events go (see :mod:`aifabric.lineage.transports`).
        config: the options; by default an in-process queue with a spool under ``~/.aifabric/spool``.
        validator: called with each event; raises to refuse it. By default :func:`aifabric.validate` (with
            ``registry``). ``config.validate = False`` turns checking off.
        registry: the schema registry the default validator uses.

    Raises:
        SpoolError: the spool directory cannot be used (an ``AifabricError``, code ``AIF-SPOOL``).
    """

    def __init__(
        self,
        transport: Transport,
        config: EmitterConfig | None = None,
        *,
        validator: Callable[[Any], object] | None = None,
        registry: Registry | None = None,
    ) -> None:
        self.config = cfg = config or EmitterConfig()
        self.transport = transport
        if not cfg.validate:
            self._validator: Callable[[Any], object] | None = None
        elif validator is not None:
            self._validator = validator
        else:
            self._validator = functools.partial(validate, registry=registry)
        self._cap = cfg.max_event_bytes
        self._queue: deque[bytes] = deque()
        self._queue_size = cfg.queue_size
        self._max_batch_bytes = max(cfg.max_event_bytes, 4 << 20)
        self._write_lock = threading.Lock()
        self._state = threading.Condition()
        self._close_lock = threading.Lock()
        self._wake_sender = threading.Event()
        self._kick = threading.Event()
        self._delivered = 0
        self._dropped = 0
        self._reasons: dict[str, int] = {}
        self._appended = 0  # records put in the spool (replayed ones included)
        self._processed = 0  # records delivered or dropped by the sender, in order
        self._waiters: dict[int, _Waiter] = {}
        self._closed = False
        self._stopping = False
        self._discarded = False
        self._deadline: float | None = None
        self._read_pos = _NOWHERE
        self._spool: Spool | None = None
        if cfg.spool_dir is not None:
            spool = Spool(
                cfg.spool_dir, fsync=cfg.fsync, segment_bytes=cfg.segment_bytes, max_bytes=cfg.max_spool_bytes
            )
            self._spool = spool
            self._read_pos = spool.ack_position
            self._appended = spool.pending
            if spool.corrupt:
                self._count_drop("damaged spool record skipped", spool.corrupt)
            if spool.torn:
                self._count_drop("torn spool record skipped (a write cut short by a crash)", spool.torn)
            if spool.pending:
                _log.info("replaying %d undelivered lineage event(s) from %s", spool.pending, spool.dir)
        self._sync = self._spool is not None and cfg.fsync == "always"
        self._writer: threading.Thread | None = None
        if self._spool is not None and not self._sync:
            self._wake = threading.Event()
            self._writer = threading.Thread(target=self._write_loop, name="aifabric-lineage-spool", daemon=True)
            self._writer.start()
        else:
            self._wake = self._wake_sender
        self._sender = threading.Thread(target=self._send_loop, name="aifabric-lineage-sender", daemon=True)
        self._sender.start()
        _LIVE.add(self)

    @classmethod
    def from_config(
        cls,
        config: EmitterConfig | str | os.PathLike[str] | None = None,
        *,
        transport: Transport | None = None,
        validator: Callable[[Any], object] | None = None,
        registry: Registry | None = None,
    ) -> Emitter:
        """An emitter for a configuration object, a configuration file, or (``None``) what ``load`` finds.

        ``None`` means :meth:`EmitterConfig.load <aifabric.lineage.config.EmitterConfig.load>`'s precedence;
        ``transport`` overrides the configured one.
        """
        if not isinstance(config, EmitterConfig):
            config = EmitterConfig.load(config)
        if transport is None:
            transport = transport_from_config(config.transport, registry=registry)
        return cls(transport, config, validator=validator, registry=registry)

    def __repr__(self) -> str:
        where = self._spool.dir if self._spool is not None else "memory"
        return f"<Emitter {self.transport!r} spool={where} closed={self._closed}>"

    # --- emitting --------------------------------------------------------------------------------------

    def emit(self, event: Mapping[str, Any] | _Typed, *, wait: float | None = None) -> EmitResult | None:
        """Queue one event for delivery; returns ``None`` once it is queued, unless ``wait`` is given.

        Args:
            event: an OpenLineage event (RunEvent, DatasetEvent or JobEvent) as a dict, or as one of the typed
                models of :mod:`aifabric.models.lineage` (which checks it against the profile on the way).
            wait: seconds to wait for the transport to accept it; the result then says whether it did.

        Returns:
            ``None`` when the event was accepted without waiting; an :class:`EmitResult` when ``wait`` was given
            or the event was not accepted (a full queue with no spool, a full spool, a closed emitter).

        Raises:
            ValidationError: the event does not conform to its schema (nothing is queued).
            SchemaError: the event names no schema the registry knows.
            DocumentError: the event is not JSON, or is larger than ``max_event_bytes`` of canonical JSON.
        """
        if not isinstance(event, Mapping):
            event = event.to_json()
        data = self._serialize(event)
        if self._validator is not None:
            self._validator(event)
        if self._closed:
            return self._refuse("the emitter was closed")
        if wait is not None or self._sync:
            return self._emit_slowly(data, wait)
        queue = self._queue
        if len(queue) >= self._queue_size:
            if self._spool is None:
                return self._refuse(f"the in-memory queue is full ({self._queue_size:,} events) and there is no spool")
            reason, _ = self._spill(data)
            return None if reason is None else EmitResult(False, reason=reason)
        queue.append(data)
        if not self._wake.is_set():
            self._wake.set()
        return None

    def _serialize(self, event: Mapping[str, Any]) -> bytes:
        try:
            data = orjson.dumps(event)
        except orjson.JSONEncodeError as exc:
            raise DocumentError(f"the event is not JSON: {exc}", rule="type") from None
        size = len(data)
        if size * 2 > self._cap:  # canonical JSON is never twice as long as compact orjson output
            size = len(canonicalize(event))
            if size > self._cap:
                raise DocumentError(
                    f"the event is {size:,} bytes of canonical JSON, over the {self._cap:,}-byte cap (max_event_bytes)",
                    rule="maxEventBytes",
                )
        return data

    def _emit_slowly(self, data: bytes, wait: float | None) -> EmitResult | None:
        waiter = _Waiter() if wait is not None else None
        if self._spool is not None:
            reason, ordinal = self._spill(data, sync=self._sync, waiter=waiter)
            if reason is not None:
                return EmitResult(False, reason=reason)
        else:
            with self._state:
                if len(self._queue) >= self._queue_size:
                    return self._refuse(
                        f"the in-memory queue is full ({self._queue_size:,} events) and there is no spool"
                    )
                self._queue.append(data)
                if waiter is not None:
                    self._waiters[id(data)] = waiter
            self._wake_sender.set()
            ordinal = 0
        if waiter is None or wait is None:
            return None
        with self._state:
            self._state.wait_for(lambda: waiter.done, wait)
            self._waiters.pop(ordinal or id(data), None)
        if not waiter.done:
            return EmitResult(True, reason=f"not delivered within {wait:g} s; still spooled")
        return EmitResult(True, delivered=waiter.reason is None, reason=waiter.reason)

    def _refuse(self, reason: str) -> EmitResult:
        with self._state:
            self._count_drop(reason, 1)
        return EmitResult(False, reason=reason)

    def _drain(self) -> list[bytes]:
        items: list[bytes] = []
        popleft = self._queue.popleft
        with contextlib.suppress(IndexError):
            while True:
                items.append(popleft())
        return items

    def _spill(
        self, extra: bytes | None = None, *, sync: bool = False, waiter: _Waiter | None = None
    ) -> tuple[str | None, int]:
        """Move the memory queue (then ``extra``) into the spool, in order; the drop reason for ``extra``, if any."""
        spool = self._spool
        assert spool is not None
        with self._write_lock:
            items = self._drain()
            if extra is not None:
                items.append(extra)
            if not items:
                return None, self._appended
            if waiter is not None:  # registered first: the sender may finish the record as soon as it is written
                with self._state:
                    self._waiters[self._appended + len(items)] = waiter
            reason: str | None = None
            try:
                taken = spool.append(items, sync=sync)
            except OSError as exc:
                taken, reason = 0, f"the spool could not be written: {exc.strerror or exc}"
            if taken < len(items) and reason is None:
                reason = f"the spool is full ({self.config.max_spool_bytes:,} bytes)"
            with self._state:
                ordinal = self._appended + len(items)
                self._appended += taken
                if reason is not None:
                    self._count_drop(reason, len(items) - taken)
                    self._waiters.pop(ordinal, None)
                    _log.error("dropped %d lineage event(s): %s", len(items) - taken, reason)
        self._wake_sender.set()
        return (reason if extra is not None and taken < len(items) else None), ordinal

    def _count_drop(self, reason: str, n: int) -> None:
        """Count dropped events; the caller holds ``_state`` (or is the constructor)."""
        self._dropped += n
        if reason not in self._reasons and len(self._reasons) >= _MAX_REASONS:
            reason = _OTHER
        self._reasons[reason] = self._reasons.get(reason, 0) + n

    # --- background threads ----------------------------------------------------------------------------

    def _write_loop(self) -> None:
        spool = self._spool
        assert spool is not None
        interval = self.config.fsync_interval
        batch_sync = self.config.fsync == "batch"
        dirty = False
        last_sync = monotonic()
        while True:
            self._wake.wait(max(0.0, last_sync + interval - monotonic()) if dirty else None)
            self._wake.clear()
            if self._queue:
                self._spill()
                dirty = dirty or batch_sync
            stopping = self._stopping and not self._queue
            if dirty and (stopping or monotonic() - last_sync >= interval):
                try:
                    spool.sync()
                except OSError as exc:
                    _log.error("cannot fsync the lineage spool: %s", exc)
                last_sync, dirty = monotonic(), False
            if stopping:
                return

    def _fetch(self) -> list[Record]:
        if self._spool is not None:
            records = self._spool.read(
                self._read_pos, max_records=self.config.batch_size, max_bytes=self._max_batch_bytes
            )
            if records:
                self._read_pos = records[-1].end
            return records
        queue = self._queue
        return [Record(queue[i], _NOWHERE) for i in range(min(self.config.batch_size, len(queue)))]

    def _finish(self, records: list[Record], reason: str | None) -> None:
        """Account for records the sender is done with (delivered when ``reason`` is None), in order."""
        n = len(records)
        if self._spool is not None:
            try:
                self._spool.ack(records[-1].end, n)
            except OSError as exc:  # losing an acknowledgement only replays events: never fatal
                _log.warning("cannot record lineage delivery in the spool: %s", exc)
        with self._state:
            if self._discarded:
                return
            first = self._processed
            self._processed += n
            if reason is None:
                self._delivered += n
            else:
                self._count_drop(reason, n)
            if self._spool is None:
                for _ in range(n):
                    self._queue.popleft()
            if self._waiters:
                for i, record in enumerate(records):
                    waiter = self._waiters.get(first + i + 1 if self._spool is not None else id(record.payload))
                    if waiter is not None:
                        waiter.done, waiter.reason = True, reason
            self._state.notify_all()

    def _send_loop(self) -> None:
        inflight: list[Record] = []
        single = 0  # send this many one at a time, to find the one a batch was refused for
        failures = 0
        while True:
            if not inflight:
                try:
                    inflight = self._fetch()
                except OSError as exc:
                    if self._stopping:
                        return
                    _log.error("cannot read the lineage spool: %s", exc)
                    self._sleep(1.0)
                    continue
                if not inflight:
                    if self._stopping and (self._writer is None or not self._writer.is_alive()):
                        return
                    self._wake_sender.wait(0.5)
                    self._wake_sender.clear()
                    continue
            if self._deadline is not None and monotonic() >= self._deadline:
                return
            batch = inflight[:1] if single else inflight
            try:
                self.transport.send([record.payload for record in batch])
            except Exception as exc:  # noqa: BLE001 - a transport's bug must not lose events: keep and retry
                error = (
                    exc if isinstance(exc, TransportError) else RetryableTransportError(f"{type(exc).__name__}: {exc}")
                )
                if not isinstance(exc, TransportError) and not failures:
                    _log.error("the lineage transport raised unexpectedly; events are kept", exc_info=exc)
                arrived = min(max(error.delivered, 0), len(batch))
                if arrived:
                    self._finish(inflight[:arrived], None)
                    del inflight[:arrived]
                    single = max(0, single - arrived)
                if not error.retryable:
                    if len(batch) - arrived <= 1:
                        _log.warning("lineage event dropped: %s%s", error, f" ({error.detail})" if error.detail else "")
                        self._finish(inflight[:1], str(error))
                        del inflight[:1]
                        single = max(0, single - 1)
                    else:
                        single = len(batch) - arrived
                    continue
                failures += 1
                if failures == 1:
                    _log.warning("lineage delivery failing, retrying with backoff (events are kept): %s", error)
                if not self._sleep(self._delay(failures, error.retry_after)):
                    return
            else:
                self._finish(batch, None)
                del inflight[: len(batch)]
                single = max(0, single - len(batch))
                if failures:
                    _log.info("lineage delivery recovered after %d failed attempt(s)", failures)
                    failures = 0

    def _delay(self, failures: int, retry_after: float | None) -> float:
        cfg = self.config
        if retry_after is not None:
            return min(retry_after, cfg.max_retry_after) * random.uniform(1.0, 1.1)  # noqa: S311 - jitter, not secrets
        ceiling = min(cfg.backoff_max, cfg.backoff_initial * 2 ** min(failures - 1, 30))
        return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not secrets

    def _sleep(self, delay: float) -> bool:
        """Wait before a retry; False when ``close``'s deadline comes first."""
        end = monotonic() + delay
        while True:
            if self._deadline is not None and end > self._deadline:
                return False
            remaining = end - monotonic()
            if remaining <= 0:
                return True
            self._kick.wait(remaining)
            self._kick.clear()

    # --- reporting and closing -------------------------------------------------------------------------

    def stats(self) -> FlushResult:
        """The counts now, without waiting."""
        with self._state:
            spooled = len(self._queue) + (self._appended - self._processed if self._spool is not None else 0)
            return FlushResult(self._delivered, spooled, self._dropped, dict(self._reasons))

    def flush(self, timeout: float | None = None) -> FlushResult:
        """Wait until every event emitted before the call is delivered or dropped, or ``timeout`` seconds pass."""
        if self._spool is not None and not self._closed:
            self._spill()
            with self._state:
                target = self._appended
        else:
            with self._state:
                target = self._processed + len(self._queue)
        self._wake_sender.set()
        with self._state:
            done = self._state.wait_for(lambda: self._processed >= target, timeout)
        return replace(self.stats(), timed_out=not done)

    def close(self, timeout: float | None = None) -> FlushResult:
        """Stop accepting events and keep delivering for up to ``timeout`` seconds (``close_timeout`` by default).

        What is left stays in the spool for the next start (or, with no spool, is dropped and counted).
        """
        with self._close_lock:
            if self._closed:
                return self.stats()
            self._closed = True
        limit = self.config.close_timeout if timeout is None else timeout
        deadline = monotonic() + limit
        self._stopping = True
        if self._writer is not None:
            self._wake.set()
            self._writer.join()
            self._spill()  # an emit that raced with close() may have queued after the writer's last look
        self._deadline = deadline
        self._wake_sender.set()
        self._kick.set()
        self._sender.join(max(0.05, deadline - monotonic()))  # a moment for an idle sender to notice
        if self._sender.is_alive():
            _log.warning("lineage sender still busy at close; undelivered events stay spooled")
        if self._spool is None:
            with self._state:
                left = len(self._queue)
                if left:
                    self._count_drop("not delivered before close() and there is no spool", left)
                    _log.warning("dropped %d undelivered lineage event(s) at close: no spool is configured", left)
                self._queue.clear()
                self._discarded = True
        result = self.stats()
        with contextlib.suppress(Exception):
            self.transport.close()
        if self._spool is not None:
            self._spool.close()
        _LIVE.discard(self)
        return replace(result, timed_out=result.spooled > 0)

    def __enter__(self) -> Emitter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- runs ------------------------------------------------------------------------------------------

    def run(
        self,
        job_namespace: str,
        job_name: str,
        *,
        inputs: Iterable[Mapping[str, Any] | tuple[str, str]] = (),
        outputs: Iterable[Mapping[str, Any] | tuple[str, str]] = (),
        run_facets: Mapping[str, Mapping[str, Any]] | None = None,
        job_facets: Mapping[str, Mapping[str, Any]] | None = None,
        run_id: str | None = None,
    ) -> RunContext:
        """A run of a job, as a context manager (``with emitter.run(...) as run:``) or a decorator.

        START is sent on entry, COMPLETE on normal exit, FAIL (with the ``errorMessage`` facet) when the body
        raises an exception, ABORT on ``KeyboardInterrupt`` and other non-``Exception`` exits. A run started
        inside another gets the ``parent`` facet. Each call of a decorated function is a new run.
        """
        return RunContext(
            self,
            job_namespace,
            job_name,
            inputs=[_as_dataset(d) for d in inputs],
            outputs=[_as_dataset(d) for d in outputs],
            run_facets=dict(run_facets or {}),
            job_facets=dict(job_facets or {}),
            run_id=run_id,
        )


_LIVE: set[Emitter] = set()


@atexit.register
def _close_all() -> None:  # pragma: no cover - runs at interpreter exit
    for emitter in list(_LIVE):
        with contextlib.suppress(Exception):
            emitter.close()


# --- runs --------------------------------------------------------------------------------------------------

_CURRENT: ContextVar[Run | None] = ContextVar("aifabric_lineage_run", default=None)


def current_run() -> Run | None:
    """The innermost run active in this thread or task, if any."""
    return _CURRENT.get()


def dataset(
    namespace: str,
    name: str,
    *,
    facets: Mapping[str, Mapping[str, Any]] | None = None,
    input_facets: Mapping[str, Mapping[str, Any]] | None = None,
    output_facets: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """An OpenLineage dataset; facets without ``_producer`` get this SDK's."""
    found: dict[str, Any] = {"namespace": namespace, "name": name, "facets": _facets(facets)}
    if input_facets:
        found["inputFacets"] = _facets(input_facets)
    if output_facets:
        found["outputFacets"] = _facets(output_facets)
    return found


def run_event(
    event_type: str,
    job_namespace: str,
    job_name: str,
    *,
    run_id: str | None = None,
    event_time: str | None = None,
    inputs: Iterable[Mapping[str, Any]] = (),
    outputs: Iterable[Mapping[str, Any]] = (),
    run_facets: Mapping[str, Mapping[str, Any]] | None = None,
    job_facets: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """An OpenLineage 2-0-2 RunEvent with this SDK's producer, a UUIDv7 run id and the time now, unless given."""
    return {
        "eventType": event_type,
        "eventTime": event_time or utc_now(),
        "producer": PRODUCER,
        "schemaURL": RUN_EVENT_SCHEMA_URL,
        "run": {"runId": run_id or uuid7(), "facets": _facets(run_facets)},
        "job": {"namespace": job_namespace, "name": job_name, "facets": _facets(job_facets)},
        "inputs": list(inputs),
        "outputs": list(outputs),
    }


def _facets(facets: Mapping[str, Mapping[str, Any]] | None) -> dict[str, Any]:
    if not facets:
        return {}
    return {name: facet if "_producer" in facet else {"_producer": PRODUCER, **facet} for name, facet in facets.items()}


def _as_dataset(item: Mapping[str, Any] | tuple[str, str]) -> dict[str, Any]:
    if isinstance(item, tuple):
        namespace, name = item
        return dataset(namespace, name)
    return dict(item)


class Run:
    """A run in progress: add what it read, wrote and learnt; COMPLETE (or FAIL) carries all of it."""

    def __init__(
        self,
        emitter: Emitter,
        job_namespace: str,
        job_name: str,
        *,
        inputs: list[dict[str, Any]],
        outputs: list[dict[str, Any]],
        run_facets: dict[str, Any],
        job_facets: dict[str, Any],
        run_id: str | None,
        parent: Run | None,
    ) -> None:
        self.emitter = emitter
        self.run_id = run_id or uuid7()
        self.job_namespace = job_namespace
        self.job_name = job_name
        self.inputs = inputs
        self.outputs = outputs
        self.run_facets = run_facets
        self.job_facets = job_facets
        self.parent = parent

    def __repr__(self) -> str:
        return f"<Run {self.job_namespace}/{self.job_name} {self.run_id}>"

    @property
    def root(self) -> Run:
        """The outermost run this one was started in (itself when it has no parent)."""
        run = self
        while run.parent is not None:
            run = run.parent
        return run

    def add_input(
        self, namespace: str | Mapping[str, Any], name: str | None = None, *, facets: Mapping[str, Any] | None = None
    ) -> None:
        """Record a dataset the run read: ``(namespace, name)`` or a dataset dict."""
        self.inputs.append(_dataset_arg(namespace, name, facets))

    def add_output(
        self, namespace: str | Mapping[str, Any], name: str | None = None, *, facets: Mapping[str, Any] | None = None
    ) -> None:
        """Record a dataset the run wrote: ``(namespace, name)`` or a dataset dict."""
        self.outputs.append(_dataset_arg(namespace, name, facets))

    def add_run_facet(self, name: str, facet: Mapping[str, Any]) -> None:
        """Attach a run facet (it needs ``_schemaURL``; ``_producer`` defaults to this SDK's)."""
        self.run_facets.update(_facets({name: facet}))

    def add_job_facet(self, name: str, facet: Mapping[str, Any]) -> None:
        """Attach a job facet (it needs ``_schemaURL``; ``_producer`` defaults to this SDK's)."""
        self.job_facets.update(_facets({name: facet}))

    def event(self, event_type: str, *, error: BaseException | None = None) -> dict[str, Any]:
        """The RunEvent of this run's current state."""
        facets = dict(self.run_facets)
        if self.parent is not None:
            root = self.parent.root
            facets.setdefault(
                "parent",
                {
                    "_producer": PRODUCER,
                    "_schemaURL": PARENT_RUN_FACET_URL,
                    "run": {"runId": self.parent.run_id},
                    "job": {"namespace": self.parent.job_namespace, "name": self.parent.job_name},
                    "root": {
                        "run": {"runId": root.run_id},
                        "job": {"namespace": root.job_namespace, "name": root.job_name},
                    },
                },
            )
        if error is not None:
            text = str(error)
            facets["errorMessage"] = {
                "_producer": PRODUCER,
                "_schemaURL": ERROR_MESSAGE_FACET_URL,
                "message": f"{type(error).__name__}: {text}" if text else type(error).__name__,
                "programmingLanguage": "python",
                "stackTrace": "".join(traceback.format_exception(error)),
            }
        return run_event(
            event_type,
            self.job_namespace,
            self.job_name,
            run_id=self.run_id,
            inputs=self.inputs,
            outputs=self.outputs,
            run_facets=facets,
            job_facets=self.job_facets,
        )

    def emit(self, event_type: str = "RUNNING") -> EmitResult | None:
        """Send an extra event for this run now (``RUNNING`` or ``OTHER``)."""
        return self.emitter.emit(self.event(event_type))


def _dataset_arg(
    namespace: str | Mapping[str, Any], name: str | None, facets: Mapping[str, Any] | None
) -> dict[str, Any]:
    if isinstance(namespace, Mapping):
        return dict(namespace)
    if name is None:
        raise TypeError("a dataset needs a namespace and a name")
    return dataset(namespace, name, facets=facets)


class RunContext:
    """What :meth:`Emitter.run` returns: a context manager (sync or async) and a decorator."""

    def __init__(
        self,
        emitter: Emitter,
        job_namespace: str,
        job_name: str,
        *,
        inputs: list[dict[str, Any]],
        outputs: list[dict[str, Any]],
        run_facets: dict[str, Any],
        job_facets: dict[str, Any],
        run_id: str | None,
    ) -> None:
        self._emitter = emitter
        self._args = (job_namespace, job_name)
        self._options: dict[str, Any] = {
            "inputs": inputs,
            "outputs": outputs,
            "run_facets": run_facets,
            "job_facets": job_facets,
            "run_id": run_id,
        }
        self._active: list[tuple[Run, Token[Run | None]]] = []

    def _copied_options(self) -> dict[str, Any]:
        return {
            k: list(v) if isinstance(v, list) else dict(v) if isinstance(v, dict) else v
            for k, v in self._options.items()
        }

    def _fresh(self) -> RunContext:
        return RunContext(self._emitter, *self._args, **self._copied_options())

    def __enter__(self) -> Run:
        run = Run(self._emitter, *self._args, parent=current_run(), **self._copied_options())
        self._emitter.emit(run.event("START"))
        self._active.append((run, _CURRENT.set(run)))
        return run

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        run, token = self._active.pop()
        _CURRENT.reset(token)
        if exc is None or (isinstance(exc, SystemExit) and exc.code in (0, None)):
            run.emitter.emit(run.event("COMPLETE"))
            return
        kind = "FAIL" if isinstance(exc, Exception) else "ABORT"
        try:
            run.emitter.emit(run.event(kind, error=exc))
        except Exception:  # noqa: BLE001 - never hide the run's own exception behind a lineage problem
            _log.exception("could not emit the %s event of %r", kind, run)

    async def __aenter__(self) -> Run:
        return self.__enter__()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    def __call__(self, fn: Callable[_P, _R]) -> Callable[_P, _R]:
        """Decorate a function (or coroutine function): each call is a new run."""
        if inspect.iscoroutinefunction(fn):
            coroutine = cast("Callable[_P, Awaitable[Any]]", fn)

            @functools.wraps(fn)
            async def run_async(*args: _P.args, **kwargs: _P.kwargs) -> Any:
                async with self._fresh():
                    return await coroutine(*args, **kwargs)

            return cast("Callable[_P, _R]", run_async)

        @functools.wraps(fn)
        def run_sync(*args: _P.args, **kwargs: _P.kwargs) -> _R:
            with self._fresh():
                return fn(*args, **kwargs)

        return run_sync
