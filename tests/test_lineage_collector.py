"""The reference lineage collector: a real server on loopback, real clients (openlineage-python, the CloudEvents SDK,
urllib, the ``aifabric`` command), SQLite and a real PostgreSQL started by a fixture; no mocks."""

from __future__ import annotations

import contextlib
import copy
import gzip
import hashlib
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attr
import pytest
import typer
from cloudevents.core.bindings import http
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import DatasetFacet
from typer.testing import CliRunner

from aifabric import envelope
from aifabric._cli import _dump, _fail, _registry_with
from aifabric._cli import app as real_app
from aifabric._cli._lineage import register
from aifabric.lineage.collector import CollectorServer, Store, StoreError, open_store, start
from aifabric.lineage.collector.store import record_of
from aifabric.schemas import Registry
from tests.conftest import free_port, shared

RUN_URL = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
DATASET_URL = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/DatasetEvent"
JOB_URL = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/JobEvent"
PRODUCER = "https://github.com/aifabric/aifabric/tree/v0.1.0/tests"
MODEL_FACET_URL = "https://aifabric.dev/schemas/lineage-model-facet/1.0.0.json#/$defs/ModelFacet"
CE = "application/cloudevents+json"
CE_BATCH = "application/cloudevents-batch+json"
TABLES = {
    "events": "id",
    "datasets": "namespace, name",
    "jobs": "namespace, name",
    "edges": "dataset_namespace, dataset_name, job_namespace, job_name, direction",
}


# --- helpers -----------------------------------------------------------------------------------------------


def run_event(
    event_type: str,
    run_id: str,
    *,
    job: str = "train",
    inputs: tuple[str, ...] = ("reviews",),
    outputs: tuple[str, ...] = (),
    models: tuple[str, ...] = (),
    when: str = "2026-11-23T08:00:00Z",
) -> dict[str, Any]:
    """A valid OpenLineage 2-0-2 RunEvent; ``models`` are outputs carrying the aifabric_model facet."""
    model_facet = {"aifabric_model": {"_producer": PRODUCER, "_schemaURL": MODEL_FACET_URL, "name": "m"}}
    return {
        "eventType": event_type,
        "eventTime": when,
        "producer": PRODUCER,
        "schemaURL": RUN_URL,
        "run": {"runId": run_id},
        "job": {"namespace": "etl", "name": job},
        "inputs": [{"namespace": "s3://data", "name": n} for n in inputs],
        "outputs": [{"namespace": "s3://data", "name": n} for n in outputs]
        + [{"namespace": "models", "name": n, "facets": model_facet} for n in models],
    }


def new_run() -> str:
    return str(uuid.uuid4())


def request(
    url: str, body: bytes | None = None, headers: dict[str, str] | None = None, method: str | None = None
) -> tuple[int, Any]:
    """One HTTP request with urllib; the status and the parsed JSON reply (the raw bytes when not JSON)."""
    req = urllib.request.Request(url, data=body, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw


def post(server: CollectorServer, value: Any, content_type: str = "application/json") -> tuple[int, Any]:
    body = value if isinstance(value, bytes) else json.dumps(value).encode()
    return request(server.url + "/api/v1/lineage", body, {"Content-Type": content_type})


def get(server: CollectorServer | str, path: str) -> tuple[int, Any]:
    base = server if isinstance(server, str) else server.url
    return request(base + path)


def fingerprint(db: Path) -> tuple[int, str]:
    """The number of stored events and a digest of every table, read through a connection of our own."""
    hasher = hashlib.sha256()
    with contextlib.closing(sqlite3.connect(db)) as conn:
        count = int(conn.execute("SELECT count(*) FROM events").fetchone()[0])
        for table, order in TABLES.items():
            for row in conn.execute(f"SELECT * FROM {table} ORDER BY {order}"):
                hasher.update(repr(row).encode())
    return count, hasher.hexdigest()


def sdk_event(doc: dict[str, Any], registry: Registry, *, event_id: str | None = None) -> CloudEvent:
    """The event as the CloudEvents SDK builds it, typed as aifabric types a lineage event."""
    attributes = {
        "specversion": "1.0",
        "id": event_id or str(uuid.uuid4()),
        "source": doc["producer"],
        "type": envelope.event_type(doc["schemaURL"], registry=registry),
        "dataschema": doc["schemaURL"],
        "datacontenttype": "application/json",
    }
    return CloudEvent(attributes, doc)


def sdk_batch(events: list[CloudEvent]) -> bytes:
    fmt = JSONFormat()
    return b"[" + b",".join(fmt.write(e) for e in events) + b"]"


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "lineage.db"


@pytest.fixture
def server(db: Path, openlineage_registry: Registry) -> Iterator[CollectorServer]:
    with start(db, registry=openlineage_registry) as running:
        yield running


# --- the openlineage-python client as the peer -------------------------------------------------------------


@attr.define
class ModelFacet(DatasetFacet):
    """aifabric's model facet, declared the way OpenLineage's client declares custom facets."""

    name: str

    @staticmethod
    def _get_schema() -> str:
        return MODEL_FACET_URL


def test_openlineage_client_events_are_accepted_and_queryable(
    server: CollectorServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in list(os.environ):
        if name.startswith("OPENLINEAGE"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("OPENLINEAGE_URL", server.url)  # the client's own configuration, nothing else
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    client = OpenLineageClient()
    run = Run(runId=new_run())
    job = Job(namespace="ml", name="train_sentiment")
    inputs = [InputDataset(namespace="s3://data", name="reviews")]
    outputs = [OutputDataset(namespace="models", name="sentiment", facets={"aifabric_model": ModelFacet(name="s")})]
    try:
        for state, when in ((RunState.START, "2026-11-23T08:00:00Z"), (RunState.COMPLETE, "2026-11-23T08:05:00Z")):
            client.emit(
                RunEvent(
                    eventType=state, eventTime=when, run=run, job=job, producer=PRODUCER, inputs=inputs, outputs=outputs
                )
            )
    finally:
        client.close()

    status, timeline = get(server, f"/api/v1/runs/{run.runId}")
    assert status == 200
    assert timeline["state"] == "COMPLETE"
    assert [e["eventType"] for e in timeline["events"]] == ["START", "COMPLETE"]
    assert timeline["job"] == {"namespace": "ml", "name": "train_sentiment"}
    assert timeline["events"][0]["event"]["run"]["runId"] == run.runId

    status, graph = get(server, "/api/v1/lineage/graph?namespace=models&name=sentiment&direction=upstream&depth=2")
    assert status == 200
    kinds = {n["id"]: n["type"] for n in graph["nodes"]}
    assert kinds == {
        "dataset:models:sentiment": "model",
        "job:ml:train_sentiment": "job",
        "dataset:s3://data:reviews": "dataset",
    }
    assert {(e["source"], e["target"]) for e in graph["edges"]} == {
        ("dataset:s3://data:reviews", "job:ml:train_sentiment"),
        ("job:ml:train_sentiment", "dataset:models:sentiment"),
    }


def test_openlineage_client_gzip_compression_is_accepted(
    server: CollectorServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    config = {"transport": {"type": "http", "url": server.url, "compression": "gzip"}}
    client = OpenLineageClient(config=config)
    run = Run(runId=new_run())
    try:
        client.emit(
            RunEvent(
                eventType=RunState.START,
                eventTime="2026-11-23T08:00:00Z",
                run=run,
                job=Job(namespace="ml", name="zipped"),
                producer=PRODUCER,
            )
        )
    finally:
        client.close()
    assert get(server, f"/api/v1/runs/{run.runId}")[1]["state"] == "START"


# --- CloudEvents, built by the CloudEvents SDK ---------------------------------------------------------------


def test_cloudevents_in_all_three_modes_are_accepted_and_deduplicated(
    server: CollectorServer, openlineage_registry: Registry, db: Path
) -> None:
    run = new_run()
    start_event = sdk_event(run_event("START", run), openlineage_registry)
    running = sdk_event(run_event("RUNNING", run, when="2026-11-23T08:01:00Z"), openlineage_registry)
    done = [
        sdk_event(run_event("OTHER", run, when="2026-11-23T08:02:00Z"), openlineage_registry),
        sdk_event(run_event("COMPLETE", run, when="2026-11-23T08:03:00Z", models=("m",)), openlineage_registry),
    ]
    structured = http.to_structured(start_event, JSONFormat())
    binary = http.to_binary(running, JSONFormat())
    assert structured.headers["content-type"] == CE
    assert any(k.startswith("ce-") for k in binary.headers)
    url = server.url + "/api/v1/lineage"
    for message in (structured, binary):
        status, reply = request(url, message.body, message.headers)
        assert (status, reply["stored"]) == (200, 1), reply
    status, reply = request(url, sdk_batch(done), {"Content-Type": CE_BATCH})
    assert (status, reply["stored"], reply["summary"]["received"]) == (200, 2, 2), reply

    before = fingerprint(db)
    for message in (structured, binary):  # a retry: acknowledged, stored once
        status, reply = request(url, message.body, message.headers)
        assert (status, reply["stored"], reply["duplicates"]) == (200, 0, 1)
    assert request(url, sdk_batch(done), {"Content-Type": CE_BATCH})[1]["duplicates"] == 2
    assert fingerprint(db) == before
    status, timeline = get(server, f"/api/v1/runs/{run}")
    assert [e["eventType"] for e in timeline["events"]] == ["START", "RUNNING", "OTHER", "COMPLETE"]


def test_cloudevents_dedup_on_source_and_id(server: CollectorServer, openlineage_registry: Registry) -> None:
    run = new_run()
    first = sdk_event(run_event("START", run), openlineage_registry, event_id="same")
    other = run_event("RUNNING", run, when="2026-11-23T08:01:00Z")
    again = sdk_event(other, openlineage_registry, event_id="same")  # same source and id: the same event
    elsewhere = CloudEvent({**again.get_attributes(), "source": "https://example.com/other"}, other)
    url = server.url + "/api/v1/lineage"
    replies = [request(url, m.body, m.headers)[1] for m in map(_structured, (first, again, elsewhere))]
    assert [r["stored"] for r in replies] == [1, 0, 1]


def _structured(event: CloudEvent) -> http.HTTPMessage:
    return http.to_structured(event, JSONFormat())


def test_invalid_cloudevents_list_every_problem_of_the_carried_event(
    server: CollectorServer, openlineage_registry: Registry, db: Path
) -> None:
    doc = run_event("START", new_run())
    event = sdk_event(doc, openlineage_registry)
    broken = copy.deepcopy(doc)
    del broken["producer"]
    broken["eventTime"] = "yesterday"
    broken["run"]["runId"] = "not-a-uuid"
    before = fingerprint(db)
    url = server.url + "/api/v1/lineage"
    structured = _structured(CloudEvent(event.get_attributes(), broken))
    binary = http.to_binary(CloudEvent(event.get_attributes(), broken), JSONFormat())
    for message in (structured, binary):
        status, reply = request(url, message.body, message.headers)
        assert status == 400
        assert {(p["pointer"], p["rule"]) for p in reply["problems"]} == {
            ("", "required"),
            ("/eventTime", "format"),
            ("/run/runId", "format"),
        }
    wrong_type = CloudEvent({**event.get_attributes(), "type": "com.example.other"}, doc)
    status, reply = request(url, sdk_batch([event, wrong_type]), {"Content-Type": CE_BATCH})
    assert status == 400
    assert [(p["index"], p["rule"]) for p in reply["problems"]] == [(1, "cloudevents")]
    assert "type" in reply["problems"][0]["message"]
    no_id = json.loads(_structured(event).body)
    del no_id["id"]
    status, reply = request(url, json.dumps(no_id).encode(), {"Content-Type": CE})
    assert status == 400
    assert "no id" in reply["problems"][0]["message"]
    assert fingerprint(db) == before


# --- plain events: validation, batches, dedup, lifecycle ------------------------------------------------------


def test_an_invalid_event_gets_400_with_every_problem_and_nothing_is_stored(server: CollectorServer, db: Path) -> None:
    event = run_event("START", new_run())
    del event["producer"]
    event["eventTime"] = "yesterday"
    event["run"]["runId"] = "x"
    event["inputs"][0]["name"] = 7
    before = fingerprint(db)
    status, reply = post(server, event)
    assert status == 400
    assert reply["status"] == "rejected"
    assert reply["summary"] == {"received": 1, "successful": 0, "failed": 1}
    assert [(p["pointer"], p["rule"]) for p in reply["problems"]] == [
        ("", "required"),
        ("/eventTime", "format"),
        ("/inputs/0/name", "type"),
        ("/run/runId", "format"),
    ]
    assert all(p["message"] for p in reply["problems"])
    assert fingerprint(db) == before


def test_a_batch_is_stored_whole_or_not_at_all(server: CollectorServer, db: Path) -> None:
    run = new_run()
    good = run_event("START", run)
    bad = run_event("COMPLETE", run, when="2026-11-23T09:00:00Z")
    bad["eventType"] = "DONE"
    before = fingerprint(db)
    status, reply = post(server, [good, bad, "text"])
    assert status == 400
    assert reply["summary"] == {"received": 3, "successful": 0, "failed": 2}
    assert [(p["index"], p["pointer"], p["rule"]) for p in reply["problems"]] == [
        (1, "/eventType", "enum"),
        (2, "", "type"),
    ]
    assert fingerprint(db) == before
    bad["eventType"] = "COMPLETE"
    for path in ("/api/v1/lineage", "/api/v1/lineage/batch"):
        status, reply = request(
            server.url + path, json.dumps([good, bad]).encode(), {"Content-Type": "application/json"}
        )
        assert status == 200
    assert reply == {
        "status": "success",
        "summary": {"received": 2, "successful": 2, "failed": 0},
        "stored": 0,
        "duplicates": 2,
    }
    assert fingerprint(db)[0] == before[0] + 2


def test_a_replayed_event_is_acknowledged_and_stored_once(server: CollectorServer, db: Path) -> None:
    event = run_event("START", new_run())
    assert post(server, event)[1]["stored"] == 1
    before = fingerprint(db)
    reordered = dict(reversed(list(event.items())))  # the same event: dedup is on the canonical digest
    for replay in (event, reordered):
        status, reply = post(server, replay)
        assert (status, reply["stored"], reply["duplicates"]) == (200, 0, 1)
    status, reply = post(server, [event, event])
    assert (reply["stored"], reply["duplicates"]) == (0, 2)
    assert fingerprint(db) == before


def test_the_run_lifecycle_is_checked_against_stored_events(server: CollectorServer, db: Path) -> None:
    if not server.collector.lifecycle_checks:
        pytest.skip("aifabric.lineage._profile.lifecycle_problems is not in this checkout")
    run = new_run()
    status, reply = post(server, run_event("COMPLETE", run))
    assert status == 400
    assert [(p["pointer"], p["rule"]) for p in reply["problems"]] == [("/eventType", "LIN-020")]
    assert post(server, run_event("START", run))[0] == 200
    assert post(server, run_event("START", run))[0] == 200  # a replay is not a second START
    second_start = run_event("START", run, when="2026-11-23T08:00:03Z")
    status, reply = post(server, [run_event("RUNNING", run, when="2026-11-23T08:00:02Z"), second_start])
    assert status == 400
    assert [(p["index"], p["pointer"], p["rule"]) for p in reply["problems"]] == [(1, "/eventType", "LIN-020")]
    earlier = run_event("COMPLETE", run, when="2026-11-23T07:00:00Z")
    status, reply = post(server, earlier)
    assert [(p["pointer"], p["rule"]) for p in reply["problems"]] == [("/eventTime", "LIN-021")]
    assert post(server, run_event("COMPLETE", run, when="2026-11-23T08:10:00Z"))[0] == 200
    status, reply = post(server, run_event("RUNNING", run, when="2026-11-23T08:11:00Z"))
    assert ("/eventType", "LIN-023") in {(p["pointer"], p["rule"]) for p in reply["problems"]}
    assert fingerprint(db)[0] == 2


def test_dataset_and_job_events_are_stored_and_join_the_graph(server: CollectorServer) -> None:
    dataset_event = {
        "eventTime": "2026-11-23T08:00:00Z",
        "producer": PRODUCER,
        "schemaURL": DATASET_URL,
        "dataset": {
            "namespace": "models",
            "name": "base",
            "facets": {"aifabric_model": {"_producer": PRODUCER, "_schemaURL": MODEL_FACET_URL}},
        },
    }
    job_event = {
        "eventTime": "2026-11-23T08:00:00Z",
        "producer": PRODUCER,
        "schemaURL": JOB_URL,
        "job": {"namespace": "etl", "name": "finetune"},
        "inputs": [{"namespace": "models", "name": "base"}],
        "outputs": [{"namespace": "models", "name": "tuned"}],
    }
    assert post(server, [dataset_event, job_event])[1]["stored"] == 2
    _, graph = get(server, "/api/v1/lineage/graph?name=tuned&direction=upstream")
    assert {n["id"]: n["type"] for n in graph["nodes"]} == {
        "dataset:models:tuned": "dataset",
        "job:etl:finetune": "job",
        "dataset:models:base": "model",
    }
    assert get(server, "/api/v1/events?tail=2")[1]["events"][0]["kind"] == "DatasetEvent"


# --- bad requests: never a 500 -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "content_type", "status", "rule"),
    [
        (b"", "application/json", 400, "parse"),
        (b"{", "application/json", 400, "parse"),
        (b'{"a": 1} {"b": 2}', "application/json", 400, "parse"),
        (b"\xff\xfe{}", "application/json", 400, "parse"),
        (b"[" * 300 + b"]" * 300, "application/json", 400, "maxDepth"),
        (b'{"schemaURL": "https://example.com/x.json"}', "application/json", 400, "lineageEvent"),
        (b'{"schemaURL": "https://aifabric.dev/schemas/common/1.1.0.json"}', "application/json", 400, "lineageEvent"),
        (b"{}", "application/json", 400, "schemaURL"),
        (b"{}", "text/plain", 415, "contentType"),
        (b"a=b", "application/x-www-form-urlencoded", 415, "contentType"),
        (b"{}", "application/json; charset=latin-1", 415, "contentType"),
        (b"{}", CE, 400, "cloudevents"),
        (b"{}", CE_BATCH, 400, "cloudevents"),
        (b"[{}]", CE_BATCH, 400, "cloudevents"),
        (b"nope", CE_BATCH, 400, "parse"),
        (b"[" + b"0," * 10_000 + b"0]", "application/json", 413, "maxEvents"),
        (b"[" + b"{}," * 1500 + b"{}]", "application/json", 400, "maxProblems"),
    ],
)
def test_bad_requests_get_a_clear_4xx(
    server: CollectorServer, db: Path, body: bytes, content_type: str, status: int, rule: str
) -> None:
    before = fingerprint(db)
    got, reply = request(server.url + "/api/v1/lineage", body, {"Content-Type": content_type})
    assert (got, reply["problems"][0 if rule != "maxProblems" else -1]["rule"]) == (status, rule), reply
    assert fingerprint(db) == before


def test_a_lone_surrogate_is_400_and_a_huge_integer_a_double(server: CollectorServer) -> None:
    event = json.dumps(run_event("START", new_run()))
    surrogate = event.replace('"name": "reviews"', '"name": "re\\ud800views"').encode()
    status, reply = post(server, surrogate)
    assert (status, reply["problems"][0]["rule"]) == (400, "canonical")
    huge = event.replace('"inputs": [', '"x": 123456789012345678901234567890, "inputs": [').encode()
    status, reply = post(server, huge)  # JSON numbers are doubles (RFC 8785, I-JSON): accepted as one
    assert (status, reply["stored"]) == (200, 1)
    assert get(server, "/api/v1/events?tail=1")[1]["events"][0]["event"]["x"] == 1.2345678901234568e29


def test_a_body_over_the_cap_is_413_and_gzip_is_inflated_first(tmp_path: Path, openlineage_registry: Registry) -> None:
    with start(tmp_path / "small.db", registry=openlineage_registry, max_body=4096) as small:
        status, reply = post(small, b"[" + b"0," * 5000 + b"0]")
        assert (status, reply["problems"][0]["rule"]) == (413, "maxBytes")
        bomb = gzip.compress(b"[" + b" " * 100_000 + b"]")
        assert len(bomb) < 4096
        headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
        status, reply = request(small.url + "/api/v1/lineage", bomb, headers)
        assert status == 413
        event = run_event("START", new_run())
        status, reply = request(small.url + "/api/v1/lineage", gzip.compress(json.dumps(event).encode()), headers)
        assert (status, reply["stored"]) == (200, 1)
        assert fingerprint(tmp_path / "small.db")[0] == 1


# --- queries -------------------------------------------------------------------------------------------------


def test_graph_walks_upstream_downstream_and_both_by_depth(server: CollectorServer) -> None:
    # raw -> clean_job -> clean -> train_job -> model(m) -> score_job -> scores
    chain = [
        ("clean_job", ("raw",), ("clean",), ()),
        ("train_job", ("clean",), (), ("m",)),
        ("score_job", (), ("scores",), ()),
    ]
    for job, inputs, outputs, models in chain:
        run = new_run()
        event = run_event("START", run, job=job, inputs=inputs, outputs=outputs, models=models)
        if job == "score_job":
            event["inputs"] = [{"namespace": "models", "name": "m"}]
        assert post(server, event)[0] == 200

    def ids(query: str) -> set[str]:
        status, graph = get(server, "/api/v1/lineage/graph?" + query)
        assert status == 200, graph
        return {n["id"] for n in graph["nodes"]}

    assert ids("name=m&direction=upstream&depth=2") == {
        "dataset:models:m",
        "job:etl:train_job",
        "dataset:s3://data:clean",
    }
    assert ids("name=m&direction=downstream&depth=9") == {
        "dataset:models:m",
        "job:etl:score_job",
        "dataset:s3://data:scores",
    }
    assert len(ids("name=m&namespace=models&depth=9")) == 7
    assert ids("name=m&depth=0") == {"dataset:models:m"}
    assert ids("name=train_job&type=job&depth=1&direction=both") == {
        "job:etl:train_job",
        "dataset:s3://data:clean",
        "dataset:models:m",
    }
    status, graph = get(server, "/api/v1/lineage/graph?name=m&depth=1")
    assert graph["roots"] == ["dataset:models:m"]
    assert graph["nodes"][0] == {
        "id": "dataset:models:m",
        "type": "model",
        "namespace": "models",
        "name": "m",
        "depth": 0,
    }
    for bad in ("", "name=m&depth=x", "name=m&depth=-1", "name=m&direction=sideways", "name=m&type=table"):
        status, reply = get(server, "/api/v1/lineage/graph?" + bad)
        assert (status, reply["problems"][0]["rule"]) == (400, "query")
    status, reply = get(server, "/api/v1/lineage/graph?name=m&namespace=elsewhere")
    assert (status, reply["problems"][0]["rule"]) == (404, "notFound")


def test_events_tail_and_since_page_in_arrival_order(server: CollectorServer) -> None:
    runs = [new_run() for _ in range(5)]
    for run in runs:
        post(server, run_event("START", run))
    status, page = get(server, "/api/v1/events?since=0&limit=2")
    assert [e["runId"] for e in page["events"]] == runs[:2]
    status, page = get(server, f"/api/v1/events?since={page['next']}&limit=1000")
    assert [e["runId"] for e in page["events"]] == runs[2:]
    status, page = get(server, "/api/v1/events?tail=2")
    assert [e["runId"] for e in page["events"]] == runs[3:]
    assert page["events"][-1]["event"] == run_event("START", runs[4])
    assert get(server, f"/api/v1/events?since={page['next']}")[1] == {"events": [], "next": page["next"]}
    for bad in ("limit=0", "limit=5000", "since=-1", "since=abc"):
        assert get(server, "/api/v1/events?" + bad)[0] == 400
    assert get(server, f"/api/v1/runs/{new_run()}")[0] == 404
    status, health = get(server, "/health")
    assert (status, health["status"], health["events"], health["store"]) == (200, "ok", 5, "SQLite")


def test_the_timeline_is_in_event_time_order_whatever_the_arrival_order(server: CollectorServer) -> None:
    run = new_run()
    events = [
        run_event("START", run, when="2026-11-23T10:00:00+02:00"),
        run_event("RUNNING", run, when="2026-11-23T08:30:00Z"),
        run_event("COMPLETE", run, when="2026-11-23T09:00:00.5Z"),
    ]
    assert post(server, events)[0] == 200
    _, timeline = get(server, f"/api/v1/runs/{run}")
    assert [e["eventType"] for e in timeline["events"]] == ["START", "RUNNING", "COMPLETE"]
    assert timeline["state"] == "COMPLETE"


# --- hypothesis: arbitrary input never reaches a 500 and never touches what is stored --------------------------


@pytest.fixture(scope="module")
def fuzz_server(openlineage_registry: Registry) -> Iterator[tuple[CollectorServer, Path]]:
    folder = Path(tempfile.mkdtemp(prefix="aifabric-collector-fuzz-"))
    with start(folder / "lineage.db", registry=openlineage_registry, max_body=64 * 1024) as running:
        run = new_run()
        first = post(
            running, [run_event("START", run, models=("m",)), run_event("COMPLETE", run, when="2026-11-23T09:00:00Z")]
        )
        assert first[1]["stored"] == 2
        yield running, folder / "lineage.db"
    shutil.rmtree(folder, ignore_errors=True)


LARGE = st.binary(min_size=1, max_size=16).map(lambda b: b * (70 * 1024 // len(b) + 1))  # over the fuzz cap
CONTENT_TYPES = st.sampled_from(
    ["application/json", CE, CE_BATCH, "text/plain", "application/x-ndjson", "application/json; charset=utf-8", ""]
)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=25,
)
FIELDS = st.sampled_from(["eventType", "eventTime", "producer", "schemaURL", "run", "job", "inputs", "outputs", "x"])


def _mutated(field: str, value: Any, inner: str | None) -> dict[str, Any]:
    event = run_event("START", new_run())
    if inner is not None and isinstance(event.get(field), dict):
        event[field][inner] = value
    else:
        event[field] = value
    return event


EVENTS = st.builds(_mutated, FIELDS, JSON, st.none() | st.sampled_from(["runId", "name", "namespace", "facets"]))


def _check_never_500(fuzz: tuple[CollectorServer, Path], body: bytes, headers: dict[str, str]) -> None:
    running, db = fuzz
    before = fingerprint(db)
    status, reply = request(running.url + "/api/v1/lineage", body, headers)
    event(f"HTTP {status}")
    assert status in (200, 400, 413, 415), (status, reply)
    if status != 200:
        assert isinstance(reply, dict) and reply["problems"], reply
        assert all({"pointer", "rule", "message"} <= set(p) for p in reply["problems"])
        assert fingerprint(db) == before


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow], deadline=None)
@given(body=st.binary(max_size=300) | LARGE, content_type=CONTENT_TYPES)
def test_arbitrary_bytes_never_get_a_500(
    fuzz_server: tuple[CollectorServer, Path], body: bytes, content_type: str
) -> None:
    _check_never_500(fuzz_server, body, {"Content-Type": content_type} if content_type else {})


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow], deadline=None)
@given(value=JSON | EVENTS | st.lists(EVENTS, max_size=3), content_type=CONTENT_TYPES, wrap=st.booleans())
def test_arbitrary_json_and_near_events_never_get_a_500(
    fuzz_server: tuple[CollectorServer, Path], value: Any, content_type: str, wrap: bool
) -> None:
    if wrap and content_type == CE:
        value = {"specversion": "1.0", "id": "1", "source": PRODUCER, "type": "t", "data": value}
    elif wrap and content_type == CE_BATCH:
        value = [{"specversion": "1.0", "id": "1", "source": PRODUCER, "type": "t", "data": value}]
    _check_never_500(fuzz_server, json.dumps(value).encode(), {"Content-Type": content_type} if content_type else {})


HEADER_TEXT = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=30)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow], deadline=None)
@given(
    value=JSON | EVENTS,
    attributes=st.dictionaries(
        st.sampled_from(["id", "source", "type", "specversion", "dataschema", "time"]), HEADER_TEXT
    ),
)
def test_arbitrary_binary_mode_cloudevents_never_get_a_500(
    fuzz_server: tuple[CollectorServer, Path], value: Any, attributes: dict[str, str]
) -> None:
    headers = {"Content-Type": "application/json", **{f"ce-{k}": v.strip() for k, v in attributes.items()}}
    headers.setdefault("ce-specversion", "1.0")
    _check_never_500(fuzz_server, json.dumps(value).encode(), headers)


# --- the store on its own, SQLite and PostgreSQL ---------------------------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "store.db")
    dsn: str = request.getfixturevalue("postgres_dsn")
    return dsn


def test_store_adds_batches_dedups_and_answers_queries(store_target: str) -> None:
    run, other = new_run(), new_run()
    events = [
        run_event("START", run, job="prep", when="2026-11-23T08:00:00Z", outputs=("clean",)),
        run_event("COMPLETE", run, job="prep", when="2026-11-23T07:59:59-00:30", outputs=("clean",)),
        run_event("START", other, job="train", inputs=("clean",), models=("m",)),
    ]
    with open_store(store_target) as store:
        assert isinstance(store, Store)
        records = [record_of(e) for e in events]
        assert store.add(records) == [True, True, True]
        assert store.add([*records[:1], record_of(run_event("RUNNING", run, job="prep"))]) == [False, True]
        assert store.count() == 4
        assert store.existing([records[0].key, "sha256:nothing"]) == {records[0].key}
        assert [e.event_type for e in store.run(run)] == ["START", "RUNNING", "COMPLETE"]
        assert [h[1] for h in store.run_history([run])] == ["START", "COMPLETE", "RUNNING"]
        assert [e.run_id for e in store.events(since=0, limit=2)] == [run, run]
        assert [e.event_type for e in store.last(2)] == ["START", "RUNNING"]
        assert store.events(since=0)[0].event() == events[0]
        graph = store.graph("models", "m", depth=4, direction="upstream")
        assert graph is not None
        assert [(n.type, n.name, n.depth) for n in graph.nodes] == [
            ("model", "m", 0),
            ("job", "train", 1),
            ("dataset", "clean", 2),
            ("job", "prep", 3),
            ("dataset", "reviews", 4),
        ]
        assert len(graph.edges) == 4
        downstream = store.graph("s3://data", "clean", depth=1, direction="downstream")
        assert downstream is not None
        assert [n.id for n in downstream.nodes] == ["dataset:s3://data:clean", "job:etl:train"]
        long = "x" * 5000 + "é"  # no index limit applies to names (PostgreSQL's is about 2.7 KB a row)
        assert store.add([record_of(run_event("START", new_run(), job=long, inputs=(long,)))]) == [True]
        found = store.graph(None, long, depth=1, node_type="job")
        assert found is not None
        assert [n.name for n in found.nodes] == [long, long]
        assert store.graph(None, "nothing") is None
    with open_store(store_target) as reopened:  # the tables and rows survive a reopen
        assert reopened.count() == 5
    reopened.close()
    with pytest.raises(StoreError, match="closed"):
        reopened.count()


def test_a_store_that_cannot_be_opened_is_a_store_error(tmp_path: Path) -> None:
    (tmp_path / "not-a-db").write_bytes(b"this is not a SQLite database file, not at all" * 10)
    with pytest.raises(StoreError, match="not-a-db"):
        open_store(tmp_path / "not-a-db")
    with pytest.raises(StoreError, match="file path"):
        open_store(":memory:")
    with pytest.raises(StoreError, match="PostgreSQL"):
        open_store(f"postgresql://nobody@127.0.0.1:{free_port()}/none?connect_timeout=2")


@pytest.mark.postgres
def test_the_collector_on_postgresql(postgres_dsn: str, openlineage_registry: Registry) -> None:
    with start(postgres_dsn, registry=openlineage_registry) as running:
        run = new_run()
        events = [run_event("START", run, models=("m",)), run_event("COMPLETE", run, when="2026-11-23T09:00:00Z")]
        assert post(running, events)[1]["stored"] == 2
        assert post(running, events)[1]["duplicates"] == 2
        assert get(running, f"/api/v1/runs/{run}")[1]["state"] == "COMPLETE"
        graph = get(running, "/api/v1/lineage/graph?name=m&direction=upstream")[1]
        assert {n["type"] for n in graph["nodes"]} == {"model", "job", "dataset"}
        nul = run_event("START", new_run())
        nul["job"]["name"] = "a\x00b"
        status, reply = post(running, nul)
        assert (status, reply["problems"][0]["rule"]) == (400, "nul")
        assert get(running, "/health")[1]["store"] == "PostgreSQL"


# --- the command line ----------------------------------------------------------------------------------------


def _cli() -> typer.Typer:
    """The ``aifabric`` command with the lineage commands registered, on an app of our own."""
    cli = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
    cli.callback()(lambda: None)
    register(cli, fail=_fail, dump=_dump, registry_with=_registry_with)
    return cli


def _script() -> list[str]:
    """How to run ``aifabric`` with the lineage commands as a subprocess: the console script once it has them."""
    if any(group.name == "serve" for group in real_app.registered_groups):
        return [str(Path(sys.executable).parent / "aifabric")]
    code = (
        "import typer; from aifabric._cli import _dump, _fail, _registry_with, main, app; "
        "from aifabric._cli._lineage import register; "
        "register(app, fail=_fail, dump=_dump, registry_with=_registry_with); main()"
    )
    return [sys.executable, "-c", code]


def invoke(*args: str) -> Any:
    return CliRunner().invoke(_cli(), list(args))


def test_cli_emit_tail_and_graph(server: CollectorServer, tmp_path: Path) -> None:
    run = new_run()
    events = [run_event("START", run, models=("m",)), run_event("COMPLETE", run, when="2026-11-23T08:09:00Z")]
    jsonl = tmp_path / "events.jsonl"
    jsonl.write_text("\n".join(json.dumps(e) for e in events) + "\n")
    result = invoke("lineage", "emit", str(jsonl), "--url", server.url)
    assert result.exit_code == 0, result.output
    assert f"accepted {jsonl}#0 (stored)" in result.output
    result = invoke("lineage", "emit", str(jsonl), "--url", server.url + "/api/v1/lineage", "--json")
    assert result.exit_code == 0
    assert [r["stored"] for r in json.loads(result.stdout)] == [False, False]

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([events[0], {**events[1], "eventTime": "later"}]))
    result = invoke("lineage", "emit", str(bad), "--url", server.url)
    assert result.exit_code == 1
    assert f"rejected {bad}#1: /eventTime: format:" in result.output

    result = CliRunner().invoke(_cli(), ["lineage", "tail", "-n", "1"], env={"AIFABRIC_LINEAGE_URL": server.url})
    assert result.exit_code == 0
    assert "COMPLETE" in result.output and "etl/train" in result.output and run in result.output
    result = invoke("lineage", "tail", "--url", server.url, "--since", "0", "--json")
    assert [json.loads(line) for line in result.stdout.splitlines()] == events

    result = invoke("lineage", "graph", "m", "--namespace", "models", "--depth", "2", "--url", server.url)
    assert result.exit_code == 0, result.output
    assert "3 nodes, 2 edges" in result.output
    assert "job:etl:train -> dataset:models:m" in result.output
    result = invoke("lineage", "graph", "m", "--url", server.url, "--json", "--direction", "upstream")
    assert {n["type"] for n in json.loads(result.stdout)["nodes"]} == {"model", "job", "dataset"}
    result = invoke("lineage", "graph", "nothing", "--url", server.url)
    assert result.exit_code == 1
    assert "no dataset, model or job named 'nothing'" in result.output


def test_cli_reports_an_unreachable_collector_and_usage_errors(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    (tmp_path / "e.json").write_text(json.dumps(run_event("START", new_run())))
    for args in (["lineage", "emit", str(tmp_path / "e.json")], ["lineage", "tail"], ["lineage", "graph", "x"]):
        result = invoke(*args, "--url", url)
        assert result.exit_code == 1
        assert "cannot reach the collector" in result.output
        assert "Traceback" not in result.output
    result = invoke("serve", "collector", "--db", str(tmp_path / "a.db"), "--dsn", "postgresql://x/y")
    assert result.exit_code == 2
    result = invoke("serve", "collector", "--dsn-env", "AIFABRIC_TEST_UNSET_VARIABLE")
    assert result.exit_code == 2


def _start_collector(args: list[str], cwd: Path) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [*_script(), "serve", "collector", "--port", "0", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    line = process.stderr.readline()
    if "listening on" not in line:
        process.kill()
        pytest.fail(f"the collector did not start: {line}{process.communicate()[1]}")
    return process, line.split("listening on ", 1)[1].split()[0]


def test_serve_collector_runs_as_a_process_and_stops_on_sigterm(tmp_path: Path) -> None:
    schemas = shared("openlineage")
    db = tmp_path / "served.db"
    process, url = _start_collector(["--db", str(db), "--add-schema", str(schemas)], tmp_path)
    with process:
        try:
            assert get(url, "/health")[1]["status"] == "ok"
            follow = [*_script(), "lineage", "tail", "--follow", "--interval", "0.1", "--url", url]
            with subprocess.Popen(follow, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as follower:
                try:
                    run = new_run()
                    (tmp_path / "e.json").write_text(json.dumps(run_event("START", run)))
                    result = invoke("lineage", "emit", str(tmp_path / "e.json"), "--url", url)
                    assert result.exit_code == 0, result.output
                    assert follower.stdout is not None
                    assert run in follower.stdout.readline()  # the follower saw it arrive
                    follower.send_signal(signal.SIGINT)
                    assert follower.wait(timeout=20) == 130
                finally:
                    if follower.poll() is None:
                        follower.kill()
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                assert process.wait(timeout=20) == 0
            finally:
                if process.poll() is None:
                    process.kill()
    assert fingerprint(db)[0] == 1
    taken = socket.socket()  # a port in use: a clear error, exit 1
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        port = str(taken.getsockname()[1])
        failed = subprocess.run(
            [*_script(), "serve", "collector", "--db", str(db), "--port", port],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        taken.close()
    assert failed.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in failed.stderr
    assert "Traceback" not in failed.stderr
