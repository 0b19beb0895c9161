r"""Transports: where the emitter's background sender hands batches of lineage events.

A transport is any object with ``send(batch)`` and ``close()``. A batch is a sequence of events, each the compact
JSON bytes of one event, in emission order. ``send`` returns once the destination accepted every event, or raises
:class:`RetryableTransportError` (down, slow or busy: the emitter keeps the events and retries with backoff,
honouring ``retry_after``) or :class:`PermanentTransportError` (it will never accept them: the emitter drops the
event and counts why). Both carry ``delivered``, how many events at the start of the batch did arrive, so that
those are not sent again.

The HTTP transport speaks the OpenLineage HTTP API (one event per ``POST {url}/api/v1/lineage``, or its batch
endpoint), or CloudEvents in structured, binary or batched mode through :mod:`aifabric.envelope`. It uses the
standard library's ``http.client`` (one keep-alive connection, no proxy support), so it adds no dependency.

Examples:
    >>> import io
    >>> from aifabric.lineage.transports import CompositeTransport, ConsoleTransport
    >>> out, copy = io.StringIO(), io.StringIO()
    >>> both = CompositeTransport([ConsoleTransport(stream=out), ConsoleTransport(stream=copy)], mode="all")
    >>> both.send([b'{"eventType":"START"}', b'{"eventType":"COMPLETE"}'])
    >>> out.getvalue() == copy.getvalue() == '{"eventType":"START"}\n{"eventType":"COMPLETE"}\n'
    True
"""

from __future__ import annotations

import email.utils
import gzip
import http.client
import logging
import os
import re
import ssl
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Final, Literal, Protocol, runtime_checkable
from urllib.parse import urlsplit

import orjson

from aifabric._errors import (
    AifabricError,
    DocumentError,
    PermanentTransportError,
    RetryableTransportError,
    TransportError,
)
from aifabric._version import __version__
from aifabric.lineage.config import (
    CompositeConfig,
    ConsoleConfig,
    FileConfig,
    HttpConfig,
    HttpMode,
    KafkaConfig,
    NatsConfig,
    TransportConfig,
)

if TYPE_CHECKING:
    from aifabric.envelope import Message
    from aifabric.schemas import Registry

__all__ = [
    "CompositeTransport",
    "ConsoleTransport",
    "FileTransport",
    "HttpTransport",
    "PermanentTransportError",
    "RetryableTransportError",
    "Transport",
    "TransportError",
    "transport_from_config",
]

_log = logging.getLogger("aifabric.lineage")
_JSON: Final = "application/json"
_RETRYABLE_STATUS: Final = frozenset({408, 425, 429, 500, 502, 503, 504})
_STALE: Final = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError, ConnectionAbortedError)


@runtime_checkable
class Transport(Protocol):
    """What the emitter sends through."""

    def send(self, batch: Sequence[bytes]) -> None:
        """Deliver every event of the batch, in order, or raise a :class:`TransportError`."""

    def close(self) -> None:
        """Release connections and files; ``send`` is not called after this."""


# --- console and file ------------------------------------------------------------------------------------


class ConsoleTransport:
    """Each event as one JSON line on standard error (or ``stream``); for development."""

    def __init__(self, *, stream: IO[str] | Literal["stdout", "stderr"] = "stderr") -> None:
        self._stream = stream

    def send(self, batch: Sequence[bytes]) -> None:
        """Write the events, one line each."""
        stream = getattr(sys, self._stream) if isinstance(self._stream, str) else self._stream
        stream.write("".join(payload.decode("utf-8") + "\n" for payload in batch))
        stream.flush()

    def close(self) -> None:
        """Nothing to release."""


class FileTransport:
    """Events as JSON lines appended to a file, rotated by size: ``path``, ``path.1`` ... ``path.<backups>``."""

    def __init__(
        self, path: str | os.PathLike[str], *, max_bytes: int = 100 << 20, backups: int = 5, fsync: bool = False
    ) -> None:
        self.path = Path(path)
        self._max_bytes = max_bytes
        self._backups = backups
        self._fsync = fsync
        self._file: IO[bytes] | None = None
        self._size = 0

    def send(self, batch: Sequence[bytes]) -> None:
        """Append the events, rotating first whenever the next line would pass ``max_bytes``."""
        try:
            handle = self._open()
            for payload in batch:
                line = payload + b"\n"
                if self._size and self._size + len(line) > self._max_bytes:
                    handle.flush()
                    handle = self._rotate()
                handle.write(line)
                self._size += len(line)
            handle.flush()
            if self._fsync:
                os.fsync(handle.fileno())
        except OSError as exc:
            self.close()
            raise RetryableTransportError(f"cannot write {self.path}: {exc.strerror or exc}", delivered=0) from None

    def _open(self) -> IO[bytes]:
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("ab")
            self._size = self._file.tell()
        return self._file

    def _rotate(self) -> IO[bytes]:
        self.close()
        if self._backups:
            for n in range(self._backups - 1, 0, -1):
                older = self.path.with_name(f"{self.path.name}.{n}")
                if older.exists():
                    older.replace(self.path.with_name(f"{self.path.name}.{n + 1}"))
            self.path.replace(self.path.with_name(f"{self.path.name}.1"))
        else:
            self.path.unlink(missing_ok=True)
        return self._open()

    def close(self) -> None:
        """Close the file (it is reopened by the next ``send``)."""
        if self._file is not None:
            self._file.close()
            self._file = None


# --- HTTP ------------------------------------------------------------------------------------------------


class HttpTransport:
    """POST events to an OpenLineage HTTP API, or to a CloudEvents receiver.

    Modes: ``openlineage`` (one event per POST to ``{url}/api/v1/lineage``), ``openlineage-batch`` (a JSON array
    per batch to ``{url}/api/v1/lineage/batch``), ``cloudevents-structured`` and ``cloudevents-binary`` (one
    CloudEvent per POST; needs the ``cloudevents`` extra and a registry that knows the events' schema) and
    ``cloudevents-batch`` (a CloudEvents batch per POST). 2xx is success; 408, 425, 429 and 5xx and every
    connection error or timeout are retryable, honouring ``Retry-After``; any other status is permanent.

    Args:
        url: the base URL (``https://host[:port][/prefix]``).
        endpoint: the path under it; by default ``api/v1/lineage`` (``api/v1/lineage/batch`` in the batch mode).
        mode: see above.
        compression: ``"gzip"`` to compress bodies (``Content-Encoding: gzip``).
        timeout: seconds to connect and for each read of the answer.
        api_key: sent as ``Authorization: Bearer <key>`` (the OpenLineage client's ``api_key`` auth), or as the
            bare value of ``api_key_header`` when that is another header, such as ``X-API-Key``.
        headers: more headers for every request.
        verify: check the server's TLS certificate (``False`` not to; a path for a CA bundle).
        registry: the schema registry for the CloudEvents modes (the envelope validates what it carries).
    """

    def __init__(
        self,
        url: str,
        *,
        endpoint: str | None = None,
        mode: HttpMode = "openlineage",
        compression: Literal["gzip"] | None = None,
        timeout: float = 5.0,
        api_key: str | None = None,
        api_key_header: str = "Authorization",
        headers: Mapping[str, str] | None = None,
        verify: bool | str = True,
        registry: Registry | None = None,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise DocumentError(f"not an http(s) URL: {url!r}", source="HttpTransport", rule="config")
        self.mode: HttpMode = mode
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        if endpoint is None:
            endpoint = "api/v1/lineage/batch" if mode == "openlineage-batch" else "api/v1/lineage"
        path = parts.path.rstrip("/") + "/" + endpoint.lstrip("/")
        self._target = path + (f"?{parts.query}" if parts.query else "")
        host = f"[{self._host}]" if ":" in self._host else self._host
        self.url = f"{parts.scheme}://{host}{f':{self._port}' if self._port else ''}{path}"
        self._gzip = compression == "gzip"
        self._timeout = timeout
        self._headers = {"user-agent": f"aifabric/{__version__}"}
        self._headers.update({k.lower(): v for k, v in (headers or {}).items()})
        if api_key is not None:
            name = api_key_header.lower()
            self._headers[name] = f"Bearer {api_key}" if name == "authorization" else api_key
        self._registry = registry
        self._ssl: ssl.SSLContext | None = None
        if self._https:
            self._ssl = ssl.create_default_context(cafile=verify if isinstance(verify, str) else None)
            if verify is False:
                self._ssl.check_hostname = False
                self._ssl.verify_mode = ssl.CERT_NONE
        self._conn: http.client.HTTPConnection | None = None

    @classmethod
    def from_config(cls, config: HttpConfig, *, registry: Registry | None = None) -> HttpTransport:
        """The transport an :class:`~aifabric.lineage.config.HttpConfig` describes."""
        return cls(
            config.url,
            endpoint=config.endpoint,
            mode=config.mode,
            compression=config.compression,
            timeout=config.timeout,
            api_key=config.api_key,
            api_key_header=config.api_key_header,
            headers=config.headers,
            verify=config.verify,
            registry=registry,
        )

    def __repr__(self) -> str:
        return f"HttpTransport({self.url!r}, mode={self.mode!r})"

    def send(self, batch: Sequence[bytes]) -> None:
        """POST the batch as the mode says; raise a :class:`TransportError` naming how many arrived."""
        if not batch:
            return
        if self.mode == "openlineage":
            for n, payload in enumerate(batch):
                self._post(payload, {"content-type": _JSON}, delivered=n)
        elif self.mode == "openlineage-batch":
            answer = self._post(b"[" + b",".join(batch) + b"]", {"content-type": _JSON}, delivered=0)
            _check_partial_success(answer, self.url)
        elif self.mode == "cloudevents-batch":
            from aifabric.envelope import BATCH_CONTENT_TYPE

            bodies = [self._envelope(payload, n).body for n, payload in enumerate(batch)]
            self._post(b"[" + b",".join(bodies) + b"]", {"content-type": BATCH_CONTENT_TYPE}, delivered=0)
        else:
            for n, payload in enumerate(batch):
                message = self._envelope(payload, n)
                self._post(message.body, message.headers, delivered=n)

    def _envelope(self, payload: bytes, index: int) -> Message:
        from aifabric import envelope

        doc = orjson.loads(payload)
        when = doc.get("eventTime") if isinstance(doc, dict) else None
        try:
            if self.mode == "cloudevents-binary":
                return envelope.to_binary(doc, registry=self._registry, time=when)
            return envelope.to_structured(doc, registry=self._registry, time=when)
        except AifabricError as exc:
            raise PermanentTransportError(f"cannot envelope the event: {exc}", delivered=index) from None

    def _post(self, body: bytes, headers: Mapping[str, str], *, delivered: int) -> bytes:
        headers = {**self._headers, **headers}
        if self._gzip:
            body = gzip.compress(body, compresslevel=6, mtime=0)
            headers["content-encoding"] = "gzip"
        for attempt in (0, 1):
            reused = self._conn is not None
            conn = self._conn or self._connect()
            try:
                conn.request("POST", self._target, body, headers)
                response = conn.getresponse()
                answer = response.read()
            except _STALE:
                self._drop()
                if reused and attempt == 0:  # the server closed an idle keep-alive connection: reconnect once
                    continue
                raise RetryableTransportError(f"{self.url} closed the connection", delivered=delivered) from None
            except TimeoutError:
                self._drop()
                raise RetryableTransportError(
                    f"no answer from {self.url} within {self._timeout:g} s", delivered=delivered
                ) from None
            except (OSError, http.client.HTTPException) as exc:
                self._drop()
                reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
                raise RetryableTransportError(f"cannot reach {self.url}: {reason}", delivered=delivered) from None
            if response.will_close:
                self._drop()
            status = response.status
            if 200 <= status < 300:
                return answer
            message = f"HTTP {status} {response.reason} from {self.url}"
            detail = answer[:500].decode("utf-8", "replace") or None
            if status in _RETRYABLE_STATUS:
                retry_after = _retry_after(response.getheader("retry-after"))
                raise RetryableTransportError(message, delivered=delivered, retry_after=retry_after, detail=detail)
            raise PermanentTransportError(message, delivered=delivered, detail=detail)
        raise AssertionError("unreachable")  # pragma: no cover

    def _connect(self) -> http.client.HTTPConnection:
        if self._https:
            self._conn = http.client.HTTPSConnection(self._host, self._port, timeout=self._timeout, context=self._ssl)
        else:
            self._conn = http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)
        return self._conn

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def close(self) -> None:
        """Close the keep-alive connection."""
        self._drop()


def _retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header: delta-seconds or an HTTP date (RFC 9110 section 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if re.fullmatch(r"[0-9]{1,10}", value):
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _check_partial_success(answer: bytes, url: str) -> None:
    """The OpenLineage batch endpoint may accept some events only; resend from the first retriable failure."""
    try:
        parsed = orjson.loads(answer) if answer.strip() else None
    except orjson.JSONDecodeError:
        return
    if not isinstance(parsed, dict) or parsed.get("status") != "partial_success":
        return
    failed = [f for f in parsed.get("failed_events") or [] if isinstance(f, dict) and isinstance(f.get("index"), int)]
    retriable = sorted(f["index"] for f in failed if f.get("retriable"))
    others = [f for f in failed if not f.get("retriable")]
    if others:
        _log.warning("%s refused %d event(s) of a batch for good: %s", url, len(others), others[:5])
    if retriable:
        raise RetryableTransportError(
            f"{url} accepted part of a batch; {len(retriable)} event(s) to retry", delivered=retriable[0]
        )


# --- composite -------------------------------------------------------------------------------------------


class CompositeTransport:
    """Several transports as one.

    In ``all`` mode each batch must reach every transport; a transport that already took part of a batch is not
    sent that part again when the batch is retried for another's sake. In ``first`` mode the transports are
    tried in order and the first to accept each event is enough.
    """

    def __init__(self, transports: Sequence[Transport], *, mode: Literal["all", "first"] = "all") -> None:
        if not transports:
            raise DocumentError("a composite transport needs at least one transport", rule="config")
        self.transports = list(transports)
        self.mode = mode
        self._ahead: list[list[bytes]] = [[] for _ in self.transports]

    def send(self, batch: Sequence[bytes]) -> None:
        """Send to all (or to the first that accepts), as the mode says."""
        if self.mode == "first":
            self._send_first(batch)
        else:
            self._send_all(batch)

    def _send_all(self, batch: Sequence[bytes]) -> None:
        reached: list[int] = []
        errors: list[TransportError] = []
        for n, transport in enumerate(self.transports):
            ahead = self._ahead[n]
            skip = len(ahead) if list(batch[: len(ahead)]) == ahead else 0
            try:
                if skip < len(batch):
                    transport.send(batch[skip:])
                reached.append(len(batch))
            except TransportError as exc:
                reached.append(skip + max(0, exc.delivered))
                errors.append(exc)
            except Exception as exc:  # noqa: BLE001 - a transport's bug must not lose the others' progress
                reached.append(skip)
                errors.append(RetryableTransportError(f"{type(exc).__name__}: {exc}"))
        done = min(reached)
        for n in range(len(self.transports)):
            self._ahead[n] = list(batch[done : reached[n]])
        if errors:
            raise _combine(errors, done)

    def _send_first(self, batch: Sequence[bytes]) -> None:
        done = 0
        errors: list[TransportError] = []
        for transport in self.transports:
            try:
                transport.send(batch[done:])
                return
            except TransportError as exc:
                done += max(0, exc.delivered)
                errors.append(exc)
            except Exception as exc:  # noqa: BLE001 - see _send_all
                errors.append(RetryableTransportError(f"{type(exc).__name__}: {exc}"))
        raise _combine(errors, done)

    def close(self) -> None:
        """Close every transport."""
        for transport in self.transports:
            transport.close()


def _combine(errors: list[TransportError], delivered: int) -> TransportError:
    message = "; ".join(str(e) for e in errors)
    retryable = [e for e in errors if e.retryable]
    if retryable:
        waits = [e.retry_after for e in retryable if e.retry_after is not None]
        return RetryableTransportError(message, delivered=delivered, retry_after=max(waits) if waits else None)
    return PermanentTransportError(message, delivered=delivered)


# --- from configuration ----------------------------------------------------------------------------------


def transport_from_config(config: TransportConfig, *, registry: Registry | None = None) -> Transport:
    """The transport a configuration describes (see :mod:`aifabric.lineage.config`)."""
    if isinstance(config, HttpConfig):
        return HttpTransport.from_config(config, registry=registry)
    if isinstance(config, FileConfig):
        return FileTransport(config.path, max_bytes=config.max_bytes, backups=config.backups, fsync=config.fsync)
    if isinstance(config, ConsoleConfig):
        return ConsoleTransport(stream=config.stream)
    if isinstance(config, NatsConfig | KafkaConfig):
        from aifabric.lineage._streams import KafkaTransport, NatsTransport

        if isinstance(config, NatsConfig):
            return NatsTransport.from_config(config, registry=registry)
        return KafkaTransport.from_config(config, registry=registry)
    if isinstance(config, CompositeConfig):
        children = [transport_from_config(c, registry=registry) for c in config.transports]
        return CompositeTransport(children, mode=config.mode)
    raise DocumentError(f"not a transport configuration: {type(config).__name__}", rule="config")
