"""The emitter end to end with real parts: a loopback HTTP server, files, a spool on disk, a killed child process."""

from __future__ import annotations

import asyncio
import functools
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

import aifabric
from aifabric import DocumentError, ValidationError
from aifabric.lineage import _spool
from aifabric.lineage.config import EmitterConfig, FileConfig, HttpConfig
from aifabric.lineage.emitter import (
    ERROR_MESSAGE_FACET_URL,
    PARENT_RUN_FACET_URL,
    PRODUCER,
    RUN_EVENT_SCHEMA_URL,
    EmitResult,
    Emitter,
    current_run,
    dataset,
    run_event,
)
from aifabric.lineage.transports import FileTransport, HttpTransport
from aifabric.schemas import Registry
from tests.test_lineage_transports import LineageServer

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def server() -> Iterator[LineageServer]:
    found = LineageServer()
    yield found
    found.stop()


@pytest.fixture
def make(openlineage_registry: Registry, tmp_path: Path) -> Iterator[Callable[..., Emitter]]:
    """Emitters validating against OpenLineage's own schemas, spooled under tmp_path, closed after the test."""
    made: list[Emitter] = []

    def build(transport: Any, **options: Any) -> Emitter:
        options.setdefault("spool_dir", tmp_path / "spool")
        options.setdefault("backoff_initial", 0.02)
        options.setdefault("backoff_max", 0.1)
        emitter = Emitter(transport, EmitterConfig(**options), registry=openlineage_registry)
        made.append(emitter)
        return emitter

    yield build
    for emitter in made:
        emitter.close(timeout=0)


def _event(i: int = 0, *, run_id: str | None = None, job: str = "job") -> dict[str, Any]:
    return run_event(
        "OTHER",
        "tests",
        job,
        run_id=run_id,
        run_facets={"seq": {"_schemaURL": "https://aifabric.dev/schemas/test/Seq.json", "n": i}},
    )


def _seq(event: dict[str, Any]) -> int:
    n: int = event["run"]["facets"]["seq"]["n"]
    return n


def _dead_url() -> str:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


# --- emitting and refusing ---------------------------------------------------------------------------------


def test_emit_delivers_in_the_background_and_flush_counts(make: Callable[..., Emitter], server: LineageServer) -> None:
    emitter = make(HttpTransport(server.url))
    events = [_event(i) for i in range(25)]
    assert all(emitter.emit(e) is None for e in events)
    result = emitter.flush(timeout=10)
    assert (result.delivered, result.spooled, result.dropped, result.timed_out) == (25, 0, 0, False)
    assert server.events() == events
    closed = emitter.close()
    assert (closed.delivered, closed.spooled, closed.dropped) == (25, 0, 0)
    assert not list((emitter.config.spool_dir or Path()).glob("lane-*/*.jsonl"))  # delivered segments are gone


def test_invalid_event_is_refused_synchronously_and_nothing_is_sent(
    make: Callable[..., Emitter], server: LineageServer
) -> None:
    emitter = make(HttpTransport(server.url))
    bad = _event()
    bad["eventType"] = "FINISHED"
    del bad["job"]["name"]
    with pytest.raises(ValidationError) as caught:
        emitter.emit(bad)
    assert {p.pointer for p in caught.value.problems} >= {"/eventType", "/job"}
    assert isinstance(caught.value, aifabric.AifabricError)
    assert emitter.flush(timeout=5).delivered == 0
    assert server.requests == []


def test_an_event_naming_no_known_schema_is_refused(make: Callable[..., Emitter], tmp_path: Path) -> None:
    emitter = make(FileTransport(tmp_path / "out.jsonl"))
    with pytest.raises(aifabric.SchemaError):
        emitter.emit({**_event(), "schemaURL": "https://example.com/nope.json"})


def test_validate_false_skips_checking(make: Callable[..., Emitter], tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    emitter = make(FileTransport(out), validate=False)
    emitter.emit({"not": "lineage"})
    assert emitter.flush(timeout=5).delivered == 1
    assert orjson.loads(out.read_bytes()) == {"not": "lineage"}


def test_a_custom_validator_is_used(tmp_path: Path) -> None:
    seen: list[Any] = []
    emitter = Emitter(FileTransport(tmp_path / "o.jsonl"), EmitterConfig(spool_dir=None), validator=seen.append)
    emitter.emit({"x": 1})
    emitter.close()
    assert seen == [{"x": 1}]


def test_oversized_event_is_refused_naming_size_and_cap(make: Callable[..., Emitter], server: LineageServer) -> None:
    emitter = make(HttpTransport(server.url), max_event_bytes=2000)
    big = _event()
    big["job"]["facets"]["documentation"] = {
        "_schemaURL": "https://openlineage.io/spec/facets/1-1-0/DocumentationJobFacet.json#/$defs/DocumentationJobFacet",
        "description": "x" * 3000,
    }
    with pytest.raises(DocumentError) as caught:
        emitter.emit(big)
    size = len(aifabric.canonicalize(big))
    assert caught.value.rule == "maxEventBytes"
    assert f"{size:,} bytes of canonical JSON" in str(caught.value)
    assert "2,000-byte cap" in str(caught.value)
    emitter.emit(_event())  # a normal one still goes
    assert emitter.flush(timeout=5).delivered == 1


def test_the_default_cap_is_one_mebibyte(make: Callable[..., Emitter], tmp_path: Path) -> None:
    emitter = make(FileTransport(tmp_path / "o.jsonl"), validate=False)
    assert emitter.config.max_event_bytes == 1 << 20
    emitter.emit({"blob": "y" * ((1 << 20) - 20)})
    with pytest.raises(DocumentError, match="1,048,576-byte cap"):
        emitter.emit({"blob": "y" * (1 << 20)})


def test_an_event_that_is_not_json_is_refused(make: Callable[..., Emitter], tmp_path: Path) -> None:
    emitter = make(FileTransport(tmp_path / "o.jsonl"), validate=False)
    with pytest.raises(DocumentError, match="not JSON"):
        emitter.emit({1: "integer key"})  # type: ignore[dict-item]


# --- run() ---------------------------------------------------------------------------------------------------


def test_run_sends_start_and_complete_with_what_the_run_added(
    make: Callable[..., Emitter], server: LineageServer, openlineage_registry: Registry
) -> None:
    emitter = make(HttpTransport(server.url))
    with emitter.run("pipelines", "daily", inputs=[("postgres://db:5432", "sales.orders")]) as run:
        assert current_run() is run
        run.add_input(dataset("s3://raw", "fx_rates"))
        run.add_output("s3://warehouse", "daily_revenue", facets={"tags": {"_schemaURL": "https://x/T.json"}})
        run.add_run_facet("nominalTime", {"_schemaURL": "https://x/N.json", "nominalStartTime": "2025-01-01T00:00:00Z"})
        run.add_job_facet("jobType", {"_schemaURL": "https://x/J.json", "processingType": "BATCH", "jobType": "JOB"})
    assert current_run() is None
    emitter.flush(timeout=5)
    start, complete = server.events()
    assert (start["eventType"], complete["eventType"]) == ("START", "COMPLETE")
    assert start["run"]["runId"] == complete["run"]["runId"] == run.run_id
    assert uuid.UUID(run.run_id).version == 7
    for event in (start, complete):
        aifabric.validate(event, registry=openlineage_registry)
        assert event["producer"] == PRODUCER == f"https://github.com/aifabric/aifabric/tree/v{aifabric.__version__}"
        assert event["schemaURL"] == RUN_EVENT_SCHEMA_URL
        assert event["eventTime"].endswith("Z")
    assert [d["name"] for d in start["inputs"]] == ["sales.orders"]
    assert [d["name"] for d in complete["inputs"]] == ["sales.orders", "fx_rates"]
    assert complete["outputs"][0]["facets"]["tags"]["_producer"] == PRODUCER
    assert set(complete["run"]["facets"]) == {"nominalTime"}
    assert complete["job"]["facets"]["jobType"]["processingType"] == "BATCH"


def test_run_sends_fail_with_the_error_message_facet(
    make: Callable[..., Emitter], server: LineageServer, openlineage_registry: Registry
) -> None:
    emitter = make(HttpTransport(server.url))

    def broken() -> None:
        raise KeyError("no such table: wrong_table_name")

    with pytest.raises(KeyError), emitter.run("pipelines", "broken"):
        broken()
    emitter.flush(timeout=5)
    start, fail = server.events()
    assert (start["eventType"], fail["eventType"]) == ("START", "FAIL")
    facet = fail["run"]["facets"]["errorMessage"]
    assert facet["message"] == "KeyError: 'no such table: wrong_table_name'"
    assert facet["programmingLanguage"] == "python"
    assert "in broken" in facet["stackTrace"]
    assert facet["stackTrace"].rstrip().endswith("KeyError: 'no such table: wrong_table_name'")
    assert facet["_schemaURL"] == ERROR_MESSAGE_FACET_URL
    aifabric.validate(fail, registry=openlineage_registry)
    aifabric.validate(facet, schema_url=ERROR_MESSAGE_FACET_URL, registry=openlineage_registry)


def test_run_aborts_on_keyboard_interrupt_and_completes_on_exit_zero(
    make: Callable[..., Emitter], server: LineageServer
) -> None:
    emitter = make(HttpTransport(server.url))
    with pytest.raises(KeyboardInterrupt), emitter.run("p", "interrupted"):
        raise KeyboardInterrupt
    with pytest.raises(SystemExit), emitter.run("p", "exits"):
        sys.exit(0)
    emitter.flush(timeout=5)
    assert [e["eventType"] for e in server.events()] == ["START", "ABORT", "START", "COMPLETE"]


def test_run_as_a_decorator_makes_a_new_run_per_call_and_nests_parents(
    make: Callable[..., Emitter], server: LineageServer, openlineage_registry: Registry
) -> None:
    emitter = make(HttpTransport(server.url))

    @emitter.run("p", "child")
    def child(x: int) -> int:
        run = current_run()
        assert run is not None
        run.add_output("s3://out", f"part-{x}")
        return x * 2

    with emitter.run("p", "parent") as parent:
        assert [child(1), child(2)] == [2, 4]
    emitter.flush(timeout=5)
    events = server.events()
    assert [(e["job"]["name"], e["eventType"]) for e in events] == [
        ("parent", "START"),
        ("child", "START"),
        ("child", "COMPLETE"),
        ("child", "START"),
        ("child", "COMPLETE"),
        ("parent", "COMPLETE"),
    ]
    children = {e["run"]["runId"] for e in events if e["job"]["name"] == "child"}
    assert len(children) == 2
    facet = events[1]["run"]["facets"]["parent"]
    assert facet["run"]["runId"] == parent.run_id
    assert facet["job"] == {"namespace": "p", "name": "parent"}
    assert facet["root"]["run"]["runId"] == parent.run_id
    aifabric.validate(facet, schema_url=PARENT_RUN_FACET_URL, registry=openlineage_registry)
    assert child.__name__ == "child"


def test_run_decorates_coroutines(make: Callable[..., Emitter], server: LineageServer) -> None:
    emitter = make(HttpTransport(server.url))

    @emitter.run("p", "async-job")
    async def job() -> str:
        await asyncio.sleep(0)
        assert current_run() is not None
        return "done"

    @emitter.run("p", "async-fail")
    async def fails() -> None:
        raise ValueError("bad")

    assert asyncio.run(job()) == "done"
    with pytest.raises(ValueError, match="bad"):
        asyncio.run(fails())
    emitter.flush(timeout=5)
    assert [e["eventType"] for e in server.events()] == ["START", "COMPLETE", "START", "FAIL"]


def test_a_lineage_problem_never_hides_the_runs_own_exception(make: Callable[..., Emitter], tmp_path: Path) -> None:
    emitter = make(FileTransport(tmp_path / "o.jsonl"))

    def body() -> None:
        with emitter.run("p", "j") as run:
            run.add_run_facet("bad", {"_schemaURL": 12})  # makes the FAIL event invalid
            _ = 1 / 0

    with pytest.raises(ZeroDivisionError):
        body()
    assert emitter.flush(timeout=5).delivered == 1  # START only; the FAIL was refused and logged


def test_run_emit_sends_a_running_event(make: Callable[..., Emitter], server: LineageServer) -> None:
    emitter = make(HttpTransport(server.url))
    with emitter.run("p", "long") as run:
        run.emit("RUNNING")
    emitter.flush(timeout=5)
    assert [e["eventType"] for e in server.events()] == ["START", "RUNNING", "COMPLETE"]


# --- delivery trouble ----------------------------------------------------------------------------------------


def test_503_then_recovery_delivers_everything_in_order(make: Callable[..., Emitter], server: LineageServer) -> None:
    server.fail(5, 503)
    emitter = make(HttpTransport(server.url))
    events = [_event(i) for i in range(30)]
    for event in events:
        emitter.emit(event)
    result = emitter.flush(timeout=10)
    assert (result.delivered, result.dropped) == (30, 0)
    assert server.events() == events


def test_retry_after_waits_before_the_next_attempt(make: Callable[..., Emitter], server: LineageServer) -> None:
    server.fail(1, 429, retry_after="1")
    emitter = make(HttpTransport(server.url), backoff_initial=0.01)
    start = time.monotonic()
    emitter.emit(_event())
    assert emitter.flush(timeout=10).delivered == 1
    assert time.monotonic() - start >= 1.0
    assert [r.status for r in server.requests] == [429, 200]


def test_a_refused_event_is_dropped_with_its_reason_and_the_rest_delivered(
    make: Callable[..., Emitter], server: LineageServer
) -> None:
    server.refuse = lambda body: b'"n":7' in body  # a 400 for any batch holding event 7
    emitter = make(HttpTransport(server.url, mode="openlineage-batch"), batch_size=10)
    events = [_event(i) for i in range(20)]
    for event in events:
        emitter.emit(event)
    result = emitter.flush(timeout=10)
    assert (result.delivered, result.dropped) == (19, 1)
    (reason,) = result.reasons
    assert reason.startswith("HTTP 400 Bad Request from ")
    assert [_seq(e) for e in server.events()] == [i for i in range(20) if i != 7]


def test_a_slow_destination_keeps_events_spooled_until_it_answers(
    make: Callable[..., Emitter], server: LineageServer
) -> None:
    server.slow(2, 0.6)
    emitter = make(HttpTransport(server.url, timeout=0.2))
    for i in range(5):
        emitter.emit(_event(i))
    early = emitter.flush(timeout=0.1)
    assert early.timed_out
    assert early.spooled == 5
    result = emitter.flush(timeout=10)
    assert (result.delivered, result.spooled, result.timed_out) == (5, 0, False)
    assert sorted({_seq(e) for e in server.events()}) == [0, 1, 2, 3, 4]


def test_a_transport_that_raises_unexpectedly_keeps_the_events(make: Callable[..., Emitter], tmp_path: Path) -> None:
    class Flaky:
        def __init__(self) -> None:
            self.calls = 0
            self.got: list[bytes] = []

        def send(self, batch: Any) -> None:
            self.calls += 1
            if self.calls <= 2:
                raise RuntimeError("a bug in a user's transport")
            self.got.extend(batch)

        def close(self) -> None:
            pass

    flaky = Flaky()
    emitter = make(flaky)
    emitter.emit(_event(1))
    assert emitter.flush(timeout=5).delivered == 1
    assert [_seq(orjson.loads(b)) for b in flaky.got] == [1]


# --- closing, counting, dropping ---------------------------------------------------------------------------


def test_close_with_the_destination_down_leaves_events_spooled_for_the_next_start(
    make: Callable[..., Emitter], server: LineageServer, tmp_path: Path
) -> None:
    spool_dir = tmp_path / "spool"
    first = make(HttpTransport(_dead_url(), timeout=0.5), spool_dir=spool_dir)
    events = [_event(i) for i in range(50)]
    for event in events:
        first.emit(event)
    closed = first.close(timeout=0.3)
    assert (closed.delivered, closed.spooled, closed.dropped, closed.timed_out) == (0, 50, 0, True)
    assert list(spool_dir.glob("lane-0/*.jsonl"))
    second = make(HttpTransport(server.url), spool_dir=spool_dir)
    assert second.stats().spooled == 50
    second.emit(_event(50))
    result = second.flush(timeout=10)
    assert (result.delivered, result.spooled) == (51, 0)
    assert [_seq(e) for e in server.events()] == list(range(51))  # replayed first, in order
    second.close()
    assert not list(spool_dir.glob("lane-*/*.jsonl"))


def test_without_a_spool_close_drops_what_it_could_not_deliver_and_says_why(
    make: Callable[..., Emitter],
) -> None:
    emitter = make(HttpTransport(_dead_url(), timeout=0.5), spool_dir=None)
    for i in range(10):
        emitter.emit(_event(i))
    result = emitter.close(timeout=0.2)
    assert (result.delivered, result.spooled, result.dropped) == (0, 0, 10)
    assert result.reasons == {"not delivered before close() and there is no spool": 10}
    after = emitter.emit(_event())
    assert after == EmitResult(False, reason="the emitter was closed")


def test_a_full_queue_without_a_spool_refuses_and_counts(make: Callable[..., Emitter]) -> None:
    emitter = make(HttpTransport(_dead_url(), timeout=0.5), spool_dir=None, queue_size=5)
    results = [emitter.emit(_event(i)) for i in range(12)]
    refused = [r for r in results if r is not None]
    assert refused
    assert all(not r.accepted and r.reason and "queue is full (5 events)" in r.reason for r in refused)
    assert emitter.stats().dropped == len(refused)


def test_a_full_queue_with_a_spool_writes_through_and_loses_nothing(
    make: Callable[..., Emitter], server: LineageServer
) -> None:
    server.fail_for(0.3)
    emitter = make(HttpTransport(server.url), queue_size=2)
    for i in range(200):
        assert emitter.emit(_event(i)) is None
    result = emitter.flush(timeout=15)
    assert (result.delivered, result.dropped) == (200, 0)
    assert [_seq(e) for e in server.events()] == list(range(200))


def test_a_full_spool_drops_new_events_and_says_so(make: Callable[..., Emitter]) -> None:
    size = len(_spool.encode(orjson.dumps(_event(0))))
    emitter = make(HttpTransport(_dead_url(), timeout=0.5), fsync="always", max_spool_bytes=size * 3 + 10)
    results = [emitter.emit(_event(i)) for i in range(5)]
    assert results[:3] == [None, None, None]
    for result in results[3:]:
        assert result is not None and not result.accepted
        assert result.reason == f"the spool is full ({size * 3 + 10:,} bytes)"
    stats = emitter.stats()
    assert (stats.spooled, stats.dropped) == (3, 2)


def test_emit_can_wait_for_delivery(make: Callable[..., Emitter], server: LineageServer) -> None:
    emitter = make(HttpTransport(server.url))
    assert emitter.emit(_event(1), wait=5) == EmitResult(True, delivered=True)
    memory = make(HttpTransport(server.url), spool_dir=None)
    assert memory.emit(_event(2), wait=5) == EmitResult(True, delivered=True)
    server.fail(1, 400)
    refused = memory.emit(_event(3), wait=5)
    assert refused is not None and refused.accepted and not refused.delivered
    assert refused.reason is not None and "HTTP 400" in refused.reason
    down = make(HttpTransport(_dead_url(), timeout=0.2), spool_dir=emitter.config.spool_dir)
    late = down.emit(_event(4), wait=0.2)
    assert late == EmitResult(True, delivered=False, reason="not delivered within 0.2 s; still spooled")


def test_fsync_always_spools_before_emit_returns(make: Callable[..., Emitter], tmp_path: Path) -> None:
    spool_dir = tmp_path / "spool"
    emitter = make(HttpTransport(_dead_url(), timeout=0.5), spool_dir=spool_dir, fsync="always")
    emitter.emit(_event(0))
    (segment,) = spool_dir.glob("lane-0/*.jsonl")
    scan = _spool.scan(segment.read_bytes())
    assert [_seq(orjson.loads(p)) for p, _ in scan.records] == [0]


def test_two_emitters_on_one_spool_directory_take_separate_lanes(make: Callable[..., Emitter], tmp_path: Path) -> None:
    spool_dir = tmp_path / "shared"
    a = make(HttpTransport(_dead_url()), spool_dir=spool_dir, fsync="always")
    b = make(HttpTransport(_dead_url()), spool_dir=spool_dir, fsync="always")
    a.emit(_event(1))
    b.emit(_event(2))
    assert sorted(p.parent.name for p in spool_dir.glob("lane-*/*.jsonl")) == ["lane-0", "lane-1"]


def test_a_spool_directory_that_cannot_be_made_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(aifabric.AifabricError, match="cannot use the spool directory"):
        Emitter(FileTransport(tmp_path / "o"), EmitterConfig(spool_dir=tmp_path / "file" / "spool"))


# --- the reliability runs ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_ten_thousand_events_through_503s_and_a_restart_arrive_once_each_in_per_run_order(
    make: Callable[..., Emitter], server: LineageServer
) -> None:
    runs = [aifabric.uuid7() for _ in range(50)]
    server.fail_for(0.5)  # down at first
    emitter = make(HttpTransport(server.url, timeout=2), backoff_initial=0.02, backoff_max=0.2)
    restarted_at: list[int] = []

    def restart_mid_stream() -> None:
        deadline = time.monotonic() + 30
        while len(server.accepted()) < 4_000 and time.monotonic() < deadline:
            time.sleep(0.005)
        restarted_at.append(len(server.accepted()))
        server.restart(pause=0.3)  # connections cut, refused for a while, then back on the same port

    restarter = threading.Thread(target=restart_mid_stream)
    restarter.start()
    start = time.monotonic()
    for i in range(10_000):
        emitter.emit(_event(i, run_id=runs[i % len(runs)]))
    result = emitter.flush(timeout=60)
    elapsed = time.monotonic() - start
    restarter.join()
    assert (result.delivered, result.dropped, result.spooled) == (10_000, 0, 0), result
    assert 4_000 <= restarted_at[0] < 10_000  # the restart came while events were flowing
    assert any(r.status == 503 for r in server.requests)
    events = server.events()
    seqs = [_seq(e) for e in events]
    assert len(seqs) == 10_000
    assert sorted(seqs) == list(range(10_000))  # every one, exactly once
    by_run: dict[str, list[int]] = {}
    for event in events:
        by_run.setdefault(event["run"]["runId"], []).append(_seq(event))
    assert len(by_run) == 50
    assert all(found == sorted(found) for found in by_run.values())
    assert elapsed < 45


_CHILD = textwrap.dedent(
    """
    import sys
    from aifabric.lineage.config import EmitterConfig
    from aifabric.lineage.emitter import Emitter, run_event
    from aifabric.lineage.transports import HttpTransport

    url, spool_dir, run_id = sys.argv[1:4]
    config = EmitterConfig(spool_dir=spool_dir, fsync="always", validate=False, backoff_initial=0.01, backoff_max=0.05)
    emitter = Emitter(HttpTransport(url, timeout=2), config)
    for i in range(1_000_000):
        facet = {"_schemaURL": "https://aifabric.dev/schemas/test/Seq.json", "n": i}
        emitter.emit(run_event("OTHER", "tests", "child", run_id=run_id, run_facets={"seq": facet}))
        print(i, flush=True)
    """
)


@pytest.mark.slow
def test_sigkill_mid_stream_loses_nothing_emit_returned_for(
    make: Callable[..., Emitter], server: LineageServer, tmp_path: Path
) -> None:
    spool_dir = tmp_path / "spool"
    server.slow(150, 0.004)  # a slow destination, so that the child builds a backlog in its spool
    run_id = aifabric.uuid7()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, server.url, str(spool_dir), run_id],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
        text=True,
    )
    assert child.stdout is not None
    printed: list[int] = []
    deadline = time.monotonic() + 30
    while len(printed) < 400 and time.monotonic() < deadline:
        line = child.stdout.readline()
        if not line:
            break
        printed.append(int(line))
    child.send_signal(signal.SIGKILL)
    rest, _ = child.communicate(timeout=10)
    printed += [int(x) for x in rest.split()]
    assert child.returncode == -signal.SIGKILL
    assert len(printed) >= 400
    time.sleep(0.2)  # a request the child had in flight may still land
    before = len(server.events())
    replay = make(HttpTransport(server.url), spool_dir=spool_dir, validate=False)
    result = replay.flush(timeout=20)
    assert not result.timed_out
    arrived = [_seq(e) for e in server.events()]
    missing = set(printed) - set(arrived)
    assert not missing, f"{len(missing)} printed events never arrived"
    assert before < len(arrived)  # some came only from the replay
    replayed = arrived[before:]
    assert replayed == sorted(replayed)  # the replay is in emission order


def test_a_torn_tail_is_skipped_not_crashed_on(
    make: Callable[..., Emitter], server: LineageServer, tmp_path: Path
) -> None:
    spool_dir = tmp_path / "spool"
    lane = spool_dir / "lane-0"
    lane.mkdir(parents=True)
    whole = [_spool.encode(orjson.dumps(_event(i))) for i in range(3)]
    torn = _spool.encode(orjson.dumps(_event(3)))[:-30]
    (lane / f"{1:020d}.jsonl").write_bytes(b"".join(whole) + torn)
    (lane / f"{2:020d}.jsonl").write_bytes(_spool.encode(orjson.dumps(_event(4))))
    emitter = make(HttpTransport(server.url), spool_dir=spool_dir)
    result = emitter.flush(timeout=10)
    assert (result.delivered, result.dropped) == (4, 1)
    assert result.reasons == {"torn spool record skipped (a write cut short by a crash)": 1}
    assert [_seq(e) for e in server.events()] == [0, 1, 2, 4]


def test_a_damaged_record_in_the_middle_is_skipped(
    make: Callable[..., Emitter], server: LineageServer, tmp_path: Path
) -> None:
    spool_dir = tmp_path / "spool"
    lane = spool_dir / "lane-0"
    lane.mkdir(parents=True)
    lines = [bytearray(_spool.encode(orjson.dumps(_event(i)))) for i in range(4)]
    lines[1][60] ^= 0x01  # one flipped bit inside the payload: the CRC no longer matches
    (lane / f"{1:020d}.jsonl").write_bytes(b"".join(lines))
    emitter = make(HttpTransport(server.url), spool_dir=spool_dir)
    result = emitter.flush(timeout=10)
    assert (result.delivered, result.dropped) == (3, 1)
    assert result.reasons == {"damaged spool record skipped": 1}
    assert [_seq(e) for e in server.events()] == [0, 2, 3]


def test_the_acknowledged_position_survives_a_restart(
    make: Callable[..., Emitter], server: LineageServer, tmp_path: Path
) -> None:
    spool_dir = tmp_path / "spool"
    first = make(HttpTransport(server.url), spool_dir=spool_dir, segment_bytes=1000)
    for i in range(10):
        first.emit(_event(i))
    first.flush(timeout=10)
    first.close()
    second = make(HttpTransport(server.url), spool_dir=spool_dir)
    assert second.stats().spooled == 0
    assert second.flush(timeout=5).delivered == 0
    assert len(server.events()) == 10  # nothing sent twice


def test_a_damaged_ack_file_replays_rather_than_loses(
    make: Callable[..., Emitter], server: LineageServer, tmp_path: Path
) -> None:
    spool_dir = tmp_path / "spool"
    first = make(HttpTransport(_dead_url(), timeout=0.3), spool_dir=spool_dir, fsync="always")
    for i in range(3):
        first.emit(_event(i))
    first.close(timeout=0)
    (spool_dir / "lane-0" / "ACK").write_bytes(b"garbage")
    second = make(HttpTransport(server.url), spool_dir=spool_dir)
    assert second.flush(timeout=10).delivered == 3


# --- the spool reader under hypothesis ---------------------------------------------------------------------


@given(st.binary(max_size=4096))
def test_scan_never_crashes_and_yields_only_intact_records(data: bytes) -> None:
    found = _spool.scan(data)
    for payload, end in found.records:
        assert data[:end].endswith(b"}\n")
        assert _spool.encode(payload) == data[end - len(_spool.encode(payload)) : end]
    assert 0 <= found.consumed <= len(data)


_payloads = st.lists(
    st.dictionaries(st.text(max_size=8), st.one_of(st.integers(-(2**53), 2**53), st.text(max_size=30), st.none())),
    min_size=1,
    max_size=12,
).map(lambda docs: [orjson.dumps(d) for d in docs])


@given(_payloads, st.data())
def test_scan_of_a_damaged_spool_yields_only_what_was_written_in_order(payloads: list[bytes], data: Any) -> None:
    lines = [_spool.encode(p) for p in payloads]
    stream = bytearray(b"".join(lines))
    spans: list[tuple[int, int]] = []
    pos = 0
    for line in lines:
        spans.append((pos, pos + len(line)))
        pos += len(line)
    touched: set[int] = set()
    for _ in range(data.draw(st.integers(0, 4))):
        action = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        if not stream:
            break
        at = data.draw(st.integers(0, len(stream) - 1))
        if action == "flip":
            stream[at] ^= data.draw(st.integers(1, 255))
            touched.add(at)
        elif action == "cut":
            del stream[at:]
            touched.update(range(at, pos + 1))
        else:
            junk = data.draw(st.binary(min_size=1, max_size=20))
            stream[at:at] = junk
            # everything from here on shifts: treat as touched from this point
            touched.update(range(at, pos + 1))
            break
    found = _spool.scan(bytes(stream))
    got = [p for p, _ in found.records]
    # only records that were written, in the order written
    it = iter(payloads)
    assert all(any(p == q for q in it) for p in got)
    # every record whose bytes (and the newline before it) were untouched comes through
    for (begin, end), payload in zip(spans, payloads, strict=True):
        if not touched & set(range(max(0, begin - 1), end)):
            assert payload in got


@given(garbage=st.binary(max_size=2048), tail=st.binary(max_size=64))
def test_a_spool_of_arbitrary_bytes_opens_and_reads_only_intact_records(
    garbage: bytes, tail: bytes, tmp_path_factory: pytest.TempPathFactory
) -> None:
    root = tmp_path_factory.mktemp("spool")
    lane = root / "lane-0"
    lane.mkdir()
    good = orjson.dumps({"n": 1})
    (lane / f"{1:020d}.jsonl").write_bytes(garbage + b"\n" + _spool.encode(good) + tail)
    (lane / "ACK").write_bytes(tail)
    spool = _spool.Spool(root)
    try:
        records = spool.read(_spool.Position(0, 0), max_records=100, max_bytes=1 << 20)
        for record in records:
            assert _spool.encode(record.payload) in garbage + b"\n" + _spool.encode(good) + tail
        assert good in [r.payload for r in records]
        assert spool.pending == len(records)
    finally:
        spool.close()


def test_encode_is_one_json_line_with_length_and_crc() -> None:
    payload = orjson.dumps(_event(0))
    line = _spool.encode(payload)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    parsed = orjson.loads(line)
    assert parsed["len"] == len(payload)
    assert parsed["crc"] == zlib.crc32(payload)
    assert orjson.dumps(parsed["event"]) == payload


# --- configuration -------------------------------------------------------------------------------------------


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    for name in [n for n in os.environ if n.startswith("AIFABRIC_")]:
        monkeypatch.delenv(name)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return {"HOME": str(home), "WORK": str(work)}


def test_config_precedence_argument_env_file_cwd_home_env_vars(
    clean_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    home_file = _write(Path(clean_env["HOME"]) / ".aifabric" / "aifabric.yml", "transport: {type: console}\n")
    monkeypatch.setenv("AIFABRIC_LINEAGE_URL", "http://from-env:1")
    assert EmitterConfig.load().source == str(home_file)
    cwd_file = _write(Path(clean_env["WORK"]) / "aifabric.yml", "transport: {type: http, url: 'http://cwd:1'}\n")
    assert EmitterConfig.load().source == str(cwd_file)
    named = _write(tmp_path / "named.yml", "transport: {type: http, url: 'http://named:1'}\n")
    monkeypatch.setenv("AIFABRIC_CONFIG", str(named))
    assert EmitterConfig.load().source == str(named)
    explicit = _write(tmp_path / "explicit.yml", "transport: {type: http, url: 'http://explicit:1'}\n")
    config = EmitterConfig.load(explicit)
    assert isinstance(config.transport, HttpConfig)
    assert config.transport.url == "http://explicit:1"
    for path in (named, cwd_file, home_file):
        path.unlink()
    monkeypatch.delenv("AIFABRIC_CONFIG")
    from_env = EmitterConfig.load()
    assert from_env.source == "environment"
    assert isinstance(from_env.transport, HttpConfig)
    assert from_env.transport.url == "http://from-env:1"


def test_config_from_env_vars(clean_env: dict[str, str], tmp_path: Path) -> None:
    env = {
        "AIFABRIC_LINEAGE_URL": "https://lineage.example.com",
        "AIFABRIC_LINEAGE_API_KEY": "k",
        "AIFABRIC_LINEAGE_COMPRESSION": "gzip",
        "AIFABRIC_LINEAGE_TIMEOUT": "2.5",
        "AIFABRIC_SPOOL_DIR": str(tmp_path / "s"),
        "AIFABRIC_SPOOL_FSYNC": "always",
    }
    config = EmitterConfig.from_env(env)
    assert isinstance(config.transport, HttpConfig)
    assert (config.transport.api_key, config.transport.compression, config.transport.timeout) == ("k", "gzip", 2.5)
    assert (config.spool_dir, config.fsync) == (tmp_path / "s", "always")
    file_config = EmitterConfig.from_env({"AIFABRIC_LINEAGE_TRANSPORT": "file", "AIFABRIC_LINEAGE_FILE": "x.jsonl"})
    assert file_config.transport == FileConfig(path=Path("x.jsonl"))
    assert EmitterConfig.from_env({"AIFABRIC_SPOOL_DIR": "off"}).spool_dir is None
    assert EmitterConfig.from_env({}).spool_dir == Path(clean_env["HOME"]) / ".aifabric" / "spool"


@pytest.mark.parametrize(
    ("env", "source", "words"),
    [
        (
            {"AIFABRIC_LINEAGE_TIMEOUT": "soon", "AIFABRIC_LINEAGE_URL": "http://x"},
            "AIFABRIC_LINEAGE_TIMEOUT",
            "positive",
        ),
        ({"AIFABRIC_LINEAGE_TRANSPORT": "carrier-pigeon"}, "AIFABRIC_LINEAGE_TRANSPORT", "must be one of"),
        ({"AIFABRIC_LINEAGE_URL": "ftp://x"}, "AIFABRIC_LINEAGE_URL", "http://"),
        ({"AIFABRIC_SPOOL_FSYNC": "sometimes"}, "AIFABRIC_SPOOL_FSYNC", "always, batch, never"),
    ],
)
def test_bad_env_vars_name_the_variable(env: dict[str, str], source: str, words: str) -> None:
    with pytest.raises(DocumentError) as caught:
        EmitterConfig.from_env(env)
    assert caught.value.source == source
    assert words in str(caught.value)


def test_a_full_config_file(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "aifabric.yml",
        f"""
        transport:
          type: http
          url: https://lineage.example.com
          endpoint: api/v1/lineage
          auth:
            type: api_key
            apiKey: s3cret
          compression: gzip
          timeout: 3
        spool:
          dir: {tmp_path / "spool"}
          fsync: never
          fsyncInterval: 0.5
          maxBytes: 1000000
          segmentBytes: 100000
        emitter:
          queueSize: 50
          batchSize: 10
          maxEventBytes: 5000
          validate: false
          closeTimeout: 1
          retry: {{initial: 0.5, max: 10, maxRetryAfter: 60}}
        trust:
          anything: for another part of aifabric
        """,
    )
    config = EmitterConfig.from_file(path)
    assert config.spool_dir == tmp_path / "spool"
    assert (config.fsync, config.fsync_interval, config.max_spool_bytes, config.segment_bytes) == (
        "never",
        0.5,
        1_000_000,
        100_000,
    )
    assert (config.queue_size, config.batch_size, config.max_event_bytes, config.validate) == (50, 10, 5000, False)
    assert (config.backoff_initial, config.backoff_max, config.max_retry_after, config.close_timeout) == (
        0.5,
        10,
        60,
        1,
    )
    assert "s3cret" not in repr(config)
    disabled = EmitterConfig.from_file(_write(tmp_path / "off.yml", "spool: {enabled: false}\n"))
    assert disabled.spool_dir is None


@pytest.mark.parametrize(
    ("text", "pointer", "words"),
    [
        ("spool: {fsync: sometimes}\n", "/spool/fsync", "must be one of always, batch, never"),
        ("spool: {dirr: /tmp}\n", "/spool/dirr", "unknown key"),
        ("emitter: {queueSize: 0}\n", "/emitter/queueSize", "at least 1"),
        ("emitter: {validate: 'no'}\n", "/emitter/validate", "true or false"),
        ("emitter: {retry: {initial: -1}}\n", "/emitter/retry/initial", "positive"),
        (
            "transport: {type: http, url: 'http://x', auth: {type: api_key, apiKey: 5}}\n",
            "/transport/auth/apiKey",
            "string",
        ),
        ("- just\n- a list\n", "", "must be a mapping"),
    ],
)
def test_bad_config_files_name_the_file_pointer_and_rule(tmp_path: Path, text: str, pointer: str, words: str) -> None:
    path = _write(tmp_path / "aifabric.yml", text)
    with pytest.raises(DocumentError) as caught:
        EmitterConfig.from_file(path)
    assert caught.value.source == str(path)
    assert caught.value.rule == "config"
    assert caught.value.pointer == pointer
    assert words in str(caught.value)


def test_unreadable_or_malformed_config_files(tmp_path: Path) -> None:
    with pytest.raises(DocumentError, match="cannot read"):
        EmitterConfig.from_file(tmp_path / "missing.yml")
    with pytest.raises(DocumentError, match="malformed YAML"):
        EmitterConfig.from_file(_write(tmp_path / "bad.yml", "transport: [unclosed\n"))


def test_bad_values_in_a_config_object_are_refused() -> None:
    with pytest.raises(DocumentError, match="queue_size: must be a positive number"):
        EmitterConfig(queue_size=0)
    with pytest.raises(DocumentError, match="fsync: must be one of"):
        EmitterConfig(fsync="sometimes")  # type: ignore[arg-type]


def test_from_config_builds_the_configured_transport(
    tmp_path: Path, server: LineageServer, openlineage_registry: Registry
) -> None:
    path = _write(
        tmp_path / "aifabric.yml",
        f"""
        transport:
          type: http
          url: {server.url}
          auth: {{type: api_key, apiKey: abc}}
          compression: gzip
        spool:
          dir: {tmp_path / "spool"}
        """,
    )
    emitter = Emitter.from_config(path, registry=openlineage_registry)
    try:
        with emitter.run("p", "configured"):
            pass
        assert emitter.flush(timeout=5).delivered == 2
    finally:
        emitter.close()
    assert all(r.headers["authorization"] == "Bearer abc" for r in server.requests)
    assert all(r.headers["content-encoding"] == "gzip" for r in server.requests)


def test_emitters_from_threads_keep_each_threads_order(make: Callable[..., Emitter], server: LineageServer) -> None:
    emitter = make(HttpTransport(server.url, mode="openlineage-batch"))
    runs = [aifabric.uuid7() for _ in range(4)]

    def produce(k: int) -> None:
        for i in range(250):
            emitter.emit(_event(k * 1000 + i, run_id=runs[k]))

    threads = [threading.Thread(target=produce, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert emitter.flush(timeout=10).delivered == 1000
    by_run: dict[str, list[int]] = {}
    for event in server.events():
        by_run.setdefault(event["run"]["runId"], []).append(_seq(event))
    assert all(v == sorted(v) and len(v) == 250 for v in by_run.values())


def test_validator_default_uses_the_given_registry(openlineage_registry: Registry, tmp_path: Path) -> None:
    emitter = Emitter(
        FileTransport(tmp_path / "o.jsonl"),
        EmitterConfig(spool_dir=None),
        validator=functools.partial(aifabric.validate, registry=openlineage_registry),
    )
    try:
        emitter.emit(_event())
        with pytest.raises(ValidationError):
            emitter.emit({**_event(), "eventTime": "yesterday"})
    finally:
        emitter.close()
