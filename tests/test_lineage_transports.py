"""Transports against real peers: a loopback HTTP server, real files, real streams; and ``LineageServer``.

``LineageServer`` is the OpenLineage receiver the emitter tests use too: it records every request (headers and
body, gunzipped), and can answer 503 or 429 with ``Retry-After``, refuse some events with 400, sleep past a
client's timeout, and be stopped and restarted on the same port.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest

from aifabric.lineage.config import CompositeConfig, ConsoleConfig, FileConfig, HttpConfig, transport_config
from aifabric.lineage.emitter import run_event
from aifabric.lineage.transports import (
    CompositeTransport,
    ConsoleTransport,
    FileTransport,
    HttpTransport,
    PermanentTransportError,
    RetryableTransportError,
    Transport,
    transport_from_config,
)
from aifabric.schemas import Registry
from tests.conftest import free_port


@dataclass
class Received:
    """One request as the server saw it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes  # gunzipped when the request was gzipped
    raw: bytes
    status: int


Answer = tuple[int, dict[str, str], bytes]


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up (a timeout test) is expected; say nothing."""


class LineageServer:
    """A loopback HTTP receiver whose answers a test scripts."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: list[Received] = []
        self._failures: list[Answer] = []
        self._fail_until = 0.0
        self._fail_status = 503
        self._delays: list[float] = []
        self.refuse: Callable[[bytes], bool] = lambda body: False
        self.answer_body: bytes = b""
        self._connections: set[socket.socket] = set()
        self._stopping = False
        self._httpd: ThreadingHTTPServer | None = None
        self.port = 0
        self.start()

    # --- scripting ---

    def fail(self, count: int, status: int = 503, retry_after: str | None = None) -> None:
        """Answer the next ``count`` requests with ``status`` (and ``Retry-After``)."""
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        with self.lock:
            self._failures.extend([(status, headers, b"busy")] * count)

    def fail_for(self, seconds: float, status: int = 503) -> None:
        """Answer every request with ``status`` for ``seconds``."""
        with self.lock:
            self._fail_until = time.monotonic() + seconds
            self._fail_status = status

    def slow(self, count: int, seconds: float) -> None:
        """Sleep ``seconds`` before answering each of the next ``count`` requests."""
        with self.lock:
            self._delays.extend([seconds] * count)

    # --- lifecycle ---

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        server = self
        httpd = _QuietServer(("127.0.0.1", self.port), _Handler)
        httpd.owner = server  # type: ignore[attr-defined]
        self.port = httpd.server_address[1]
        self._stopping = False
        self._httpd = httpd
        threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()

    def stop(self) -> None:
        """Stop answering: requests in flight are dropped unrecorded, keep-alive connections are cut."""
        with self.lock:
            self._stopping = True
        httpd = self._httpd
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        for conn in list(self._connections):
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self._httpd = None

    def restart(self, pause: float = 0.0) -> None:
        self.stop()
        time.sleep(pause)
        self.start()

    # --- what arrived ---

    def accepted(self, path: str | None = None) -> list[Received]:
        with self.lock:
            return [r for r in self.requests if 200 <= r.status < 300 and (path is None or r.path == path)]

    def events(self) -> list[dict[str, Any]]:
        """Every event accepted, in arrival order (batch bodies flattened)."""
        out: list[dict[str, Any]] = []
        for request in self.accepted():
            parsed = orjson.loads(request.body)
            out.extend(parsed if isinstance(parsed, list) else [parsed])
        return out

    def _answer(self, body: bytes) -> Answer | None:
        with self.lock:
            if self._stopping:
                return None
            if self._failures:
                return self._failures.pop(0)
            if time.monotonic() < self._fail_until:
                return (self._fail_status, {}, b"down for maintenance")
        if self.refuse(body):
            return (400, {}, b'{"error":"unsupported event"}')
        return (200, {}, self.answer_body)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        self.owner._connections.add(self.connection)

    def finish(self) -> None:
        self.owner._connections.discard(self.connection)
        super().finish()

    @property
    def owner(self) -> LineageServer:
        owner: LineageServer = self.server.owner  # type: ignore[attr-defined]
        return owner

    def do_POST(self) -> None:
        owner = self.owner
        raw = self.rfile.read(int(self.headers.get("content-length", "0")))
        body = gzip.decompress(raw) if self.headers.get("content-encoding") == "gzip" else raw
        with owner.lock:
            delay = owner._delays.pop(0) if owner._delays else 0.0
        if delay:
            time.sleep(delay)
        answer = owner._answer(body)
        with owner.lock:  # record and answer under the lock, so that stop() never cuts an answer in half
            if answer is None or owner._stopping:
                self.close_connection = True
                return
            status, headers, payload = answer
            headers_seen = {k.lower(): v for k, v in self.headers.items()}
            owner.requests.append(Received("POST", self.path, headers_seen, body, raw, status))
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            self.wfile.flush()


@pytest.fixture
def server() -> Iterator[LineageServer]:
    found = LineageServer()
    yield found
    found.stop()


@pytest.fixture
def http() -> Iterator[Callable[..., HttpTransport]]:
    """Make HTTP transports that are closed after the test (an open socket is a ResourceWarning)."""
    made: list[HttpTransport] = []

    def make(url: str, **options: Any) -> HttpTransport:
        made.append(HttpTransport(url, **options))
        return made[-1]

    yield make
    for transport in made:
        transport.close()


def _events(n: int, job: str = "job") -> list[bytes]:
    return [orjson.dumps(run_event("OTHER", "tests", f"{job}-{i}")) for i in range(n)]


# --- HTTP: the OpenLineage API -----------------------------------------------------------------------------


def test_http_posts_one_event_per_request_to_the_lineage_endpoint(
    server: LineageServer, http: Callable[..., HttpTransport]
) -> None:
    transport = http(server.url)
    batch = _events(3)
    transport.send(batch)
    transport.close()
    got = server.accepted()
    assert [r.path for r in got] == ["/api/v1/lineage"] * 3
    assert [r.body for r in got] == batch
    assert got[0].headers["content-type"] == "application/json"
    assert got[0].headers["user-agent"].startswith("aifabric/")
    assert "content-encoding" not in got[0].headers


def test_http_keeps_a_url_prefix_and_a_custom_endpoint(
    server: LineageServer, http: Callable[..., HttpTransport]
) -> None:
    transport = http(server.url + "/marquez/", endpoint="/custom/lineage")
    transport.send(_events(1))
    assert server.accepted()[0].path == "/marquez/custom/lineage"
    assert transport.url == f"{server.url}/marquez/custom/lineage"


def test_http_gzip_and_bearer_api_key_are_seen_by_the_server(
    server: LineageServer, http: Callable[..., HttpTransport]
) -> None:
    transport = http(server.url, compression="gzip", api_key="s3cret", headers={"X-Tenant": "blue"})
    batch = _events(2)
    transport.send(batch)
    got = server.accepted()
    assert [r.body for r in got] == batch
    assert all(r.headers["content-encoding"] == "gzip" and r.raw != r.body for r in got)
    assert got[0].headers["authorization"] == "Bearer s3cret"
    assert got[0].headers["x-tenant"] == "blue"
    assert "s3cret" not in repr(transport)


def test_http_api_key_in_its_own_header(server: LineageServer, http: Callable[..., HttpTransport]) -> None:
    http(server.url, api_key="k-123", api_key_header="X-API-Key").send(_events(1))
    headers = server.accepted()[0].headers
    assert headers["x-api-key"] == "k-123"
    assert "authorization" not in headers


def test_http_503_is_retryable_with_retry_after_and_says_how_many_arrived(
    server: LineageServer, http: Callable[..., HttpTransport]
) -> None:
    transport = http(server.url)
    transport.send(_events(1))
    server.fail(1, 503, retry_after="7")
    batch = _events(3, "second")
    with pytest.raises(RetryableTransportError) as caught:
        transport.send(batch)
    assert caught.value.retry_after == 7.0
    assert caught.value.delivered == 0
    assert "503" in str(caught.value)
    with server.lock:  # the first event is accepted, the second refused: delivered=1, so the first is not resent
        server._failures.extend([(200, {}, b""), (503, {}, b"")])
    with pytest.raises(RetryableTransportError) as caught:
        transport.send(batch)
    assert caught.value.delivered == 1
    assert caught.value.retry_after is None


def test_http_429_with_an_http_date_retry_after(server: LineageServer, http: Callable[..., HttpTransport]) -> None:
    when = datetime.now(UTC) + timedelta(seconds=30)
    server.fail(1, 429, retry_after=format_datetime(when, usegmt=True))
    with pytest.raises(RetryableTransportError) as caught:
        http(server.url).send(_events(1))
    assert caught.value.retry_after is not None
    assert 25 <= caught.value.retry_after <= 30


@pytest.mark.parametrize("status", [400, 401, 404, 413, 422])
def test_http_4xx_is_permanent(server: LineageServer, status: int, http: Callable[..., HttpTransport]) -> None:
    server.fail(1, status)
    with pytest.raises(PermanentTransportError) as caught:
        http(server.url).send(_events(1))
    assert f"HTTP {status}" in str(caught.value)
    assert caught.value.detail == "busy"


def test_http_a_slow_server_times_out_retryably(server: LineageServer, http: Callable[..., HttpTransport]) -> None:
    server.slow(1, 1.0)
    transport = http(server.url, timeout=0.2)
    start = time.monotonic()
    with pytest.raises(RetryableTransportError, match=r"no answer .* within 0\.2 s"):
        transport.send(_events(1))
    assert time.monotonic() - start < 0.9
    time.sleep(0.9)  # the slow answer lands on a closed connection
    after = _events(1, "after")
    transport.send(after)  # and the transport reconnects
    assert server.accepted()[-1].body == after[0]


def test_http_connection_refused_is_retryable(http: Callable[..., HttpTransport]) -> None:
    with pytest.raises(RetryableTransportError, match="cannot reach"):
        http(f"http://127.0.0.1:{free_port()}", timeout=1).send(_events(1))


def test_http_reconnects_when_the_server_restarted_between_batches(
    server: LineageServer, http: Callable[..., HttpTransport]
) -> None:
    transport = http(server.url)
    transport.send(_events(1, "before"))
    server.restart()
    transport.send(_events(1, "after"))  # the kept-alive connection is dead; one reconnect, no error
    assert len(server.accepted()) == 2


def test_http_batch_mode_posts_arrays_to_the_batch_endpoint(
    server: LineageServer, http: Callable[..., HttpTransport]
) -> None:
    transport = http(server.url, mode="openlineage-batch")
    batch = _events(4)
    transport.send(batch)
    got = server.accepted()
    assert len(got) == 1
    assert got[0].path == "/api/v1/lineage/batch"
    assert orjson.loads(got[0].body) == [orjson.loads(b) for b in batch]


def test_http_batch_partial_success_resends_from_the_first_retriable_failure(
    server: LineageServer, http: Callable[..., HttpTransport]
) -> None:
    server.answer_body = orjson.dumps(
        {
            "status": "partial_success",
            "summary": {"received": 4, "successful": 2, "failed": 2},
            "failed_events": [{"index": 3, "reason": "Timeout", "retriable": True}, {"index": 1, "retriable": False}],
        }
    )
    with pytest.raises(RetryableTransportError) as caught:
        http(server.url, mode="openlineage-batch").send(_events(4))
    assert caught.value.delivered == 3


def test_http_refuses_a_url_that_is_not_http(http: Callable[..., HttpTransport]) -> None:
    with pytest.raises(Exception, match="not an http"):
        HttpTransport("ftp://example.com")


# --- HTTP: CloudEvents -------------------------------------------------------------------------------------


def _cloudevent_messages(server: LineageServer) -> list[Any]:
    from cloudevents.core.bindings import http
    from cloudevents.core.formats.json import JSONFormat

    return [http.from_http(http.HTTPMessage(r.headers, r.body), JSONFormat()) for r in server.accepted()]


@pytest.mark.parametrize("mode", ["cloudevents-structured", "cloudevents-binary"])
def test_cloudevents_modes_parse_with_the_sdk_http_parser(
    server: LineageServer, openlineage_registry: Registry, mode: Any, http: Callable[..., HttpTransport]
) -> None:
    batch = _events(2)
    http(server.url, mode=mode, registry=openlineage_registry).send(batch)
    got = server.accepted()
    if mode == "cloudevents-structured":
        assert got[0].headers["content-type"].startswith("application/cloudevents+json")
    else:
        assert got[0].headers["ce-specversion"] == "1.0"
        assert got[0].headers["content-type"].startswith("application/json")
    events = _cloudevent_messages(server)
    assert len(events) == 2
    for event, payload in zip(events, batch, strict=True):
        doc = orjson.loads(payload)
        data = event.get_data()
        assert (orjson.loads(data) if isinstance(data, bytes) else data) == doc
        assert event.get_dataschema() == doc["schemaURL"]
        assert event.get_source() == doc["producer"]
        assert event.get_type().startswith("dev.aifabric.")
        assert event.get_time() is not None
        assert event.get_id().startswith("sha256:")


def test_cloudevents_batch_mode(
    server: LineageServer, openlineage_registry: Registry, http: Callable[..., HttpTransport]
) -> None:
    from cloudevents.core.formats.json import JSONFormat

    from aifabric import envelope

    batch = _events(3)
    http(server.url, mode="cloudevents-batch", registry=openlineage_registry).send(batch)
    got = server.accepted()
    assert len(got) == 1
    assert got[0].headers["content-type"] == envelope.BATCH_CONTENT_TYPE
    fmt = JSONFormat()
    parsed = [fmt.read(None, orjson.dumps(item)) for item in orjson.loads(got[0].body)]
    assert [e.get_data() for e in parsed] == [orjson.loads(b) for b in batch]
    docs = envelope.from_batch(got[0].headers, got[0].body, registry=openlineage_registry)
    assert docs == [orjson.loads(b) for b in batch]


def test_cloudevents_mode_refuses_an_event_it_cannot_envelope(
    server: LineageServer, http: Callable[..., HttpTransport]
) -> None:
    # not a valid document, so no CloudEvent can carry it: permanent, and nothing is sent
    batch = [b'{"eventType":"START"}']
    with pytest.raises(PermanentTransportError, match="cannot envelope"):
        http(server.url, mode="cloudevents-structured").send(batch)
    assert server.requests == []


# --- console and file --------------------------------------------------------------------------------------


def test_console_writes_one_line_per_event(capsys: pytest.CaptureFixture[str]) -> None:
    ConsoleTransport().send(_events(2))
    ConsoleTransport(stream="stdout").send(_events(1))
    captured = capsys.readouterr()
    assert len(captured.err.splitlines()) == 2
    assert orjson.loads(captured.out)["job"]["name"] == "job-0"


def test_file_appends_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "lineage.jsonl"
    transport = FileTransport(path)
    transport.send(_events(2))
    transport.close()
    again = FileTransport(path)
    again.send(_events(1, "again"))
    again.close()
    lines = path.read_bytes().splitlines()
    assert [orjson.loads(line)["job"]["name"] for line in lines] == ["job-0", "job-1", "again-0"]


def test_file_rotates_by_size_keeping_n_backups(tmp_path: Path) -> None:
    path = tmp_path / "lineage.jsonl"
    batch = _events(20)
    size = max(len(b) for b in batch) + 1
    transport = FileTransport(path, max_bytes=size * 3, backups=2)
    for payload in batch:
        transport.send([payload])
    transport.close()
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["lineage.jsonl", "lineage.jsonl.1", "lineage.jsonl.2"]
    assert all(p.stat().st_size <= size * 3 for p in tmp_path.iterdir())
    kept = [*Path(f"{path}.2").read_bytes().splitlines(), *Path(f"{path}.1").read_bytes().splitlines()]
    kept += path.read_bytes().splitlines()
    assert kept == batch[-len(kept) :]
    assert len(kept) >= 7


def test_file_rotation_with_no_backups_starts_over(tmp_path: Path) -> None:
    path = tmp_path / "lineage.jsonl"
    batch = _events(5)
    transport = FileTransport(path, max_bytes=len(batch[0]) * 2 + 2, backups=0)
    transport.send(batch)
    transport.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lineage.jsonl"]
    assert path.read_bytes().splitlines() == batch[4:]


def test_file_that_cannot_be_written_is_retryable(tmp_path: Path) -> None:
    (tmp_path / "blocked").write_text("a file where a folder should be")
    with pytest.raises(RetryableTransportError, match="cannot write"):
        FileTransport(tmp_path / "blocked" / "lineage.jsonl").send(_events(1))


# --- composite ---------------------------------------------------------------------------------------------


def test_composite_all_does_not_resend_to_a_transport_that_already_has_the_batch(
    server: LineageServer, tmp_path: Path, http: Callable[..., HttpTransport]
) -> None:
    path = tmp_path / "copy.jsonl"
    both = CompositeTransport([FileTransport(path), http(server.url)], mode="all")
    batch = _events(3)
    with server.lock:  # the first event goes through, then the server is busy
        server._failures.extend([(200, {}, b""), (503, {}, b"")])
    with pytest.raises(RetryableTransportError) as caught:
        both.send(batch)
    assert caught.value.delivered == 1  # the slower of the two got one
    both.send(batch[1:])  # what the emitter does: resend from the first not delivered everywhere
    both.close()
    assert path.read_bytes().splitlines() == batch  # each once
    assert [r.body for r in server.accepted()] == batch


def test_composite_all_fails_permanently_only_when_nobody_can_retry(
    tmp_path: Path, server: LineageServer, http: Callable[..., HttpTransport]
) -> None:
    server.fail(1, 400)
    both = CompositeTransport([FileTransport(tmp_path / "a.jsonl"), http(server.url)])
    with pytest.raises(PermanentTransportError):
        both.send(_events(1))
    both.close()
    server.fail(1, 400)
    three = CompositeTransport([http(server.url), http(f"http://127.0.0.1:{free_port()}")])
    with pytest.raises(RetryableTransportError):
        three.send(_events(1))


def test_composite_first_falls_back_in_order(
    tmp_path: Path, server: LineageServer, http: Callable[..., HttpTransport]
) -> None:
    path = tmp_path / "fallback.jsonl"
    down = http(f"http://127.0.0.1:{free_port()}", timeout=1)
    first = CompositeTransport([down, FileTransport(path)], mode="first")
    first.send(_events(2))
    first.close()
    assert len(path.read_bytes().splitlines()) == 2
    up = CompositeTransport([http(server.url), FileTransport(tmp_path / "unused.jsonl")], mode="first")
    up.send(_events(1))
    assert len(server.accepted()) == 1
    assert not (tmp_path / "unused.jsonl").exists()


def test_every_transport_satisfies_the_protocol(tmp_path: Path, http: Callable[..., HttpTransport]) -> None:
    for transport in (
        ConsoleTransport(),
        FileTransport(tmp_path / "x"),
        http("http://localhost:1"),
        CompositeTransport([ConsoleTransport()]),
    ):
        assert isinstance(transport, Transport)


# --- from configuration ------------------------------------------------------------------------------------


def test_transports_are_built_from_openlineage_shaped_blocks(tmp_path: Path, server: LineageServer) -> None:
    block = {
        "type": "composite",
        "mode": "all",
        "transports": {
            "marquez": {
                "type": "http",
                "url": server.url,
                "endpoint": "api/v1/lineage",
                "auth": {"type": "api_key", "apiKey": "abc"},
                "compression": "gzip",
                "timeout": 2,
            },
            "local": {"type": "file", "path": str(tmp_path / "l.jsonl"), "maxBytes": 1000, "backups": 1},
            "dev": {"type": "console", "stream": "stderr"},
        },
    }
    config = transport_config(block, source="aifabric.yml")
    assert isinstance(config, CompositeConfig)
    assert [type(c) for c in config.transports] == [HttpConfig, FileConfig, ConsoleConfig]
    transport = transport_from_config(config)
    assert isinstance(transport, CompositeTransport)
    transport.send(_events(1))
    transport.close()
    got = server.accepted()[0]
    assert got.headers["authorization"] == "Bearer abc"
    assert got.headers["content-encoding"] == "gzip"
    assert (tmp_path / "l.jsonl").exists()


@pytest.mark.parametrize(
    ("block", "pointer", "words"),
    [
        ({"type": "nope"}, "/transport/type", "must be one of console, file, http, composite, nats, kafka"),
        ({"type": "http"}, "/transport/url", "is required"),
        ({"type": "http", "url": "localhost:5000"}, "/transport/url", "must start with http"),
        ({"type": "http", "url": "http://x", "timeout": -1}, "/transport/timeout", "positive number"),
        ({"type": "http", "url": "http://x", "auth": {"type": "api_key"}}, "/transport/auth/apiKey", "required"),
        ({"type": "http", "url": "http://x", "auth": {"type": "oauth"}}, "/transport/auth/type", "must be one of"),
        ({"type": "http", "url": "http://x", "compression": "br"}, "/transport/compression", "gzip"),
        ({"type": "http", "url": "http://x", "mode": "grpc"}, "/transport/mode", "cloudevents-binary"),
        ({"type": "http", "url": "http://x", "urll": 1}, "/transport/urll", "unknown key"),
        ({"type": "file"}, "/transport/path", "is required"),
        ({"type": "file", "path": "x", "backups": -1}, "/transport/backups", "at least 0"),
        ({"type": "composite", "transports": []}, "/transport/transports", "at least one"),
        ({"type": "composite", "transports": [{"type": "nope"}]}, "/transport/transports/0/type", "must be one of"),
        ("http", "/transport", "must be a mapping"),
    ],
)
def test_bad_transport_blocks_name_the_pointer_and_rule(block: Any, pointer: str, words: str) -> None:
    from aifabric import DocumentError

    with pytest.raises(DocumentError) as caught:
        transport_config(block, source="aifabric.yml")
    assert caught.value.source == "aifabric.yml"
    assert caught.value.rule == "config"
    assert caught.value.pointer == pointer
    assert words in str(caught.value)
    assert str(caught.value).startswith(f"aifabric.yml: {pointer}: ")


def test_console_transport_writes_to_a_given_stream() -> None:
    out = io.StringIO()
    ConsoleTransport(stream=out).send([b"{}"])
    assert out.getvalue() == "{}\n"
