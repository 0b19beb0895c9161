"""Models of conformance vector files and conformance reports.

Examples:
    >>> from aifabric.models.conformance import Result, Summary
    >>> results = [Result(id="a#0", requirements=["CORE-020"], outcome="passed"),
    ...            Result(id="a#1", requirements=["CORE-020", "CORE-021"], outcome="skipped")]
    >>> Summary.of(results).requirements
    {'CORE-020': 'passed', 'CORE-021': 'skipped'}
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, ClassVar, Final, Literal

from pydantic import Field, SerializerFunctionWrapHandler, model_serializer, model_validator

from aifabric.models.common import DigestSet, Document, RequirementId, Timestamp, UUIDv7, _Model

__all__ = [
    "ConformanceReport",
    "ConformanceVectorFile",
    "Implementation",
    "Outcome",
    "ProfileVerdict",
    "RequirementVerdict",
    "Result",
    "Suite",
    "Summary",
    "VectorCase",
]

Outcome = Literal["passed", "failed", "skipped", "error"]
_PEM: Final = re.compile(r"-----BEGIN [A-Z0-9 ]+-----")
_BASE64: Final = re.compile(r"[A-Za-z0-9+/_-]*={0,2}")
_REPORT_1_0: Final = "https://aifabric.dev/schemas/conformance-report/1.0.0.json"
_REPORT: Final = "https://aifabric.dev/schemas/conformance-report/1.1.0.json"
_VECTOR: Final = "https://aifabric.dev/schemas/conformance-vector/1.4.0.json"
_SINCE: Final = {"verify": 1, "lifecycle": 2, "checkpoint": 3, "proof": 3, "score": 4, "guard-call": 4}
"""The first minor version of conformance-vector 1.x that defines each operation added after 1.0.0."""


class VectorCase(_Model):
    """One case of a vector file: input, verdict, and the expected output (canonicalize, score, guard-call)."""

    description: str = Field(min_length=1)
    data: Any
    valid: bool
    expected: str | dict[str, Any] | None = None
    spec: list[RequirementId] | None = None

    @model_serializer(mode="wrap")
    def _keep_null_data(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        out: dict[str, Any] = handler(self)
        out.setdefault("data", None)  # null is a case's data like any other value, even with exclude_none
        return out


class ConformanceVectorFile(_Model):
    """A file of cases for one behaviour of the standard (conformance-vector 1.0.0 to 1.4.0)."""

    SCHEMA_URL: ClassVar[str] = _VECTOR

    schema_url: Literal[
        "https://aifabric.dev/schemas/conformance-vector/1.0.0.json",
        "https://aifabric.dev/schemas/conformance-vector/1.1.0.json",
        "https://aifabric.dev/schemas/conformance-vector/1.2.0.json",
        "https://aifabric.dev/schemas/conformance-vector/1.3.0.json",
        "https://aifabric.dev/schemas/conformance-vector/1.4.0.json",
    ] = Field(default=_VECTOR, alias="schemaURL")
    description: str = Field(min_length=1)
    spec: list[RequirementId] = Field(min_length=1)
    operation: Literal[
        "validate", "canonicalize", "envelope", "verify", "lifecycle", "checkpoint", "proof", "score", "guard-call"
    ]
    schema_: str | None = Field(default=None, alias="schema", pattern=r"^https?://")
    finished: bool | None = None
    cases: list[VectorCase] = Field(min_length=1)

    @model_validator(mode="after")
    def _operation_fits_the_version(self) -> ConformanceVectorFile:
        if self.operation == "validate" and self.schema_ is None:
            raise ValueError("a vector file with operation validate names its schema")
        minor = int(self.schema_url.rsplit("/", 1)[1].split(".")[1])
        if minor < _SINCE.get(self.operation, 0):
            raise ValueError(f"the {self.operation} operation needs conformance-vector 1.{_SINCE[self.operation]}.0")
        if self.finished is not None and minor < 2:
            raise ValueError("the member finished needs conformance-vector 1.2.0")
        problem_of = _DATA_PROBLEMS.get(self.operation)
        for n, case in enumerate(self.cases):
            problem = problem_of(case.data) if problem_of is not None else None
            if problem is not None:
                raise ValueError(f"case {n}: data {problem}")
        return self


def _verify_data_problem(data: Any) -> str | None:
    """What is wrong with a verify case's data (conformance-vector 1.1.0 $defs), or None."""
    if not isinstance(data, dict):
        return "is not an object"
    subject = [name for name in ("document", "model") if name in data]
    if len(subject) != 1:
        return "needs exactly one of document and model"
    if unknown := set(data) - {subject[0], "bundle", "publicKey", "roots"}:
        return f"has unknown members {sorted(unknown)}"
    if "bundle" not in data or "publicKey" not in data:
        return "needs bundle and publicKey"
    if not (data["bundle"] is None or isinstance(data["bundle"], dict | str)):
        return "bundle is not an object, a string or null"
    for name in ("publicKey", "roots"):
        if name in data and not (isinstance(data[name], str) and _PEM.match(data[name])):
            return f"{name} is not PEM text"
    if subject[0] == "document":
        return None if isinstance(data["document"], dict) else "document is not an object"
    model = data["model"]
    if not isinstance(model, dict):
        return "model is not an object"
    for path, content in model.items():
        if not path or not isinstance(content, str) or not _BASE64.fullmatch(content):
            return f"model file {path!r} is not named, or its content is not base64"
    return None


def _lifecycle_data_problem(data: Any) -> str | None:
    """What is wrong with a lifecycle case's data, or None."""
    if isinstance(data, list) and all(isinstance(event, dict) for event in data):
        return None
    return "is not an array of objects"


def _audit_data_problem(data: Any, subject: str, kind: type, optional: tuple[str, ...]) -> str | None:
    if not isinstance(data, dict):
        return "is not an object"
    if unknown := set(data) - {subject, "verifierKeys", *optional}:
        return f"has unknown members {sorted(unknown)}"
    if subject not in data or "verifierKeys" not in data:
        return f"needs {subject} and verifierKeys"
    if not isinstance(data[subject], kind):
        return f"{subject} is not a{'n object' if kind is dict else ' string'}"
    keys = data["verifierKeys"]
    if not (isinstance(keys, list) and keys and all(isinstance(key, str) for key in keys)):
        return "verifierKeys is not a non-empty array of strings"
    if any(name in data and not isinstance(data[name], str) for name in optional):
        return f"{', '.join(optional)} is not a string"
    return None


def _checkpoint_data_problem(data: Any) -> str | None:
    """What is wrong with a checkpoint case's data (conformance-vector 1.3.0 $defs/checkpointInput), or None."""
    return _audit_data_problem(data, "checkpoint", str, ("origin",))


def _proof_data_problem(data: Any) -> str | None:
    """What is wrong with a proof case's data (conformance-vector 1.3.0 $defs/proofInput), or None."""
    return _audit_data_problem(data, "proof", dict, ())


def _members_problem(data: Any, required: dict[str, type], optional: dict[str, type]) -> str | None:
    if not isinstance(data, dict):
        return "is not an object"
    if unknown := set(data) - set(required) - set(optional):
        return f"has unknown members {sorted(unknown)}"
    if missing := set(required) - set(data):
        return f"needs {', '.join(sorted(missing))}"
    kinds = {**required, **optional}
    wrong = sorted(name for name, value in data.items() if not isinstance(value, kinds[name]))
    return f"has {', '.join(wrong)} of the wrong type" if wrong else None


def _score_data_problem(data: Any) -> str | None:
    """What is wrong with a score case's data (conformance-vector 1.4.0 $defs/scoreInput), or None."""
    return _members_problem(data, {"data": str, "contract": dict, "asOf": str}, {"reference": str})


def _guard_call_data_problem(data: Any) -> str | None:
    """What is wrong with a guard-call case's data (conformance-vector 1.4.0 $defs/guardCallInput), or None."""
    problem = _members_problem(data, {"contract": dict, "behaviour": list, "calls": list}, {})
    if problem is None and not (data["behaviour"] and data["calls"]):
        problem = "needs at least one behaviour step and one call"
    if problem is None and not all(isinstance(item, dict) for item in [*data["behaviour"], *data["calls"]]):
        problem = "has a behaviour step or a call that is not an object"
    return problem


_DATA_PROBLEMS: Final[dict[str, Callable[[Any], str | None]]] = {
    "verify": _verify_data_problem,
    "lifecycle": _lifecycle_data_problem,
    "checkpoint": _checkpoint_data_problem,
    "proof": _proof_data_problem,
    "score": _score_data_problem,
    "guard-call": _guard_call_data_problem,
}


class Suite(_Model):
    """The suite that ran."""

    name: str = Field(min_length=1)
    version: str = Field(min_length=1)
    selection: list[str] | None = None
    digest: DigestSet | None = None


class Implementation(_Model):
    """The implementation under test."""

    name: str = Field(min_length=1)
    version: str | None = None
    vendor: str | None = None
    uri: str | None = None
    digest: DigestSet | None = None


class Result(_Model):
    """The outcome of one case."""

    id: str = Field(min_length=1)
    requirements: list[RequirementId] = Field(min_length=1)
    outcome: Outcome
    description: str | None = None
    duration_ms: float | None = Field(default=None, alias="durationMs", ge=0)
    message: str | None = None
    evidence: dict[str, Any] | None = None


class Summary(_Model):
    """Counts, the overall outcome, and a verdict per requirement ID."""

    outcome: Literal["passed", "failed"]
    total: int = Field(ge=0)
    passed: int = Field(ge=0)
    failed: int = Field(ge=0)
    skipped: int = Field(ge=0)
    errors: int = Field(ge=0)
    requirements: dict[RequirementId, Literal["passed", "failed", "skipped"]]

    @classmethod
    def of(cls, results: list[Result]) -> Summary:
        """Summarise results: a requirement fails if any case fails or errs, is skipped if all are skipped."""
        count = {k: sum(r.outcome == k for r in results) for k in ("passed", "failed", "skipped", "error")}
        verdicts: dict[str, Literal["passed", "failed", "skipped"]] = {}
        for result in results:
            for req in result.requirements:
                seen = verdicts.get(req, "skipped")
                if result.outcome in ("failed", "error") or seen == "failed":
                    verdicts[req] = "failed"
                elif result.outcome == "passed" or seen == "passed":
                    verdicts[req] = "passed"
                else:
                    verdicts[req] = "skipped"
        return cls(
            outcome="failed" if count["failed"] or count["error"] else "passed",
            total=len(results),
            passed=count["passed"],
            failed=count["failed"],
            skipped=count["skipped"],
            errors=count["error"],
            requirements=dict(sorted(verdicts.items())),
        )


class RequirementVerdict(_Model):
    """A requirement of a profile: its level (MUST, SHOULD, MAY) and its verdict in one run."""

    level: Literal["MUST", "SHOULD", "MAY"]
    verdict: Literal["passed", "failed", "skipped", "not-applicable"]


class ProfileVerdict(_Model):
    """A conformance profile checked by a run, with its verdict (conformance-report 1.1.0)."""

    id: str = Field(pattern=r"^[a-z][a-z0-9-]*$")
    title: str | None = None
    verdict: Literal["passed", "failed"]
    requirements: dict[RequirementId, RequirementVerdict]


class ConformanceReport(Document):
    """What one run of the suite proved about one implementation (conformance-report 1.0.0 or 1.1.0)."""

    SCHEMA_URL: ClassVar[str] = _REPORT

    schema_url: Literal[
        "https://aifabric.dev/schemas/conformance-report/1.0.0.json",
        "https://aifabric.dev/schemas/conformance-report/1.1.0.json",
    ] = Field(default=_REPORT, alias="schemaURL")
    report_id: UUIDv7 = Field(alias="reportId")
    created_at: Timestamp = Field(alias="createdAt")
    spec_version: str = Field(alias="specVersion")
    suite: Suite
    implementation: Implementation
    environment: dict[str, str] | None = None
    results: list[Result]
    summary: Summary
    target: str | None = Field(default=None, min_length=1)
    profiles: list[ProfileVerdict] | None = None
    signatures: list[dict[str, Any]] | None = None

    @model_validator(mode="after")
    def _members_fit_the_version(self) -> ConformanceReport:
        if self.schema_url == _REPORT_1_0 and (
            self.profiles is not None or self.target is not None or self.suite.digest is not None
        ):
            raise ValueError("profiles, target and suite.digest need conformance-report 1.1.0")
        return self
