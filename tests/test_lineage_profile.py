"""The lineage profile: its schemas and vectors, OpenLineage's own schemas, and the run lifecycle rules."""

from __future__ import annotations

import copy
import doctest
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from functools import cache
from typing import Any

import jsonschema
import pytest
import referencing
from hypothesis import given
from hypothesis import strategies as st

import aifabric
from aifabric import Problem, Registry, ValidationError, validate
from aifabric.conformance import load_vector_file
from aifabric.lineage import _profile
from aifabric.lineage._profile import lifecycle_problems
from aifabric.schemas import ALIASES
from tests.conftest import ROOT, EcmaReference

OL = "https://openlineage.io/spec/2-0-2/OpenLineage.json"
EVENT = "https://aifabric.dev/schemas/lineage-event/1.0.0.json"
PRODUCER = "https://github.com/aifabric/aifabric/tree/v0.1.0"
VECTORS = ROOT / "conformance" / "vectors" / "lineage"
LIFECYCLE = ROOT / "conformance" / "vectors" / "lineage-lifecycle"
EVENT_VECTORS = ("run-event.json", "dataset-event.json", "job-event.json")
FACET_KINDS = (
    "lineage-model-facet",
    "lineage-ai-call-facet",
    "lineage-deployment-facet",
    "lineage-trust-facet",
    "lineage-policy-facet",
)
FACET_MEMBERS = ("facets", "inputFacets", "outputFacets")


def _vector_cases() -> list[tuple[str, Any, str, bool]]:
    cases = []
    for path in sorted(VECTORS.glob("*.json")):
        vector = load_vector_file(path)
        assert vector.schema_ is not None
        cases += [(f"{path.name}#{n}", c.data, vector.schema_, c.valid) for n, c in enumerate(vector.cases)]
    return cases


def _lifecycle_cases() -> list[tuple[str, list[dict[str, Any]], bool, set[str]]]:
    cases = []
    for path in sorted(LIFECYCLE.glob("*.json")):
        vector = load_vector_file(path)
        assert vector.operation == "lifecycle" and vector.finished is not False, path.name
        for n, case in enumerate(vector.cases):
            spec = {*vector.spec, *(case.spec or [])} - {"CORE-088"}
            cases.append((f"{path.name}#{n}", case.data, case.valid, spec))
    return cases


def _valid_event_cases() -> list[tuple[str, dict[str, Any]]]:
    return [(name, data) for name, data, _, valid in VECTOR_CASES if valid and name.split("#")[0] in EVENT_VECTORS]


def _facets(node: Any, level: str = "") -> Iterator[tuple[str, str, dict[str, Any]]]:
    """Every facet in an event: (level, key, facet), the level being run, job, dataset, input or output."""
    if isinstance(node, list):
        for item in node:
            yield from _facets(item, level)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key in FACET_MEMBERS and isinstance(value, dict):
                where = {"inputFacets": "input", "outputFacets": "output"}.get(key, level)
                yield from ((where, k, f) for k, f in value.items() if isinstance(f, dict))
            elif key in ("run", "job"):
                yield from _facets(value, key)
            elif key in ("inputs", "outputs", "dataset"):
                yield from _facets(value, "dataset")


# --- the reference implementation, the `jsonschema` library -------------------------------------------------


@cache
def _aifabric_resources() -> referencing.Registry[Any]:
    resources = [(info.id, referencing.Resource.from_contents(dict(info.schema))) for info in Registry.default()]
    return referencing.Registry().with_resources(resources)


def _reference_errors(value: Any, url: str, registry: referencing.Registry[Any]) -> list[str]:
    validator = EcmaReference(
        {"$ref": url}, registry=registry, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(value)]


@pytest.fixture(scope="session")
def openlineage_resources(openlineage_schemas: list[dict[str, Any]]) -> referencing.Registry[Any]:
    """OpenLineage's core and facet schemas, by $id, for the `jsonschema` library; offline, nothing fetched."""
    resources = [(s["$id"], referencing.Resource.from_contents(s)) for s in openlineage_schemas]
    return referencing.Registry().with_resources(resources)


def _openlineage_errors(event: dict[str, Any], registry: referencing.Registry[Any]) -> list[str]:
    """What OpenLineage's own schemas say of an event: the definition it names, the whole schema, its facets."""
    url = event["schemaURL"]
    errors = _reference_errors(event, url, registry) + _reference_errors(event, url.split("#")[0], registry)
    for _, key, facet in _facets(event):
        facet_url = facet["_schemaURL"]
        if facet_url.startswith("https://openlineage.io/"):
            errors += [f"{key}: {e}" for e in _reference_errors(facet, facet_url, registry)]
    return errors


# --- the schemas ------------------------------------------------------------------------------------------------


def test_the_event_schema_profiles_openlineage_under_its_definition_names(
    openlineage_schemas: list[dict[str, Any]],
) -> None:
    """[LIN-002] [LIN-004] Every OpenLineage 2-0-2 definition has a namesake here, so a fragment keeps its meaning."""
    ours = Registry.default().info(EVENT).schema
    assert ours[ALIASES] == [OL]
    core = next(s for s in openlineage_schemas if s["$id"] == OL)
    assert set(core["$defs"]) <= set(ours["$defs"])
    assert {"RunEvent", "DatasetEvent", "JobEvent"} <= set(ours["$defs"])


def test_each_aifabric_facet_schema_follows_the_custom_facet_convention() -> None:
    """[LIN-012] [LIN-013] One schema per facet; its root maps the aifabric_ key to the definition it names."""
    for kind in FACET_KINDS:
        schema = Registry.default().info(f"https://aifabric.dev/schemas/{kind}/1.0.0.json").schema
        ((key, ref),) = schema["properties"].items()
        assert key.startswith("aifabric_")
        name = ref["$ref"].removeprefix("#/$defs/")
        facet = schema["$defs"][name]
        assert facet["properties"]["_schemaURL"]["const"] == f"{schema['$id']}#/$defs/{name}"
        assert facet["examples"]


# --- the vectors --------------------------------------------------------------------------------------------------


VECTOR_CASES = _vector_cases()
LIFECYCLE_CASES = _lifecycle_cases()


@pytest.mark.parametrize(("name", "data", "url", "valid"), VECTOR_CASES, ids=[c[0] for c in VECTOR_CASES])
def test_lineage_vectors_pass_in_aifabric_and_in_jsonschema(name: str, data: Any, url: str, valid: bool) -> None:
    """[LIN-002] Every lineage vector gets its verdict from aifabric and from the reference `jsonschema` library."""
    try:
        validate(data, schema_url=url)
        ours = True
    except ValidationError:
        ours = False
    assert ours is valid, name
    assert (not _reference_errors(data, url, _aifabric_resources())) is valid, name


def test_the_lineage_area_tests_rejection_at_least_as_much_as_acceptance() -> None:
    """Each lineage vector file has at least as many invalid cases as valid ones."""
    for path in sorted(VECTORS.glob("*.json")):
        verdicts = [case.valid for case in load_vector_file(path).cases]
        assert verdicts.count(False) >= verdicts.count(True) > 0, path.name


def test_every_valid_lineage_vector_validates_against_openlineages_own_schemas(
    openlineage_resources: referencing.Registry[Any],
) -> None:
    """[LIN-001] Each valid event of the event vectors is valid OpenLineage 2-0-2, its OpenLineage facets too."""
    cases = _valid_event_cases()
    assert len(cases) >= 15
    failures = {name: errors for name, event in cases if (errors := _openlineage_errors(event, openlineage_resources))}
    assert failures == {}


def test_every_aifabric_built_event_and_facet_is_valid_openlineage(
    openlineage_resources: referencing.Registry[Any],
) -> None:
    """[LIN-001] The events of the schema examples and of the lifecycle cases, and every valid facet vector, too."""
    schema = Registry.default().info(EVENT).schema
    events = [
        *schema["examples"],
        *(e for d in schema["$defs"].values() for e in d.get("examples", []) if "eventTime" in e),
    ]
    events += [e for _, sequence, _, _ in LIFECYCLE_CASES for e in sequence]
    failures = [errors for event in events if (errors := _openlineage_errors(event, openlineage_resources))]
    assert failures == []
    bases = {"model": "DatasetFacet", "ai-call": "RunFacet", "deployment": "DatasetFacet", "trust": "DatasetFacet"}
    for name, data, url, valid in VECTOR_CASES:
        if valid and "facet" in name:
            base = bases.get(name.split("-facet")[0], "RunFacet")
            assert _reference_errors(data, f"{OL}#/$defs/{base}", openlineage_resources) == [], name
            assert _reference_errors(data, url, _aifabric_resources()) == [], name


def test_every_facet_schema_url_resolves_offline_and_the_facet_is_valid_there(
    openlineage_resources: referencing.Registry[Any],
) -> None:
    """[LIN-011] A facet names a schema its producer publishes; aifabric's and OpenLineage's all resolve offline."""
    checked = 0
    for name, event in _valid_event_cases():
        for _, key, facet in _facets(event):
            url = facet["_schemaURL"]
            if url.startswith("https://openlineage.io/"):
                assert _reference_errors(facet, url, openlineage_resources) == [], (name, key)
            elif url.startswith("https://aifabric.dev/"):
                assert url in Registry.default()
                validate(facet, schema_url=url)
            else:
                assert ".example.com/" in url, f"{name}: {key} names {url}, which this test cannot resolve"
                continue
            checked += 1
    assert checked >= 30


def _without_event_type() -> tuple[dict[str, Any], dict[str, Any]]:
    event = next(data for name, data in _valid_event_cases() if name.startswith("run-event"))
    assert event["schemaURL"] == f"{OL}#/$defs/RunEvent"
    return event, {k: v for k, v in event.items() if k != "eventType"}


def test_an_openlineage_schema_url_is_validated_against_the_profile() -> None:
    """[LIN-004] [LIN-007] A document naming OpenLineage's URL is checked against aifabric's profile."""
    event, without_type = _without_event_type()
    assert validate(event).schema_url == event["schemaURL"]
    with pytest.raises(ValidationError) as caught:
        validate(without_type)
    assert any(p.rule == "required" and "eventType" in p.message for p in caught.value.problems)


def test_openlineages_own_schema_wins_when_the_caller_gives_it(openlineage_registry: Registry) -> None:
    """[LIN-004] Unless the caller gave OpenLineage's own schema: there, eventType is optional."""
    _, without_type = _without_event_type()
    validate(without_type, registry=openlineage_registry)


# --- the lifecycle rules ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "events", "valid", "spec"), LIFECYCLE_CASES, ids=[c[0] for c in LIFECYCLE_CASES])
def test_lifecycle_cases(name: str, events: list[dict[str, Any]], valid: bool, spec: set[str]) -> None:
    """[LIN-020] [LIN-021] [LIN-022] [LIN-023] [LIN-024] Each case's verdict, and the rules it names, exactly."""
    for event in events:
        validate(event)  # each event on its own is fine: only the sequence can break these rules
    found = lifecycle_problems(events)
    assert all(isinstance(p, Problem) and re.fullmatch(r"/[0-9]+/event(Type|Time)", p.pointer) for p in found)
    if valid:
        assert found == [], name
    else:
        assert {p.rule for p in found} == spec - {"LIN-024"}, (name, [str(p) for p in found])


def test_lifecycle_cases_test_rejection_at_least_as_much_as_acceptance() -> None:
    by_file: dict[str, list[bool]] = {}
    for name, _, valid, _ in LIFECYCLE_CASES:
        by_file.setdefault(name.split("#")[0], []).append(valid)
    assert len(by_file) >= 5
    for name, verdicts in by_file.items():
        assert verdicts.count(False) >= verdicts.count(True) > 0, name


OFFSETS = [
    UTC,
    timezone(timedelta(hours=1)),
    timezone(timedelta(hours=-5, minutes=-30)),
    timezone(timedelta(hours=14)),
]
START = datetime(2026, 11, 23, tzinfo=UTC)
NOT_A_RUN = {
    "eventTime": "2026-11-23T00:00:00Z",
    "producer": PRODUCER,
    "schemaURL": f"{OL}#/$defs/DatasetEvent",
    "dataset": {"namespace": "s3://acme-data", "name": "reviews"},
}


def _time(at: datetime, offset: timezone, style: int) -> str:
    local = at.astimezone(offset)
    text = local.isoformat(timespec="microseconds" if style % 2 or at.microsecond else "seconds")
    return text.replace("+00:00", "Z" if style < 2 else "z") if offset is UTC else text


def _event(event_type: str, when: str, run_id: str) -> dict[str, Any]:
    return {
        "eventType": event_type,
        "eventTime": when,
        "producer": PRODUCER,
        "schemaURL": f"{OL}#/$defs/RunEvent",
        "run": {"runId": run_id},
        "job": {"namespace": "jobs", "name": "job-" + run_id[:8]},
    }


@st.composite
def _run(draw: st.DrawFn) -> list[dict[str, Any]]:
    """One run that keeps every rule: START, RUNNING events, one terminal event, OTHER events."""
    run_id = str(draw(st.uuids(version=4)))
    middle = draw(st.lists(st.sampled_from(["RUNNING", "OTHER"]), max_size=3))
    types = ["START", *middle, draw(st.sampled_from(["COMPLETE", "FAIL", "ABORT"]))]
    types += draw(st.lists(st.just("OTHER"), max_size=2))
    at = START + timedelta(seconds=draw(st.integers(0, 10**6)))
    events = []
    for event_type in types:
        at += timedelta(microseconds=draw(st.integers(0, 10**10)))
        when = _time(at, draw(st.sampled_from(OFFSETS)), draw(st.integers(0, 3)))
        events.append(_event(event_type, when, run_id))
    return events


@st.composite
def lifecycles(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Valid runs, interleaved in any order that keeps each run's own order, with events of no run between."""
    runs = draw(st.lists(_run(), min_size=1, max_size=4))
    labels = [n for n, run in enumerate(runs) for _ in run] + [-1] * draw(st.integers(0, 2))
    queues = [iter(run) for run in runs]
    return [copy.deepcopy(NOT_A_RUN) if n < 0 else next(queues[n]) for n in draw(st.permutations(labels))]


def _indices(events: list[dict[str, Any]], run_id: str) -> list[int]:
    return [n for n, e in enumerate(events) if e.get("run", {}).get("runId") == run_id]


@given(lifecycles())
def test_generated_valid_lifecycles_pass(events: list[dict[str, Any]]) -> None:
    """[LIN-020] [LIN-021] [LIN-022] [LIN-023] [LIN-024] Runs that keep the rules, however interleaved, pass."""
    for event in events:
        validate(event)
    assert lifecycle_problems(events) == []


def _break(events: list[dict[str, Any]], how: str, run_id: str) -> set[tuple[str, str]]:
    """Break one rule for one run in place; return the (pointer, rule) pairs a checker reports for it."""
    mine = _indices(events, run_id)
    last = mine[-1]
    terminal = next(n for n in mine if events[n]["eventType"] in _profile.TERMINAL)
    if how == "no START":
        del events[mine[0]]
        return {(f"/{n}/eventType", "LIN-020") for n in _indices(events, run_id)}
    if how == "time goes back":
        at = mine[1]
        earlier = datetime.fromisoformat(events[mine[0]]["eventTime"].upper().replace("Z", "+00:00"))
        events[at]["eventTime"] = (earlier - timedelta(seconds=1)).astimezone(UTC).isoformat().replace("+00:00", "Z")
        return {(f"/{at}/eventTime", "LIN-021")}
    if how == "no terminal event":
        del events[terminal]
        return {(f"/{_indices(events, run_id)[-1]}/eventType", "LIN-022")}
    added = {"second START": "START", "second terminal event": "FAIL", "RUNNING after the end": "RUNNING"}[how]
    events.insert(last + 1, _event(added, events[last]["eventTime"], run_id))
    rules = {"START": {"LIN-020", "LIN-023"}, "FAIL": {"LIN-022", "LIN-023"}, "RUNNING": {"LIN-023"}}[added]
    return {(f"/{last + 1}/eventType", rule) for rule in rules}


@given(
    lifecycles(),
    st.sampled_from(
        [
            "no START",
            "time goes back",
            "no terminal event",
            "second START",
            "second terminal event",
            "RUNNING after the end",
        ]
    ),
    st.data(),
)
def test_each_broken_rule_is_reported_where_it_is_broken(
    events: list[dict[str, Any]], how: str, data: st.DataObject
) -> None:
    """[LIN-020] [LIN-021] [LIN-022] [LIN-023] [LIN-024] One rule broken in one run: exactly that is reported."""
    run_ids = sorted({e["run"]["runId"] for e in events if "run" in e})
    expected = _break(events, how, data.draw(st.sampled_from(run_ids)))
    assert {(p.pointer, p.rule) for p in lifecycle_problems(events)} == expected


def test_a_run_still_in_flight_is_not_missing_its_terminal_event() -> None:
    """[LIN-022] Only a finished run needs its terminal event; a second one is wrong either way."""
    run_id = "01936f2a-8b40-7c11-9a3e-4f5d6c7b8a90"
    started = [_event("START", "2026-11-23T08:00:00Z", run_id), _event("RUNNING", "2026-11-23T08:01:00Z", run_id)]
    assert [(p.pointer, p.rule) for p in lifecycle_problems(started)] == [("/1/eventType", "LIN-022")]
    assert lifecycle_problems(started, finished=False) == []
    twice = [
        *started,
        _event("COMPLETE", "2026-11-23T08:02:00Z", run_id),
        _event("ABORT", "2026-11-23T08:03:00Z", run_id),
    ]
    assert {p.rule for p in lifecycle_problems(twice, finished=False)} == {"LIN-022", "LIN-023"}


def test_a_missing_or_malformed_event_type_or_time_is_reported_and_the_rest_still_checked() -> None:
    """[LIN-005] [LIN-007] [LIN-024] The checker never raises: it names the member and goes on."""
    run_id = "01936f2a-8b40-7c11-9a3e-4f5d6c7b8a90"
    events: list[Any] = [
        _event("START", "2026-11-23T08:00:00Z", run_id),
        {k: v for k, v in _event("RUNNING", "2026-11-23T08:01:00Z", run_id).items() if k != "eventType"},
        _event("STARTED", "2026-11-23T08:02:00Z", run_id),
        _event("RUNNING", "2026-11-23T08:03:00", run_id),
        _event("RUNNING", "2026-02-30T08:03:00Z", run_id),
        _event("RUNNING", "", run_id) | {"eventTime": 20261123},
        "not an event",
        {"run": {"runId": 7}},
        _event("COMPLETE", "2026-11-23T07:59:59.999999999Z", run_id),
    ]
    found = [(p.pointer, p.rule) for p in lifecycle_problems(events)]
    assert found == [
        ("/1/eventType", "LIN-007"),
        ("/2/eventType", "LIN-007"),
        ("/3/eventTime", "LIN-005"),
        ("/4/eventTime", "LIN-005"),
        ("/5/eventTime", "LIN-005"),
        ("/8/eventTime", "LIN-021"),
    ]
    assert all(p.message and run_id in p.message for p in lifecycle_problems(events))


@pytest.mark.parametrize(
    ("earlier", "later", "same_instant"),
    [
        ("2026-11-23T08:00:00.1Z", "2026-11-23T08:00:00.1000000001Z", False),
        ("2026-11-23T09:00:00+01:00", "2026-11-23T08:00:00.000001Z", False),
        ("2026-12-31T23:59:59Z", "2026-12-31T23:59:60Z", False),
        ("2026-11-23t08:00:00z", "2026-11-23T03:00:00-05:00", True),
    ],
)
def test_event_times_compare_as_instants(earlier: str, later: str, same_instant: bool) -> None:
    """[LIN-021] Instants, not text: offsets, any number of fraction digits, a leap second."""
    run_id = "01936f2a-8b40-7c11-9a3e-4f5d6c7b8a90"
    assert lifecycle_problems([_event("START", earlier, run_id), _event("COMPLETE", later, run_id)]) == []
    backwards = lifecycle_problems([_event("START", later, run_id), _event("COMPLETE", earlier, run_id)])
    assert [(p.pointer, p.rule) for p in backwards] == ([] if same_instant else [("/1/eventTime", "LIN-021")])


def test_the_profile_module_example_runs() -> None:
    result = doctest.testmod(_profile, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0


def test_problems_are_the_sdks_problem_type() -> None:
    assert _profile.lifecycle_problems([]) == []
    found = lifecycle_problems([_event("COMPLETE", "2026-11-23T08:00:00Z", "01936f2a-8b40-7c11-9a3e-4f5d6c7b8a90")])
    assert found and all(type(p) is aifabric.Problem for p in found)
    assert str(found[0]).startswith("/0/eventType: LIN-020: ")
