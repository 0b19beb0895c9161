"""Streaming transports against real peers: a nats-server with JetStream; Kafka when a broker is named.

NATS tests start ``nats-server -js`` (the Debian package ``nats-server``) on a free loopback port and skip when the
binary is absent. Kafka tests that need a broker run only when ``AIFABRIC_TEST_KAFKA`` names one; message
construction and the unreachable-broker case run everywhere.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from aifabric.lineage.config import EmitterConfig, KafkaConfig, NatsConfig, transport_config
from aifabric.lineage.emitter import Emitter, run_event
from aifabric.lineage.transports import PermanentTransportError, RetryableTransportError, transport_from_config
from aifabric.schemas import Registry
from tests.conftest import free_port

nats = pytest.importorskip("nats", reason="the nats extra (nats-py) is not installed")
from aifabric.lineage._streams import KafkaTransport, NatsTransport  # noqa: E402

NATS_SERVER = shutil.which("nats-server")
STREAM = "LINEAGE"


def _events(n: int, job: str = "job") -> list[bytes]:
    return [orjson.dumps(run_event("OTHER", "tests", f"{job}-{i}")) for i in range(n)]


class NatsServer:
    """A nats-server with JetStream on a loopback port, its store in a temporary folder; stoppable and restartable."""

    def __init__(self, store: Path) -> None:
        assert NATS_SERVER is not None
        self.store = store
        self.port = free_port()
        self.url = f"nats://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [str(NATS_SERVER), "-js", "-a", "127.0.0.1", "-p", str(self.port), "-sd", str(self.store)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.02)
        raise RuntimeError("nats-server did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None

    def call(self, work: Callable[[Any], Any]) -> Any:
        """Run ``await work(js)`` on a fresh connection."""

        async def go() -> Any:
            nc = await nats.connect(self.url)
            try:
                return await work(nc.jetstream())
            finally:
                await nc.close()

        return asyncio.run(go())

    def stored(self) -> list[tuple[str, dict[str, str], bytes]]:
        """Every message of the stream: subject, headers, payload."""

        async def read(js: Any) -> list[tuple[str, dict[str, str], bytes]]:
            info = await js.stream_info(STREAM)
            out = []
            for seq in range(info.state.first_seq, info.state.last_seq + 1):
                msg = await js.get_msg(STREAM, seq)
                out.append((msg.subject, dict(msg.headers or {}), msg.data or b""))
            return out

        result: list[tuple[str, dict[str, str], bytes]] = self.call(read)
        return result


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    if NATS_SERVER is None:
        pytest.skip("nats-server is not installed (apt-get install -y nats-server)")
    server = NatsServer(tmp_path / "jetstream")

    async def create(js: Any) -> None:
        await js.add_stream(name=STREAM, subjects=["lineage.>"])

    server.call(create)
    yield server
    server.stop()


@pytest.fixture
def nats_transport(nats_server: NatsServer, openlineage_registry: Registry) -> Iterator[Callable[..., NatsTransport]]:
    made: list[NatsTransport] = []

    def make(subject: str = "lineage.{namespace}.{job}", **options: Any) -> NatsTransport:
        options.setdefault("timeout", 1.0)
        made.append(NatsTransport(nats_server.url, subject, registry=openlineage_registry, **options))
        return made[-1]

    yield make
    for transport in made:
        transport.close()


def _parse_structured(body: bytes) -> Any:
    from cloudevents.core.formats.json import JSONFormat

    return JSONFormat().read(None, body)


# --- NATS --------------------------------------------------------------------------------------------------


def test_nats_structured_events_arrive_in_order_as_cloudevents(
    nats_server: NatsServer, nats_transport: Callable[..., NatsTransport]
) -> None:
    batch = _events(5)
    nats_transport(stream=STREAM).send(batch)
    stored = nats_server.stored()
    assert [orjson.loads(body)["data"] for _, _, body in stored] == [orjson.loads(b) for b in batch]
    for (subject, headers, body), payload in zip(stored, batch, strict=True):
        event = _parse_structured(body)
        doc = orjson.loads(payload)
        assert event.get_data() == doc
        assert event.get_type().startswith("dev.aifabric.")
        assert event.get_source() == doc["producer"]
        assert headers["Content-Type"] == "application/cloudevents+json"
        assert headers["Nats-Msg-Id"] == event.get_id()
        assert subject == f"lineage.tests.{doc['job']['name']}"


def test_nats_binary_mode_puts_attributes_in_ce_headers(
    nats_server: NatsServer, nats_transport: Callable[..., NatsTransport]
) -> None:
    batch = _events(2)
    nats_transport("lineage.all", mode="binary").send(batch)
    stored = nats_server.stored()
    for (subject, headers, body), payload in zip(stored, batch, strict=True):
        assert subject == "lineage.all"
        assert orjson.loads(body) == orjson.loads(payload)
        assert headers["ce-specversion"] == "1.0"
        assert headers["ce-datacontenttype"] == "application/json"
        assert headers["ce-type"].startswith("dev.aifabric.")
        assert headers["Nats-Msg-Id"] == headers["ce-id"]


def test_nats_subject_template_keeps_each_name_one_token(nats_transport: Callable[..., NatsTransport]) -> None:
    transport = nats_transport()
    doc = {"job": {"namespace": "prod db", "name": "dag.task>*"}}
    assert transport.subject_for(doc) == "lineage.prod_db.dag_task_"


def test_nats_replaying_a_batch_does_not_duplicate(
    nats_server: NatsServer, nats_transport: Callable[..., NatsTransport]
) -> None:
    batch = _events(10)
    transport = nats_transport()
    transport.send(batch)
    transport.send(batch)
    transport.send(batch[3:7])
    assert len(nats_server.stored()) == 10


def test_nats_subject_no_stream_holds_is_permanent(nats_transport: Callable[..., NatsTransport]) -> None:
    with pytest.raises(PermanentTransportError, match="no JetStream stream") as caught:
        nats_transport("elsewhere.{job}").send(_events(2))
    assert caught.value.delivered == 0


def test_nats_event_it_cannot_envelope_is_permanent(nats_transport: Callable[..., NatsTransport]) -> None:
    with pytest.raises(PermanentTransportError, match="cannot envelope") as caught:
        nats_transport().send([*_events(1), b'{"eventType":"START"}'])
    assert caught.value.delivered == 1


def test_nats_server_down_is_retryable_and_delivery_resumes(
    nats_server: NatsServer, nats_transport: Callable[..., NatsTransport]
) -> None:
    transport = nats_transport()
    first, second = _events(3, "a"), _events(3, "b")
    transport.send(first)
    nats_server.stop()
    started = time.monotonic()
    with pytest.raises(RetryableTransportError) as caught:
        transport.send(second)
    assert caught.value.delivered == 0
    assert time.monotonic() - started < 5
    nats_server.start()
    transport.send(second)
    assert [orjson.loads(b)["data"] for _, _, b in nats_server.stored()] == [orjson.loads(e) for e in first + second]


def test_nats_unreachable_server_is_retryable(openlineage_registry: Registry) -> None:
    transport = NatsTransport(f"nats://127.0.0.1:{free_port()}", "lineage.x", registry=openlineage_registry)
    try:
        with pytest.raises(RetryableTransportError, match="cannot connect"):
            transport.send(_events(1))
    finally:
        transport.close()


@pytest.mark.slow
def test_emitter_delivers_1000_events_exactly_once_across_a_server_restart(
    nats_server: NatsServer,
    nats_transport: Callable[..., NatsTransport],
    tmp_path: Path,
    openlineage_registry: Registry,
) -> None:
    transport = nats_transport()
    config = EmitterConfig(spool_dir=tmp_path / "spool", backoff_initial=0.05, backoff_max=0.3, batch_size=50)
    emitter = Emitter(transport, config, registry=openlineage_registry)
    events = [run_event("OTHER", "tests", f"job-{i % 7}") for i in range(1000)]
    try:
        for event in events[:500]:
            emitter.emit(event)
        nats_server.stop()
        for event in events[500:]:
            emitter.emit(event)
        time.sleep(0.3)
        nats_server.start()
        result = emitter.flush(20)
        assert not result.timed_out, result
    finally:
        emitter.close(5)
    stored = nats_server.stored()
    runs = [orjson.loads(body)["data"]["run"]["runId"] for _, _, body in stored]
    assert len(runs) == len(set(runs)) == 1000
    assert set(runs) == {e["run"]["runId"] for e in events}
    for n in range(7):  # each job's events in emission order
        want = [e["run"]["runId"] for e in events if e["job"]["name"] == f"job-{n}"]
        got = [orjson.loads(b)["data"]["run"]["runId"] for s, _, b in stored if s.endswith(f".job-{n}")]
        assert got == want


# --- Kafka -------------------------------------------------------------------------------------------------


@pytest.fixture
def kafka_transport(openlineage_registry: Registry) -> Iterator[Callable[..., KafkaTransport]]:
    pytest.importorskip("confluent_kafka", reason="the kafka extra (confluent-kafka) is not installed")
    made: list[KafkaTransport] = []

    def make(servers: str, topic: str = "lineage", **options: Any) -> KafkaTransport:
        made.append(KafkaTransport(servers, topic, registry=openlineage_registry, **options))
        return made[-1]

    yield make
    for transport in made:
        transport.close()


@pytest.mark.parametrize("mode", ["structured", "binary"])
def test_kafka_messages_parse_with_the_sdk_kafka_binding(
    mode: Any, kafka_transport: Callable[..., KafkaTransport]
) -> None:
    from cloudevents.core.bindings import kafka
    from cloudevents.core.formats.json import JSONFormat

    transport = kafka_transport("127.0.0.1:9", mode=mode)
    payload = _events(1)[0]
    doc = orjson.loads(payload)
    key, headers, value = transport.message(payload)
    assert key == b"tests/job-0"
    header_map = dict(headers)
    if mode == "structured":
        assert header_map == {"content-type": b"application/cloudevents+json"}
    else:
        assert header_map["ce_specversion"] == b"1.0"
        assert header_map["content-type"] == b"application/json"
        assert orjson.loads(value) == doc
    event = kafka.from_kafka(kafka.KafkaMessage(headers=header_map, key=key, value=value), JSONFormat())
    data = event.get_data()
    assert (orjson.loads(data) if isinstance(data, bytes) else data) == doc
    assert event.get_dataschema() == doc["schemaURL"]
    assert event.get_id().startswith("sha256:")


def test_kafka_unreachable_broker_is_retryable_quickly(kafka_transport: Callable[..., KafkaTransport]) -> None:
    transport = kafka_transport(f"127.0.0.1:{free_port()}", timeout=1.0)
    started = time.monotonic()
    with pytest.raises(RetryableTransportError) as caught:
        transport.send(_events(3))
    assert caught.value.delivered == 0
    assert time.monotonic() - started < 8


def test_kafka_event_it_cannot_envelope_is_permanent(kafka_transport: Callable[..., KafkaTransport]) -> None:
    with pytest.raises(PermanentTransportError, match="cannot envelope"):
        kafka_transport("127.0.0.1:9").send([b'{"eventType":"START"}'])


@pytest.mark.kafka
def test_kafka_broker_receives_events_in_order(kafka_transport: Callable[..., KafkaTransport]) -> None:
    broker = os.environ.get("AIFABRIC_TEST_KAFKA")
    if not broker:
        pytest.skip("set AIFABRIC_TEST_KAFKA=host:port to run the tests that need a Kafka broker")
    from confluent_kafka import Consumer

    topic = f"aifabric-test-{time.time_ns()}"
    batch = _events(5)
    kafka_transport(broker, topic, mode="binary").send(batch)
    consumer = Consumer({"bootstrap.servers": broker, "group.id": topic, "auto.offset.reset": "earliest"})
    try:
        consumer.subscribe([topic])
        got: list[Any] = []
        deadline = time.monotonic() + 20
        while len(got) < len(batch) and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            value = msg.value() if msg is not None and msg.error() is None else None
            if value is not None:
                got.append(orjson.loads(value))
    finally:
        consumer.close()
    assert sorted(got, key=lambda d: d["job"]["name"]) == [orjson.loads(b) for b in batch]


# --- configuration -----------------------------------------------------------------------------------------


def test_stream_transports_are_built_from_config_blocks(nats_server: NatsServer) -> None:
    nats_config = transport_config(
        {"type": "nats", "servers": nats_server.url, "subject": "lineage.{job}", "stream": STREAM, "mode": "binary"}
    )
    assert isinstance(nats_config, NatsConfig)
    assert nats_config.servers == (nats_server.url,)
    made = transport_from_config(nats_config)
    assert isinstance(made, NatsTransport)
    assert made.mode == "binary"
    made.close()
    kafka_config = transport_config(
        {"type": "kafka", "bootstrapServers": "k:9092", "topic": "t", "properties": {"compression.type": "zstd"}}
    )
    assert isinstance(kafka_config, KafkaConfig)
    assert kafka_config.properties == {"compression.type": "zstd"}
    assert isinstance(transport_from_config(kafka_config), KafkaTransport)


@pytest.mark.parametrize(
    ("block", "words"),
    [
        ({"type": "nats", "subject": "x"}, "/transport/servers: is required"),
        ({"type": "nats", "servers": "nats://h"}, "/transport/subject: is required"),
        ({"type": "kafka", "topic": "t"}, "/transport/bootstrapServers: is required"),
        ({"type": "kafka", "bootstrapServers": "h:1", "topic": "t", "mode": "x"}, "/transport/mode"),
    ],
)
def test_bad_stream_blocks_name_the_pointer(block: Any, words: str) -> None:
    from aifabric import DocumentError

    with pytest.raises(DocumentError, match=words):
        transport_config(block)
