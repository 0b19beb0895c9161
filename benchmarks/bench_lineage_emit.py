"""Lineage emission benchmark: build + validate + serialize against the OpenLineage client, and emit latency.

(a) One realistic event (../shared/data/bench/openlineage-runevent-6k.json: 5 datasets, 12 facets), built from the
same ingredients each way: aifabric as plain dicts with its ``run_event``/``dataset`` helpers, validated against
OpenLineage's own JSON Schemas (core and facets; also against aifabric's lineage profile when it is packaged)
and serialised with orjson, as ``Emitter.emit`` does;
openlineage-python with its attrs classes and ``Serde.to_json`` (which does not validate). (b) The time
``Emitter.emit`` keeps its caller, per call, with the background threads busy writing the spool and POSTing
each event to a loopback OpenLineage receiver in another process, as in production.

Run: ``.venv/bin/python benchmarks/bench_lineage_emit.py [--quick]`` (needs the dev extra and openlineage-python).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

import aifabric
from _timing import rate
from aifabric.lineage.config import EmitterConfig
from aifabric.lineage.emitter import Emitter, dataset, run_event
from aifabric.lineage.transports import HttpTransport
from aifabric.schemas import Registry

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

_RECEIVER = textwrap.dedent(
    """
    import sys
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_POST(self):
            self.rfile.read(int(self.headers["content-length"]))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()
    """
)


def best_per_call(fn: Callable[[], Any], seconds: float) -> float:
    """Seconds per call of ``fn``: the best of three rounds."""
    return 1 / rate(fn, seconds)


# --- (a) the same event, built both ways -----------------------------------------------------------------


def build_aifabric(src: dict[str, Any]) -> dict[str, Any]:
    """The benchmark event as a user of aifabric writes it: dicts, with the SDK's helpers."""
    run, job = src["run"]["facets"], src["job"]["facets"]
    nominal, parent, engine = run["nominalTime"], run["parent"], run["processing_engine"]
    job_type, sql = job["jobType"], job["sql"]

    def schema(fields: list[dict[str, Any]], url: str) -> dict[str, Any]:
        return {
            "_schemaURL": url,
            "fields": [{k: f[k] for k in ("name", "type", "description") if k in f} for f in fields],
        }

    inputs = [
        dataset(
            d["namespace"],
            d["name"],
            facets={"schema": schema(d["facets"]["schema"]["fields"], d["facets"]["schema"]["_schemaURL"])},
        )
        for d in src["inputs"]
    ]
    outputs = []
    for d in src["outputs"]:
        stats = d["outputFacets"]["outputStatistics"]
        outputs.append(
            dataset(
                d["namespace"],
                d["name"],
                facets={"schema": schema(d["facets"]["schema"]["fields"], d["facets"]["schema"]["_schemaURL"])},
                output_facets={
                    "outputStatistics": {
                        "_schemaURL": stats["_schemaURL"],
                        "rowCount": stats["rowCount"],
                        "size": stats["size"],
                        "fileCount": stats["fileCount"],
                    }
                },
            )
        )
    return run_event(
        src["eventType"],
        src["job"]["namespace"],
        src["job"]["name"],
        run_id=src["run"]["runId"],
        event_time=src["eventTime"],
        inputs=inputs,
        outputs=outputs,
        run_facets={
            "nominalTime": {
                "_schemaURL": nominal["_schemaURL"],
                "nominalStartTime": nominal["nominalStartTime"],
                "nominalEndTime": nominal["nominalEndTime"],
            },
            "parent": {
                "_schemaURL": parent["_schemaURL"],
                "run": {"runId": parent["run"]["runId"]},
                "job": {"namespace": parent["job"]["namespace"], "name": parent["job"]["name"]},
                "root": {
                    "run": {"runId": parent["root"]["run"]["runId"]},
                    "job": {"namespace": parent["root"]["job"]["namespace"], "name": parent["root"]["job"]["name"]},
                },
            },
            "processing_engine": {
                "_schemaURL": engine["_schemaURL"],
                "version": engine["version"],
                "name": engine["name"],
                "openlineageAdapterVersion": engine["openlineageAdapterVersion"],
            },
        },
        job_facets={
            "jobType": {
                "_schemaURL": job_type["_schemaURL"],
                "processingType": job_type["processingType"],
                "integration": job_type["integration"],
                "jobType": job_type["jobType"],
            },
            "sql": {"_schemaURL": sql["_schemaURL"], "query": sql["query"], "dialect": sql["dialect"]},
        },
    )


def build_openlineage(src: dict[str, Any]) -> Any:
    """The same event as a user of openlineage-python writes it: its attrs classes."""
    from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
    from openlineage.client.generated import (
        job_type_job,
        nominal_time_run,
        output_statistics_output_dataset,
        parent_run,
        processing_engine_run,
        schema_dataset,
        sql_job,
    )

    run, job = src["run"]["facets"], src["job"]["facets"]
    nominal, parent, engine = run["nominalTime"], run["parent"], run["processing_engine"]
    job_type, sql = job["jobType"], job["sql"]

    def schema(fields: list[dict[str, Any]]) -> Any:
        return schema_dataset.SchemaDatasetFacet(
            fields=[
                schema_dataset.SchemaDatasetFacetFields(
                    name=f["name"], type=f.get("type"), description=f.get("description")
                )
                for f in fields
            ]
        )

    inputs = [
        InputDataset(
            namespace=d["namespace"], name=d["name"], facets={"schema": schema(d["facets"]["schema"]["fields"])}
        )
        for d in src["inputs"]
    ]
    outputs = []
    for d in src["outputs"]:
        stats = d["outputFacets"]["outputStatistics"]
        outputs.append(
            OutputDataset(
                namespace=d["namespace"],
                name=d["name"],
                facets={"schema": schema(d["facets"]["schema"]["fields"])},
                outputFacets={
                    "outputStatistics": output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
                        rowCount=stats["rowCount"], size=stats["size"], fileCount=stats["fileCount"]
                    )
                },
            )
        )
    return RunEvent(
        eventType=RunState(src["eventType"]),
        eventTime=src["eventTime"],
        run=Run(
            runId=src["run"]["runId"],
            facets={
                "nominalTime": nominal_time_run.NominalTimeRunFacet(
                    nominalStartTime=nominal["nominalStartTime"], nominalEndTime=nominal["nominalEndTime"]
                ),
                "parent": parent_run.ParentRunFacet(
                    run=parent_run.Run(runId=parent["run"]["runId"]),
                    job=parent_run.Job(namespace=parent["job"]["namespace"], name=parent["job"]["name"]),
                    root=parent_run.Root(
                        run=parent_run.RootRun(runId=parent["root"]["run"]["runId"]),
                        job=parent_run.RootJob(
                            namespace=parent["root"]["job"]["namespace"], name=parent["root"]["job"]["name"]
                        ),
                    ),
                ),
                "processing_engine": processing_engine_run.ProcessingEngineRunFacet(
                    version=engine["version"],
                    name=engine["name"],
                    openlineageAdapterVersion=engine["openlineageAdapterVersion"],
                ),
            },
        ),
        job=Job(
            namespace=src["job"]["namespace"],
            name=src["job"]["name"],
            facets={
                "jobType": job_type_job.JobTypeJobFacet(
                    processingType=job_type["processingType"],
                    integration=job_type["integration"],
                    jobType=job_type["jobType"],
                ),
                "sql": sql_job.SQLJobFacet(query=sql["query"], dialect=sql["dialect"]),
            },
        ),
        inputs=inputs,
        outputs=outputs,
    )


def _without_provenance(value: Any) -> Any:
    """The event less who made it and which facet versions (each client stamps its own)."""
    if isinstance(value, dict):
        skip = {"_producer", "_schemaURL", "producer", "schemaURL", "facets"} - {"facets"}
        return {k: _without_provenance(v) for k, v in value.items() if k not in skip and v not in ({}, [])}
    if isinstance(value, list):
        return [_without_provenance(v) for v in value]
    return value


# --- (b) emit latency ---------------------------------------------------------------------------------------


def emit_latencies(
    event: dict[str, Any], *, count: int, registry: Registry | None, url: str, validate: bool
) -> list[float]:
    """Seconds each ``emit`` call took, with the spool writer and the HTTP sender running behind it."""
    with tempfile.TemporaryDirectory() as spool:
        config = EmitterConfig(spool_dir=Path(spool), validate=validate, close_timeout=0.1)
        emitter = Emitter(HttpTransport(url), config, registry=registry)
        clock = time.perf_counter
        times = []
        try:
            for _ in range(min(count // 10, 500)):  # warm up: validators compiled, files open, connection up
                emitter.emit(event)
            for _ in range(count):
                start = clock()
                emitter.emit(event)
                times.append(clock() - start)
                if len(times) % 50 == 0:
                    time.sleep(0.0005)  # a caller that does other work between events
            sent = emitter.flush(timeout=0.0).delivered
        finally:
            emitter.close(timeout=0)
        assert sent > 0, "the sender delivered nothing during the run: the figure would not include its load"
        return times


def quantile(values: list[float], q: float) -> float:
    """The ``q`` quantile of ``values`` (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> int:
    """Measure, print the figures and the verdicts."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter rounds (noisier)")
    args = parser.parse_args()
    budget = 0.6 if args.quick else 3.0
    count = 5_000 if args.quick else 30_000

    from openlineage.client.serde import Serde

    source = json.loads((DATA / "bench" / "openlineage-runevent-6k.json").read_bytes())
    folder = DATA / "openlineage"
    registry = Registry.default().copy()
    for path in [folder / "OpenLineage.json", *sorted(folder.glob("facets/*.json"))]:
        registry.add(json.loads(path.read_bytes()))

    ours_event = build_aifabric(source)
    aifabric.validate(ours_event, registry=registry)
    theirs = json.loads(Serde.to_json(build_openlineage(source)))
    assert _without_provenance(ours_event) == _without_provenance(theirs) == _without_provenance(source)
    size = len(orjson.dumps(ours_event))
    facets = sum(
        len(x.get("facets", {})) + len(x.get("outputFacets", {})) for x in source["inputs"] + source["outputs"]
    )
    facets += len(source["run"]["facets"]) + len(source["job"]["facets"])
    print(f"event: {size:,} bytes compact, {len(source['inputs']) + len(source['outputs'])} datasets, {facets} facets")
    print(f"Python {sys.version.split()[0]} on {sys.platform}")

    def ours() -> None:
        event = build_aifabric(source)
        aifabric.validate(event, registry=registry)
        orjson.dumps(event)

    def openlineage() -> None:
        Serde.to_json(build_openlineage(source))

    t_ours = best_per_call(ours, budget)
    t_ol = best_per_call(openlineage, budget)
    t_build = best_per_call(lambda: build_aifabric(source), budget / 3)
    t_validate = best_per_call(lambda: aifabric.validate(ours_event, registry=registry), budget / 3)
    t_dumps = best_per_call(lambda: orjson.dumps(ours_event), budget / 3)
    print(
        f"(a) build+validate+serialize  aifabric {t_ours * 1e6:8.1f} us "
        f"(build {t_build * 1e6:.1f}, validate {t_validate * 1e6:.1f}, orjson {t_dumps * 1e6:.1f})   "
        f"openlineage-python build+Serde.to_json {t_ol * 1e6:8.1f} us"
    )
    rows: list[tuple[str, str, str, bool]] = [
        ("(a) aifabric / openlineage-python", f"{t_ours / t_ol:.3f}x", "<= 0.2x", t_ours / t_ol <= 0.2)
    ]
    if ours_event["schemaURL"] in Registry.default():  # the aifabric lineage profile, once it is packaged

        def profiled() -> None:
            event = build_aifabric(source)
            aifabric.validate(event)
            orjson.dumps(event)

        t_profile = best_per_call(profiled, budget)
        print(f"    the same, validating against aifabric's lineage profile instead: {t_profile * 1e6:8.1f} us")
        ratio = t_profile / t_ol
        rows.append(("(a) aifabric (lineage profile) / openlineage-python", f"{ratio:.3f}x", "<= 0.2x", ratio <= 0.2))

    receiver = subprocess.Popen(
        [sys.executable, "-c", _RECEIVER], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        assert receiver.stdout is not None
        url = f"http://127.0.0.1:{int(receiver.stdout.readline())}"
        small = run_event("START", "bench", "small-job", inputs=[dataset("s3://bucket", "raw/orders")])
        cases: list[tuple[str, dict[str, Any], Registry | None, bool]] = [
            ("START event, OpenLineage schemas", small, registry, True),
            ("6 KB event, OpenLineage schemas", ours_event, registry, True),
            ("6 KB event, validate=False", ours_event, registry, False),
        ]
        if ours_event["schemaURL"] in Registry.default():  # the aifabric lineage profile, once it is packaged
            cases.append(("6 KB event, aifabric lineage profile", ours_event, None, True))
        print(f"(b) emit() latency over {count:,} calls, spool fsync=batch, HTTP sender to a loopback receiver:")
        for label, event, schemas, validate in cases:
            times = emit_latencies(event, count=count, registry=schemas, url=url, validate=validate)
            p50, p99, p999 = (quantile(times, q) * 1e6 for q in (0.5, 0.99, 0.999))
            mean = statistics.fmean(times) * 1e6
            print(f"    {label:<38} p50 {p50:6.1f} us  p99 {p99:6.1f} us  p99.9 {p999:7.1f} us  mean {mean:6.1f} us")
            rows.append((f"(b) emit p99, {label}", f"{p99:.1f} us", "< 100 us", p99 < 100))
    finally:
        receiver.kill()
        receiver.wait()

    print()
    print(f"{'measure':<52} {'figure':>10}  {'target':<9} verdict")
    for name, figure, target, ok in rows:
        print(f"{name:<52} {figure:>10}  {target:<9} {'met' if ok else 'MISSED'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
