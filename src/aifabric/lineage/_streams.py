"""Streaming transports: NATS JetStream and Kafka, each event as a CloudEvent.

Both need an extra (``nats`` for ``nats-py``, ``kafka`` for ``confluent-kafka``), imported only when a transport is
made, and a schema registry that knows the events' schema (the envelope validates what it carries).

:class:`NatsTransport` follows the CloudEvents NATS protocol binding: structured mode puts the JSON event format in
the payload with ``Content-Type: application/cloudevents+json``; binary mode puts the data in the payload and every
attribute in a ``ce-<name>`` header (``ce-datacontenttype`` included). Each publish waits for the JetStream ack, and
carries ``Nats-Msg-Id`` = the event id, so a replay inside the stream's duplicate window is stored once.

:class:`KafkaTransport` follows the CloudEvents Kafka protocol binding (``ce_`` headers and ``content-type`` in
binary mode; ``content-type: application/cloudevents+json`` in structured mode) with an idempotent producer. The
message key is ``namespace/job``, so a job's events stay in one partition, in order. A message whose delivery timed
out may still have arrived, so a retry can duplicate it: consumers dedup on ``source`` + ``id``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import threading
from collections.abc import Coroutine, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, Literal, TypeVar

import orjson

from aifabric._errors import AifabricError, DocumentError, PermanentTransportError, RetryableTransportError

if TYPE_CHECKING:
    from aifabric.envelope import Message
    from aifabric.lineage.config import KafkaConfig, NatsConfig
    from aifabric.schemas import Registry

__all__ = ["KafkaTransport", "NatsTransport", "StreamMode"]

StreamMode = Literal["structured", "binary"]
"""CloudEvents content mode: the whole event in the payload, or attributes in headers and the data as payload."""

_log = logging.getLogger("aifabric.lineage")
_T = TypeVar("_T")
_UNSAFE_TOKEN: Final = re.compile(r"[\s.*>]+")


def _job_of(doc: Any) -> tuple[str, str]:
    job = doc.get("job") if isinstance(doc, dict) else None
    if isinstance(job, dict):
        return str(job.get("namespace") or "_"), str(job.get("name") or "_")
    return "_", "_"


def _envelope(payload: bytes, index: int, mode: StreamMode, registry: Registry | None) -> tuple[Any, Message]:
    """The parsed event and its CloudEvents message (HTTP-shaped, lower-case headers)."""
    from aifabric import envelope

    try:
        doc = orjson.loads(payload)
        when = doc.get("eventTime") if isinstance(doc, dict) else None
        if mode == "binary":
            return doc, envelope.to_binary(doc, registry=registry, time=when)
        return doc, envelope.to_structured(doc, registry=registry, time=when)
    except (AifabricError, orjson.JSONDecodeError) as exc:
        raise PermanentTransportError(f"cannot envelope the event: {exc}", delivered=index) from None


def _need(module: str, extra: str) -> None:
    raise DocumentError(
        f"this transport needs {module}: pip install 'aifabric[{extra}]'", source="transport", rule="config"
    )


# --- NATS JetStream --------------------------------------------------------------------------------------


class NatsTransport:
    """Publish each event to NATS JetStream and wait for its ack.

    Args:
        servers: ``nats://host:port`` URL(s).
        subject: the subject, or a template with ``{namespace}`` and ``{job}`` (as ``lineage.{namespace}.{job}``):
            dots, spaces, ``*`` and ``>`` in the names become ``_`` so that each stays one subject token.
        stream: the stream expected to hold the subject (JetStream then refuses a publish that lands elsewhere).
        mode: ``structured`` or ``binary`` (see the module).
        timeout: seconds to wait for each ack.
        connect_timeout: seconds to connect.
        credentials: a ``.creds`` file (JWT and NKey seed); or ``token``, or ``user`` and ``password``.
        registry: the schema registry the envelope validates with.

    Connection failures and timeouts are retryable; a subject no stream holds, an event over the server's size
    limits or any other JetStream refusal but 5xx is permanent.
    """

    def __init__(
        self,
        servers: str | Sequence[str],
        subject: str,
        *,
        stream: str | None = None,
        mode: StreamMode = "structured",
        timeout: float = 5.0,
        connect_timeout: float = 2.0,
        credentials: str | None = None,
        token: str | None = None,
        user: str | None = None,
        password: str | None = None,
        registry: Registry | None = None,
    ) -> None:
        try:
            import nats  # noqa: F401
        except ImportError:  # pragma: no cover - depends on the environment
            _need("nats-py", "nats")
        self.servers = [servers] if isinstance(servers, str) else list(servers)
        self.subject = subject
        self.stream = stream
        self.mode: StreamMode = mode
        self._timeout = timeout
        self._connect_timeout = connect_timeout
        self._auth: dict[str, Any] = {
            k: v
            for k, v in (("user_credentials", credentials), ("token", token), ("user", user), ("password", password))
            if v is not None
        }
        self._registry = registry
        self._nc: Any = None
        self._js: Any = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="aifabric-lineage-nats", daemon=True)
        self._thread.start()

    @classmethod
    def from_config(cls, config: NatsConfig, *, registry: Registry | None = None) -> NatsTransport:
        """The transport a :class:`~aifabric.lineage.config.NatsConfig` describes."""
        return cls(
            config.servers,
            config.subject,
            stream=config.stream,
            mode=config.mode,
            timeout=config.timeout,
            credentials=config.credentials,
            token=config.token,
            user=config.user,
            password=config.password,
            registry=registry,
        )

    def __repr__(self) -> str:
        return f"NatsTransport({self.servers!r}, {self.subject!r}, mode={self.mode!r})"

    def subject_for(self, doc: Any) -> str:
        """The subject an event goes to (the template filled with its job's namespace and name)."""
        if "{" not in self.subject:
            return self.subject
        namespace, job = _job_of(doc)
        return self.subject.format(
            namespace=_UNSAFE_TOKEN.sub("_", namespace) or "_", job=_UNSAFE_TOKEN.sub("_", job) or "_"
        )

    def message(self, payload: bytes, index: int = 0) -> tuple[str, dict[str, str], bytes]:
        """The subject, NATS headers and payload an event is published as."""
        doc, message = _envelope(payload, index, self.mode, self._registry)
        if self.mode == "binary":
            headers = {k: v for k, v in message.headers.items() if k.startswith("ce-")}
            if "content-type" in message.headers:
                headers["ce-datacontenttype"] = message.headers["content-type"]
            event_id = headers["ce-id"]
        else:
            headers = {"Content-Type": message.headers["content-type"]}
            event_id = orjson.loads(message.body)["id"]
        headers["Nats-Msg-Id"] = event_id
        if self.stream is not None:
            headers["Nats-Expected-Stream"] = self.stream
        return self.subject_for(doc), headers, message.body

    def send(self, batch: Sequence[bytes]) -> None:
        """Publish the events in order, each acknowledged by JetStream before the next."""
        if not batch:
            return
        if self._loop.is_closed():
            raise PermanentTransportError("the NATS transport is closed", delivered=0)
        messages = [self.message(payload, n) for n, payload in enumerate(batch)]
        self._run(self._publish(messages), len(messages) * self._timeout + self._connect_timeout + 5)

    def _run(self, coro: Coroutine[Any, Any, _T], limit: float) -> _T:
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(limit)
        except TimeoutError:
            future.cancel()
            raise RetryableTransportError(f"{self._where()}: no answer within {limit:g} s", delivered=0) from None

    async def _connect(self) -> Any:
        import nats

        if self._nc is not None and self._nc.is_connected:
            return self._js
        await self._drop()

        async def quiet(*_: Any) -> None:
            return None

        try:
            connecting = nats.connect(
                self.servers,
                connect_timeout=max(1, round(self._connect_timeout)),
                allow_reconnect=False,
                max_reconnect_attempts=1,  # 0 would retry the first connect for ever
                reconnect_time_wait=0,
                error_cb=quiet,
                disconnected_cb=quiet,
                closed_cb=quiet,
                **self._auth,
            )
            self._nc = await asyncio.wait_for(connecting, self._connect_timeout * (len(self.servers) + 1))
        except Exception as exc:  # noqa: BLE001 - nats-py raises OSError, its own errors and asyncio's
            raise RetryableTransportError(f"cannot connect to {self._where()}: {_reason(exc)}", delivered=0) from None
        self._js = self._nc.jetstream(timeout=self._timeout)
        return self._js

    async def _drop(self) -> None:
        nc, self._nc, self._js = self._nc, None, None
        if nc is not None:
            try:
                await asyncio.wait_for(nc.close(), self._timeout)
            except Exception as exc:  # noqa: BLE001 - closing a broken connection may fail any way
                _log.debug("closing the NATS connection: %s", exc)

    async def _publish(self, messages: list[tuple[str, dict[str, str], bytes]]) -> None:
        import nats.errors
        import nats.js.errors

        js = await self._connect()
        for n, (subject, headers, body) in enumerate(messages):
            try:
                await asyncio.wait_for(js.publish(subject, body, timeout=self._timeout, headers=headers), self._timeout)
            except nats.errors.MaxPayloadError as exc:
                raise PermanentTransportError(f"{self._where()}: event too large: {exc}", delivered=n) from None
            except nats.js.errors.NoStreamResponseError:
                await self._no_stream(js, subject, n)
            except nats.errors.NoRespondersError:
                await self._no_stream(js, subject, n)
            except (nats.js.errors.ServiceUnavailableError, nats.js.errors.ServerError) as exc:
                raise RetryableTransportError(f"{self._where()}: {exc.description}", delivered=n) from None
            except nats.js.errors.APIError as exc:
                raise PermanentTransportError(
                    f"{self._where()} refused the event on {subject!r}: {exc.description} (code {exc.err_code})",
                    delivered=n,
                ) from None
            except (TimeoutError, nats.errors.Error, OSError) as exc:
                await self._drop()
                raise RetryableTransportError(f"{self._where()}: {_reason(exc)}", delivered=n) from None

    async def _no_stream(self, js: Any, subject: str, delivered: int) -> None:
        """Permanent when JetStream answers that no stream holds the subject; retryable while it cannot tell."""
        import nats.js.errors

        try:
            await js.find_stream_name_by_subject(subject)
        except nats.js.errors.NotFoundError:
            raise PermanentTransportError(
                f"{self._where()}: no JetStream stream holds subject {subject!r}", delivered=delivered
            ) from None
        except Exception as exc:  # noqa: BLE001 - JetStream not ready (restarting): try again later
            await self._drop()
            raise RetryableTransportError(
                f"{self._where()}: JetStream did not answer for {subject!r}: {_reason(exc)}", delivered=delivered
            ) from None
        raise RetryableTransportError(f"{self._where()}: no ack for {subject!r}; try again", delivered=delivered)

    def _where(self) -> str:
        return ",".join(self.servers)

    def close(self) -> None:
        """Close the connection and stop the private event loop."""
        if self._loop.is_closed():
            return
        try:
            self._run(self._drop(), self._timeout + 5)
        except Exception as exc:  # noqa: BLE001 - closing must not fail
            _log.debug("closing the NATS transport: %s", exc)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        if not self._loop.is_running():
            self._loop.close()


# --- Kafka -----------------------------------------------------------------------------------------------


class KafkaTransport:
    """Produce each event to a Kafka topic through an idempotent ``confluent-kafka`` producer.

    Args:
        bootstrap_servers: ``host:port[,host:port...]``.
        topic: the topic.
        mode: ``structured`` or ``binary`` (see the module).
        timeout: seconds a batch may take to be acknowledged (librdkafka's ``message.timeout.ms``).
        config: more librdkafka properties (security, compression ...); they override ours.
        registry: the schema registry the envelope validates with.
    """

    def __init__(
        self,
        bootstrap_servers: str,
        topic: str,
        *,
        mode: StreamMode = "structured",
        timeout: float = 10.0,
        config: Mapping[str, Any] | None = None,
        registry: Registry | None = None,
    ) -> None:
        try:
            import confluent_kafka  # noqa: F401
        except ImportError:  # pragma: no cover - depends on the environment
            _need("confluent-kafka", "kafka")
        self.bootstrap_servers = bootstrap_servers
        self.topic = topic
        self.mode: StreamMode = mode
        self._timeout = timeout
        ms = max(1, int(timeout * 1000))
        self._config: dict[str, Any] = {
            "bootstrap.servers": bootstrap_servers,
            "enable.idempotence": True,
            "acks": "all",
            "message.timeout.ms": ms,
            "socket.timeout.ms": max(10, min(ms, 60_000)),
            "socket.connection.setup.timeout.ms": max(1000, min(ms, 30_000)),
            "linger.ms": 5,
            "error_cb": self._on_error,
            "logger": _log,
            **dict(config or {}),
        }
        self._registry = registry
        self._producer: Any = None

    @classmethod
    def from_config(cls, config: KafkaConfig, *, registry: Registry | None = None) -> KafkaTransport:
        """The transport a :class:`~aifabric.lineage.config.KafkaConfig` describes."""
        return cls(
            config.bootstrap_servers,
            config.topic,
            mode=config.mode,
            timeout=config.timeout,
            config=config.properties,
            registry=registry,
        )

    def __repr__(self) -> str:
        return f"KafkaTransport({self.bootstrap_servers!r}, {self.topic!r}, mode={self.mode!r})"

    @staticmethod
    def _on_error(err: Any) -> None:
        _log.debug("kafka: %s", err)

    def message(self, payload: bytes, index: int = 0) -> tuple[bytes, list[tuple[str, bytes]], bytes]:
        """The key, headers and value an event is produced as (the CloudEvents Kafka binding)."""
        from cloudevents.core.bindings import kafka
        from cloudevents.core.formats.json import JSONFormat

        from aifabric import envelope

        try:
            doc = orjson.loads(payload)
            when = doc.get("eventTime") if isinstance(doc, dict) else None
            event = envelope.to_event(doc, registry=self._registry, time=when)
        except (AifabricError, orjson.JSONDecodeError) as exc:
            raise PermanentTransportError(f"cannot envelope the event: {exc}", delivered=index) from None
        namespace, job = _job_of(doc)
        key = f"{namespace}/{job}".encode()
        convert = kafka.to_binary if self.mode == "binary" else kafka.to_structured
        found = convert(event, JSONFormat(), key_mapper=lambda _: key)
        return key, list(found.headers.items()), found.value

    def send(self, batch: Sequence[bytes]) -> None:
        """Produce the batch and wait (up to the timeout) until the broker acknowledged every event."""
        if not batch:
            return
        from confluent_kafka import KafkaException

        messages = [self.message(payload, n) for n, payload in enumerate(batch)]
        if self._producer is None:
            from confluent_kafka import Producer

            self._producer = Producer(self._config)
        producer = self._producer
        errors: dict[int, Any] = {}
        produced = 0
        try:
            for n, (key, headers, value) in enumerate(messages):

                def report(err: Any, _msg: Any, n: int = n) -> None:
                    if err is not None:
                        errors[n] = err

                producer.produce(self.topic, value=value, key=key, headers=headers, on_delivery=report)
                produced = n + 1
        except BufferError:
            pass  # the local queue is full: wait for what was queued, retry the rest
        except KafkaException as exc:
            errors[produced] = exc.args[0] if exc.args else exc
        left = producer.flush(self._timeout + 5)
        first = min(errors) if errors else produced
        if left:
            self._producer = None  # what is still queued must not be sent behind a retry's back
            raise RetryableTransportError(
                f"kafka {self.bootstrap_servers}: {left} event(s) unacknowledged after {self._timeout:g} s",
                delivered=min(first, produced - left),
            )
        if first < len(messages):
            err = errors.get(first)
            if err is None:
                raise RetryableTransportError(f"kafka {self.bootstrap_servers}: local queue full", delivered=first)
            self._raise(err, first)

    def _raise(self, err: Any, delivered: int) -> None:
        from confluent_kafka import KafkaError

        name = err.name() if isinstance(err, KafkaError) else type(err).__name__
        text = err.str() if isinstance(err, KafkaError) else str(err)
        message = f"kafka {self.bootstrap_servers} topic {self.topic!r}: {name}: {text}"
        if isinstance(err, KafkaError):
            if err.fatal():
                self._producer = None  # a fatal idempotence error: start a fresh producer
                raise RetryableTransportError(message, delivered=delivered)
            if err.code() in _permanent_codes():
                raise PermanentTransportError(message, delivered=delivered)
        raise RetryableTransportError(message, delivered=delivered)

    def close(self) -> None:
        """Flush what is queued (up to the timeout) and drop the producer."""
        producer, self._producer = self._producer, None
        if producer is not None:
            producer.flush(self._timeout)


@functools.cache
def _permanent_codes() -> frozenset[int]:
    from confluent_kafka import KafkaError

    names = (
        "MSG_SIZE_TOO_LARGE",
        "_MSG_SIZE_TOO_LARGE",
        "INVALID_MSG",
        "INVALID_MSG_SIZE",
        "CORRUPT_MESSAGE",
        "INVALID_RECORD",
        "RECORD_LIST_TOO_LARGE",
        "TOPIC_AUTHORIZATION_FAILED",
        "TOPIC_EXCEPTION",
        "_INVALID_ARG",
        "_UNKNOWN_TOPIC",
    )
    return frozenset(getattr(KafkaError, n) for n in names if hasattr(KafkaError, n))


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
