"""The lineage models equal the lineage schemas: schema instances parse and round-trip, model output validates."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pydantic
import pytest
from hypothesis import HealthCheck, assume, given, settings

from aifabric import ValidationError, schema_url, validate
from aifabric.models import (
    AICallsRunFacet,
    DatasetEvent,
    DatasetFacets,
    DeploymentFacet,
    Job,
    JobEvent,
    ModelFacet,
    OutputDataset,
    PolicyRunFacet,
    Run,
    RunEvent,
    TrustDatasetFacet,
)
from tests.conftest import inline_refs
from tests.strategies import from_schema

EVENT = schema_url("lineage-event")
PRODUCER = "https://github.com/aifabric/aifabric/tree/v0.1.0"
FACETS: list[tuple[str, str, type[pydantic.BaseModel]]] = [
    ("lineage-model-facet", "ModelFacet", ModelFacet),
    ("lineage-ai-call-facet", "AICallsRunFacet", AICallsRunFacet),
    ("lineage-deployment-facet", "DeploymentFacet", DeploymentFacet),
    ("lineage-trust-facet", "TrustDatasetFacet", TrustDatasetFacet),
    ("lineage-policy-facet", "PolicyRunFacet", PolicyRunFacet),
]
EVENTS: list[tuple[str, type[pydantic.BaseModel]]] = [
    ("RunEvent", RunEvent),
    ("DatasetEvent", DatasetEvent),
    ("JobEvent", JobEvent),
]


def _generable(node: Any) -> Any:
    """The schema without its ``false`` property schemas, which the generator cannot draw from (and never needs)."""
    if isinstance(node, list):
        return [_generable(item) for item in node]
    if not isinstance(node, str):
        pass
    elif node.startswith(f"{EVENT}#"):  # a facet's $ref back into the event schema, which inline_refs keeps absolute
        return node.removeprefix(EVENT)
    if not isinstance(node, dict):
        return node
    return {
        k: _generable(v)
        for k, v in node.items()
        if not (v is False and k.startswith(("gen_ai.", "error.")))
        and not (
            k == "propertyNames" and "anyOf" in v
        )  # its `not` branch draws any value as a key; the model checks it
    }


def _schema_accepts(doc: Any, url: str) -> bool:
    try:
        validate(doc, schema_url=url)
    except (ValidationError, TypeError):
        return False
    return True


def _check(value: Any, url: str, model: type[pydantic.BaseModel]) -> None:
    """Whatever the schema accepts parses and round-trips; whatever the model accepts, the schema accepts."""
    accepted = _schema_accepts(value, url)
    try:
        parsed = model.model_validate(value)
    except pydantic.ValidationError:
        assert not accepted, value
        return
    out = parsed.model_dump(mode="json", by_alias=True, exclude_none=True)
    assume(accepted)  # the model does not check the uri format; the schema does
    assert out == value
    validate(out, schema_url=url)


@pytest.mark.parametrize(("schema", "name", "model"), FACETS)
def test_facet_schema_instances_parse_and_round_trip(schema: str, name: str, model: type[pydantic.BaseModel]) -> None:
    url = f"{schema_url(schema)}#/$defs/{name}"

    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
    @given(from_schema(_generable(inline_refs(url))))
    def check(value: Any) -> None:
        _check(value, url, model)

    check()


@pytest.mark.parametrize(("name", "model"), EVENTS)
def test_event_schema_instances_parse_and_round_trip(name: str, model: type[pydantic.BaseModel]) -> None:
    url = f"{EVENT}#/$defs/{name}"

    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
    @given(from_schema(_generable(inline_refs(url))))
    def check(value: Any) -> None:
        _check(value, url, model)

    check()


@pytest.mark.parametrize("example", range(3))
def test_schema_examples_round_trip(example: int) -> None:
    doc = validate_examples()[example]
    kinds: dict[str, type[RunEvent | DatasetEvent | JobEvent]] = {
        "RunEvent": RunEvent,
        "DatasetEvent": DatasetEvent,
        "JobEvent": JobEvent,
    }
    model = kinds[doc["schemaURL"].rsplit("/", 1)[1]]
    assert model.model_validate(doc).to_json() == doc


def validate_examples() -> list[dict[str, Any]]:
    examples: list[dict[str, Any]] = inline_refs(EVENT)["examples"]
    return examples


def _event(**changes: Any) -> RunEvent:
    fields: dict[str, Any] = {
        "eventType": "START",
        "eventTime": "2026-11-23T08:00:00Z",
        "producer": PRODUCER,
        "run": Run(runId="01936f2a-8b40-7c11-9a3e-4f5d6c7b8a90"),
        "job": Job(namespace="ml", name="train"),
    }
    return RunEvent(**{**fields, **changes})


def test_model_built_events_validate() -> None:
    model = ModelFacet(_producer=PRODUCER, name="acme/m", digest={"sha256": "ab" * 32})
    event = _event(
        eventType="COMPLETE",
        outputs=[OutputDataset(namespace="hf", name="m", facets=DatasetFacets(aifabric_model=model))],
    )
    doc = event.to_json()
    validate(doc)
    job = JobEvent(eventTime="2026-11-23T08:00:00Z", producer=PRODUCER, job=Job(namespace="ml", name="train"))
    validate(job.to_json())


def test_model_rejects_what_the_schema_rejects() -> None:
    cases: list[tuple[type[pydantic.BaseModel], dict[str, Any], str]] = [
        (ModelFacet, {"_producer": PRODUCER, "name": "m"}, f"{schema_url('lineage-model-facet')}#/$defs/ModelFacet"),
        (
            ModelFacet,
            {"_producer": "no version", "name": "m", "version": "1"},
            f"{schema_url('lineage-model-facet')}#/$defs/ModelFacet",
        ),
        (
            DeploymentFacet,
            {"_producer": PRODUCER, "jurisdictions": ["DE", "DE"]},
            f"{schema_url('lineage-deployment-facet')}#/$defs/DeploymentFacet",
        ),
        (
            DeploymentFacet,
            {"_producer": PRODUCER, "jurisdictions": ["XX"]},
            f"{schema_url('lineage-deployment-facet')}#/$defs/DeploymentFacet",
        ),
    ]
    call = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "latencyMs": 5, "outcome": "success"}
    ai = f"{schema_url('lineage-ai-call-facet')}#/$defs/AICallsRunFacet"
    base = {"_producer": PRODUCER, "_schemaURL": ai, "semconvSchemaURL": "https://opentelemetry.io/schemas/1.41.0"}
    cases.append((AICallsRunFacet, {**base, "calls": [call]}, ai))  # chat without gen_ai.request.model
    cases.append((AICallsRunFacet, {**base, "calls": [{**call, "gen_ai.system": "openai"}]}, ai))
    for model, value, url in cases:
        if "_schemaURL" not in value:
            value = {**value, "_schemaURL": url}
        assert not _schema_accepts(value, url)
        with pytest.raises(pydantic.ValidationError):
            model.model_validate(value)
    facets = {"aifabric_trust": {"_producer": PRODUCER}}  # trust is a dataset facet, not a run facet
    with pytest.raises(pydantic.ValidationError):
        _event(run=Run.model_validate({"runId": "01936f2a-8b40-7c11-9a3e-4f5d6c7b8a90", "facets": facets}))
    facet = ModelFacet(_producer=PRODUCER, name="m", version="1")
    with pytest.raises(pydantic.ValidationError):  # a COMPLETE event's output model has a digest
        _event(
            eventType="COMPLETE",
            outputs=[OutputDataset(namespace="hf", name="m", facets=DatasetFacets(aifabric_model=facet))],
        )


def test_the_emitter_takes_a_typed_event(tmp_path: Path) -> None:
    """[LIN-001] A RunEvent model goes through Emitter.emit like a dict, checked against the profile."""
    from aifabric.lineage.config import EmitterConfig
    from aifabric.lineage.emitter import Emitter
    from aifabric.lineage.transports import FileTransport

    out = tmp_path / "events.jsonl"
    event = RunEvent.model_validate(next(e for e in validate_examples() if e["schemaURL"].endswith("RunEvent")))
    with Emitter(FileTransport(out), EmitterConfig(spool_dir=None)) as emitter:
        assert emitter.emit(event, wait=5) is not None
    assert json.loads(out.read_text().splitlines()[0]) == event.to_json()
