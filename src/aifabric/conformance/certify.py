"""Certify an implementation against conformance profiles: run their vectors and checks, judge, report.

A target is ``reference`` (aifabric itself, through its adapter and its reference servers), a command that speaks
the adapter protocol, or an ``http://`` URL (a lineage collector or a model endpoint). The report is a
conformance-report 1.1.0 document with a verdict per profile (spec/conformance.md).

Examples:
    >>> [p.id for p in load_profiles()][:3]
    ['document-validator', 'canonicalizer', 'envelope']
    >>> report = certify("reference", ["canonicalizer"])
    >>> [(p.id, p.verdict) for p in report.profiles or []]
    [('canonicalizer', 'passed')]
"""

from __future__ import annotations

import hashlib
import json
import platform
import shlex
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

from aifabric import __version__
from aifabric._errors import AifabricError
from aifabric._ids import utc_now, uuid7
from aifabric._version import SPEC_VERSION
from aifabric.canonical import digest
from aifabric.conformance._vectors import PRODUCER as _PRODUCER
from aifabric.conformance._vectors import VectorFileError, default_vectors_dir, load_vector_file, output_problem
from aifabric.conformance.adapters import Adapter, Answer, case_request
from aifabric.models.conformance import (
    ConformanceReport,
    Implementation,
    ProfileVerdict,
    RequirementVerdict,
    Result,
    Suite,
    Summary,
)

__all__ = [
    "SUITE_NAME",
    "CertifyError",
    "Profile",
    "certify",
    "judge",
    "load_profiles",
    "reference_command",
    "suite_digest",
]

SUITE_NAME: Final = "aifabric-conformance"
_PROFILES: Final = Path(__file__).with_name("profiles.json")
Progress = Callable[[Result], None]


class CertifyError(AifabricError):
    """A certify run that cannot start: an unknown profile, or a profile the target cannot serve."""

    code = "AIF-CERTIFY"


@dataclass(frozen=True, slots=True)
class Profile:
    """A conformance profile: what it runs and the level of each requirement it holds an implementation to."""

    id: str
    title: str
    description: str
    target: Literal["adapter", "http"]
    requirements: dict[str, str]
    areas: tuple[str, ...] = ()
    operations: tuple[str, ...] = ()
    checks: tuple[str, ...] = ()
    conditional: dict[str, str] = field(default_factory=dict)

    def selects(self, area: str, operation: str) -> bool:
        """Whether a vector file of this area and operation belongs to the profile."""
        return area in self.areas and operation in self.operations


def load_profiles() -> list[Profile]:
    """The profiles of the suite, in the order ``profiles.json`` lists them."""
    data = json.loads(_PROFILES.read_text("utf-8"))
    return [
        Profile(
            id=p["id"],
            title=p["title"],
            description=p["description"],
            target=p["target"],
            requirements=dict(p["requirements"]),
            areas=tuple(p.get("vectors", {}).get("areas", ())),
            operations=tuple(p.get("vectors", {}).get("operations", ())),
            checks=tuple(p.get("checks", ())),
            conditional=dict(p.get("conditional", {})),
        )
        for p in data["profiles"]
    ]


def suite_digest(vectors_dir: Path | None = None) -> str:
    """Hex SHA-256 of the suite: the profiles and every vector file's bytes (CONF-011)."""
    root = vectors_dir or default_vectors_dir()
    files = {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*.json")}
    profiles = json.loads(_PROFILES.read_text("utf-8"))
    return digest({"profiles": profiles, "vectors": dict(sorted(files.items()))})["sha256"]


def reference_command() -> list[str]:
    """The command line of aifabric's own adapter."""
    return [sys.executable, "-m", "aifabric.conformance.adapter"]


def judge(profile: Profile, results: Iterable[Result]) -> ProfileVerdict:
    """A profile's verdict from the results of its cases and checks (CONF-003, CONF-005, CONF-006)."""
    mine = [r for r in results if _belongs(profile, r)]
    verdicts = Summary.of(mine).requirements if mine else {}
    out: dict[str, RequirementVerdict] = {}
    for rid, level in sorted(profile.requirements.items()):
        seen = verdicts.get(rid, "skipped")
        verdict: Any = "not-applicable" if seen == "skipped" and rid in profile.conditional else seen
        out[rid] = RequirementVerdict(level=level, verdict=verdict)  # type: ignore[arg-type]
    broken = any((r.evidence or {}).get("broken") for r in mine)
    failed = broken or any(v.level == "MUST" and v.verdict in ("failed", "skipped") for v in out.values())
    return ProfileVerdict(
        id=profile.id, title=profile.title, verdict="failed" if failed else "passed", requirements=out
    )


def _belongs(profile: Profile, result: Result) -> bool:
    evidence = result.evidence or {}
    check = evidence.get("check")
    if isinstance(check, str):
        return check in profile.checks
    if evidence.get("broken"):  # a vector file that cannot be read: whoever reads its area cannot pass
        return str(evidence.get("area")) in profile.areas
    return profile.selects(str(evidence.get("area")), str(evidence.get("operation")))


def certify(
    target: str | Sequence[str],
    profiles: Sequence[str],
    *,
    vectors_dir: Path | None = None,
    contract: Path | None = None,
    timeout: float = 30.0,
    on_result: Progress | None = None,
) -> ConformanceReport:
    """Run the profiles against the target and return the (unsigned) report.

    Args:
        target: ``"reference"``, an ``http(s)://`` URL, or a command line (a string split like a shell, or argv).
        profiles: profile ids, such as ``"document-validator"``.
        vectors_dir: the vector files (default: those shipped with aifabric).
        contract: the serving contract for the Serving Endpoint profile.
        timeout: seconds to wait for each adapter answer.
        on_result: called with each result as it comes.

    Raises:
        CertifyError: an unknown profile, or a profile that the kind of target cannot serve.
    """
    known = {p.id: p for p in load_profiles()}
    unknown = [p for p in profiles if p not in known]
    if unknown or not profiles:
        raise CertifyError(f"unknown profile {unknown[0]!r}" if unknown else "name at least one profile") from None
    chosen = [known[p] for p in dict.fromkeys(profiles)]
    kind, argv, label = _target(target)
    for profile in chosen:
        if kind == "url" and profile.target == "adapter":
            raise CertifyError(f"profile {profile.id} needs an adapter command or 'reference', not a URL")
        if kind == "command" and profile.target == "http":
            raise CertifyError(f"profile {profile.id} needs a URL target (or 'reference')")
    root = vectors_dir or default_vectors_dir()
    say = on_result or (lambda _: None)
    results: list[Result] = []
    implementation = Implementation(name=label)

    def emit(result: Result) -> None:
        results.append(result)
        say(result)

    adapter_profiles = [p for p in chosen if p.target == "adapter"]
    if adapter_profiles:
        command = argv if kind == "command" else reference_command()
        implementation = _run_adapter(command, adapter_profiles, root, timeout, emit) or implementation
    for profile in chosen:
        if "lineage-collector" in profile.checks:
            from aifabric.conformance._http import lineage_checks

            lineage_checks(None if kind == "reference" else label, root, emit)
        if "serving-harness" in profile.checks:
            from aifabric.conformance._http import serving_checks

            serving_checks(None if kind == "reference" else label, contract, emit)
    if kind == "reference":
        implementation = Implementation(name="aifabric-python", version=__version__, vendor="aifabric")
    report = ConformanceReport(
        schemaURL="https://aifabric.dev/schemas/conformance-report/1.1.0.json",
        producer=_PRODUCER,
        reportId=uuid7(),
        createdAt=utc_now(),
        specVersion=SPEC_VERSION,
        suite=Suite(
            name=SUITE_NAME,
            version=__version__,
            selection=[p.id for p in chosen],
            digest={"sha256": suite_digest(root)},
        ),
        implementation=implementation,
        environment={"python": platform.python_version(), "platform": platform.platform(terse=True)},
        results=results,
        summary=Summary.of(results),
        target=label,
        profiles=[judge(p, results) for p in chosen],
    )
    report.to_json()  # the report conforms, or this raises
    return report


def _target(target: str | Sequence[str]) -> tuple[Literal["reference", "url", "command"], list[str], str]:
    if isinstance(target, str):
        if target == "reference":
            return "reference", [], "reference"
        if target.startswith(("http://", "https://")):
            return "url", [], target.rstrip("/")
        try:
            argv = shlex.split(target)
        except ValueError as exc:
            raise CertifyError(f"cannot read the target command {target!r}: {exc}") from None
    else:
        argv = list(target)
    if not argv:
        raise CertifyError("the target command is empty")
    return "command", argv, shlex.join(argv)


def _run_adapter(
    argv: list[str], profiles: list[Profile], root: Path, timeout: float, emit: Progress
) -> Implementation | None:
    from aifabric.schemas import _schema_root

    files = sorted(root.rglob("*.json"))
    adapter = Adapter(argv, timeout=timeout, env={"AIFABRIC_SCHEMAS_DIR": str(_schema_root())})
    try:
        adapter.start()
    except AifabricError as exc:
        started: str | None = str(exc)
    else:
        started = None
    try:
        for path in files:
            area, name = path.parent.name, path.relative_to(root).as_posix()
            raw = _raw(path)
            operation = raw.get("operation") if isinstance(raw, dict) else None
            if isinstance(operation, str) and not any(p.selects(area, operation) for p in profiles):
                continue
            if operation is None and not any(area in p.areas for p in profiles):
                continue
            try:
                vector = load_vector_file(path)
            except VectorFileError as exc:  # it counts against every chosen profile that reads its area
                broken = {"area": area, "operation": str(operation), "broken": True}
                emit(Result(id=name, requirements=["CORE-040"], outcome="error", message=exc.reason, evidence=broken))
                continue
            for n, case in enumerate(vector.cases):
                requirements = sorted({*vector.spec, *(case.spec or [])})
                base: dict[str, Any] = {
                    "area": area,
                    "operation": vector.operation,
                    "expected": "accept" if case.valid else "reject",
                }
                if case.expected is not None:
                    base["expectedOutput"] = case.expected
                started_at = time.perf_counter()
                if started is not None:
                    answer = Answer("errored", message=started)
                else:
                    answer = adapter.run(vector.operation, case_request(raw, raw["cases"][n]))
                emit(
                    _result(
                        f"{name}#{n}",
                        case.description,
                        requirements,
                        answer,
                        base,
                        case.valid,
                        case.expected,
                        started_at,
                        adapter,
                    )
                )
    finally:
        adapter.close()
    impl = adapter.implementation
    if not impl.get("name"):
        return None
    return Implementation(
        name=str(impl["name"]), version=str(impl["version"]) if isinstance(impl.get("version"), str) else None
    )


def _raw(path: Path) -> Any:
    try:
        return json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None


def _result(
    case_id: str,
    description: str,
    requirements: list[str],
    answer: Answer,
    evidence: dict[str, Any],
    valid: bool,
    expected: str | dict[str, Any] | None,
    started_at: float,
    adapter: Adapter,
) -> Result:
    duration = round((time.perf_counter() - started_at) * 1000, 3)
    evidence = dict(evidence)
    message: str | None = None
    if answer.kind == "result":
        evidence["observed"] = "accept" if answer.valid else "reject"
        if answer.message:
            evidence["adapterMessage"] = answer.message[:2000]
        if answer.output is not None:
            evidence["output"] = answer.output
        ok = answer.valid == valid
        problem = output_problem(str(evidence.get("operation")), expected, answer.output) if ok else None
        if problem is not None:
            ok, message = False, problem
        elif not ok:
            message = f"expected {evidence['expected']}, got {evidence['observed']}"
        outcome: Any = "passed" if ok else "failed"
    elif answer.kind == "skipped":
        outcome, message = "skipped", answer.message or "skipped by the adapter"
        evidence["observed"] = "skipped"
    else:
        outcome, message = "error", answer.message or "the adapter broke on this case"
        evidence["observed"] = "errored"
        if adapter.stderr.strip():
            evidence["stderr"] = adapter.stderr.strip()[-2000:]
    return Result(
        id=case_id,
        description=description,
        requirements=requirements,
        outcome=outcome,
        durationMs=duration,
        message=message,
        evidence=evidence,
    )
