"""Load conformance vector files and run them against this SDK."""

from __future__ import annotations

import base64
import json
import math
import platform
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Final

import orjson
import pydantic

from aifabric import __version__
from aifabric._errors import (
    AifabricError,
    CanonicalizationError,
    DocumentError,
    EnvelopeError,
    KeyFileError,
    ValidationError,
    VerificationError,
)
from aifabric._ids import utc_now, uuid7
from aifabric._version import SPEC_VERSION
from aifabric.audit.checkpoint import NoteVerifier, open_checkpoint
from aifabric.audit.log import verify_proof
from aifabric.canonical import canonicalize, digest
from aifabric.models.conformance import (
    ConformanceReport,
    ConformanceVectorFile,
    Implementation,
    Outcome,
    Result,
    Suite,
    Summary,
    VectorCase,
)
from aifabric.schemas import Registry
from aifabric.validation import validate

__all__ = ["TOLERANCE", "VectorFileError", "default_vectors_dir", "load_vector_file", "output_problem", "run_vectors"]

PRODUCER = f"https://github.com/aifabric/aifabric/tree/v{__version__}"
SUITE_NAME = "aifabric-vectors"
TOLERANCE: Final = 1e-9
"""How far a number an implementation outputs may be from the expected one (CORE-090, CORE-091, TRUST-042)."""


class _Skip(Exception):  # noqa: N818 - a signal, not an error
    """Raised by an operation that cannot run here; the case is reported as skipped with the reason."""


class VectorFileError(DocumentError):
    """A vector file that is unreadable or breaks the conformance-vector schema."""

    code = "AIF-VECTOR"


def default_vectors_dir() -> Path:
    """The vectors shipped in the package (or, in a source checkout, ``conformance/vectors``)."""
    packaged = Path(__file__).resolve().parent.parent / "_vectors"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[3] / "conformance" / "vectors"


def load_vector_file(path: Path) -> ConformanceVectorFile:
    """Read and check one vector file (with the stdlib parser, which keeps the lone surrogates some cases need).

    Raises:
        VectorFileError: unreadable, malformed, or not valid against the conformance-vector schema.
    """
    try:
        raw = json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise VectorFileError(f"cannot read vector file: {exc}", source=str(path)) from None
    try:
        validate(raw, source=str(path))
        return ConformanceVectorFile.model_validate(raw)
    except AifabricError as exc:
        raise VectorFileError(str(exc), source=str(path)) from None
    except pydantic.ValidationError as exc:
        raise VectorFileError(f"not a vector file: {exc.errors()[0]['msg']}", source=str(path)) from None


def run_vectors(
    paths: Iterable[Path] | None = None, *, on_result: Callable[[Result], None] | None = None
) -> ConformanceReport:
    """Run vector files (default: the shipped ones) against the aifabric SDK and report.

    A file that cannot be loaded counts as one ``error`` result; the run goes on.
    """
    roots = list(paths) if paths is not None else [default_vectors_dir()]
    files = sorted({f for root in roots for f in ([root] if root.is_file() else root.rglob("*.json"))})
    base = _common_base(roots)
    results: list[Result] = []
    for path in files:
        name = _relative(path, base)
        for result in _run_file(path, name):
            results.append(result)
            if on_result is not None:
                on_result(result)
    report = ConformanceReport(
        producer=PRODUCER,
        reportId=uuid7(),
        createdAt=utc_now(),
        specVersion=SPEC_VERSION,
        suite=Suite(name=SUITE_NAME, version=__version__, selection=[str(r) for r in roots]),
        implementation=Implementation(name="aifabric-python", version=__version__, vendor="aifabric"),
        environment={"python": platform.python_version(), "platform": platform.platform(terse=True)},
        results=results,
        summary=Summary.of(results),
    )
    report.to_json()  # the report itself conforms, or this raises
    return report


def _run_file(path: Path, name: str) -> list[Result]:
    try:
        vector = load_vector_file(path)
    except VectorFileError as exc:
        return [Result(id=name, requirements=["CORE-040"], outcome="error", message=exc.reason)]
    return [_run_case(vector, case, f"{name}#{n}") for n, case in enumerate(vector.cases)]


def _run_case(vector: ConformanceVectorFile, case: VectorCase, case_id: str) -> Result:
    started = time.perf_counter()
    outcome: Outcome
    try:
        problem = None
        if vector.operation in OUTPUTS:
            accepted, output, observed = OUTPUTS[vector.operation](case.data)
            if accepted == case.valid:
                problem = output_problem(vector.operation, case.expected, output)
        else:
            accepted, observed = _OPERATIONS[vector.operation](vector, case, None)
        passed = accepted == case.valid and problem is None
        outcome = "passed" if passed else "failed"
        message = None if passed else problem or f"expected {'accept' if case.valid else 'reject'}, got {observed}"
    except _Skip as skip:
        outcome, message, observed = "skipped", str(skip), "not run"
    except Exception as exc:  # noqa: BLE001 - a crash in the implementation is an error result, not ours
        outcome, message, observed = "error", f"{type(exc).__name__}: {exc}", "crash"
    return Result(
        id=case_id,
        description=case.description,
        requirements=sorted({*vector.spec, *(case.spec or [])}),
        outcome=outcome,
        durationMs=round((time.perf_counter() - started) * 1000, 3),
        message=message,
        evidence={"expected": "accept" if case.valid else "reject", "observed": observed},
    )


def _validate(vector: ConformanceVectorFile, case: VectorCase, registry: Registry | None) -> tuple[bool, str]:
    try:
        validate(case.data, schema_url=vector.schema_, registry=registry)
    except AifabricError as exc:
        return False, f"rejected: {exc}"
    return True, "accepted"


def _canonicalize(vector: ConformanceVectorFile, case: VectorCase, registry: Registry | None) -> tuple[bool, str]:
    try:
        out = canonicalize(case.data).decode("utf-8")
    except CanonicalizationError as exc:
        return False, f"rejected: {exc}"
    if case.expected is not None and out != case.expected:
        return False, f"produced {out!r}, not the expected {case.expected!r}"
    return True, f"produced {out!r}"


def _envelope(vector: ConformanceVectorFile, case: VectorCase, registry: Registry | None) -> tuple[bool, str]:
    from aifabric import envelope

    try:
        import cloudevents  # noqa: F401
    except ImportError:
        raise _Skip(
            "the CloudEvents binding needs the cloudevents package: pip install 'aifabric[cloudevents]'"
        ) from None

    doc = case.data
    try:
        structured = envelope.to_structured(doc, registry=registry)
        binary = envelope.to_binary(doc, registry=registry)
        batch = envelope.to_batch([doc, doc], registry=registry)
        attributes = [
            orjson.loads(structured.body),
            {k.removeprefix("ce-"): v for k, v in binary.headers.items() if k.startswith("ce-")}
            | {"datacontenttype": binary.headers.get("content-type")},
            *orjson.loads(batch.body),
        ]
        for attrs in attributes:
            wrong = _wrong_attributes(attrs, doc, registry)
            if wrong:
                return False, f"attribute {wrong} does not follow the binding"
        for message in (structured, binary):
            if envelope.from_http(message.headers, message.body, registry=registry) != doc:
                return False, "the document changed on its way through a CloudEvent"
        if envelope.from_batch(batch.headers, batch.body, registry=registry) != [doc, doc]:
            return False, "the document changed on its way through a batch"
    except EnvelopeError as exc:
        return False, f"rejected: {exc}"
    return True, "round-tripped in structured, binary and batch mode with the binding's attributes"


def _wrong_attributes(attrs: dict[str, Any], doc: dict[str, Any], registry: Registry | None) -> str | None:
    """The first attribute that breaks CORE-070 to CORE-074, or None."""
    from aifabric.envelope import event_type

    expected = {
        "type": event_type(doc["schemaURL"], registry=registry),
        "dataschema": doc["schemaURL"],
        "source": doc["producer"],
        "id": "sha256:" + digest(doc)["sha256"],
        "datacontenttype": "application/json",
    }
    return next((name for name, value in expected.items() if attrs.get(name) != value), None)


def _verify(vector: ConformanceVectorFile, case: VectorCase, registry: Registry | None) -> tuple[bool, str]:
    """Verify a signed document (detached, or embedded when ``bundle`` is null) or a model written to disk."""
    try:
        from aifabric.signing.documents import verify_document
        from aifabric.signing.keys import load_certificates, load_public_key

        if "model" in case.data:
            from aifabric.signing.artifacts import verify_model
    except ImportError as exc:
        raise _Skip(f"signature verification needs a module that is not installed: {exc.name}") from None

    data = case.data
    key = load_public_key(data["publicKey"].encode("utf-8"))
    roots = load_certificates(data["roots"].encode("utf-8")) if data.get("roots") else []
    try:
        if "document" in data:
            verified = verify_document(data["document"], data["bundle"], key=key, roots=roots)
            return True, f"verified, signed by {verified.signer.method}"
        with tempfile.TemporaryDirectory(prefix="aifabric-vector-") as scratch:
            model = Path(scratch).resolve() / "model"
            model.mkdir()
            for name, content in data["model"].items():
                target = model / name
                if model not in target.resolve().parents:
                    raise _Skip(f"the model file name {name!r} does not stay inside the model directory")
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(_base64(content))
            verify_model(model, data["bundle"], key=key, roots=roots)
        return True, "verified"
    except VerificationError as exc:
        return False, f"rejected: {type(exc).__name__}: {exc}"
    except ImportError as exc:  # a keyless bundle needs the sigstore extra
        raise _Skip(f"this case needs a module that is not installed: {exc.name}") from None


def _lifecycle(vector: ConformanceVectorFile, case: VectorCase, registry: Registry | None) -> tuple[bool, str]:
    """Check a sequence of lineage events against the run lifecycle rules (a finished run unless told otherwise)."""
    from aifabric.lineage._profile import lifecycle_problems

    problems = lifecycle_problems(case.data, finished=vector.finished is not False)
    if problems:
        return False, "rejected: " + "; ".join(str(p) for p in problems)
    return True, "accepted"


def _note_verifiers(keys: list[str]) -> tuple[list[NoteVerifier], str | None]:
    """The verifier keys of a checkpoint or proof case, or the reason one of them does not parse (a refusal)."""
    try:
        return [NoteVerifier.parse(key) for key in keys], None
    except KeyFileError as exc:
        return [], f"rejected: {type(exc).__name__}: {exc}"


def _checkpoint(vector: ConformanceVectorFile, case: VectorCase, registry: Registry | None) -> tuple[bool, str]:
    """Open a signed checkpoint with the case's verifier keys, checking its origin where the case names one."""
    verifiers, refused = _note_verifiers(case.data["verifierKeys"])
    if refused is not None:
        return False, refused
    try:
        head = open_checkpoint(case.data["checkpoint"], verifiers, origin=case.data.get("origin"))
    except VerificationError as exc:
        return False, f"rejected: {type(exc).__name__}: {exc}"
    return True, f"opened: {head.origin}, size {head.size}"


def _proof(vector: ConformanceVectorFile, case: VectorCase, registry: Registry | None) -> tuple[bool, str]:
    """Verify an audit-proof document with nothing but the case's verifier keys."""
    verifiers, refused = _note_verifiers(case.data["verifierKeys"])
    if refused is not None:
        return False, refused
    try:
        if registry is not None:  # the folder the harness named decides first (CONF-028)
            validate(case.data["proof"], schema_url=_PROOF_SCHEMA, registry=registry)
        head = verify_proof(case.data["proof"], verifiers)
    except (ValidationError, VerificationError) as exc:
        return False, f"rejected: {type(exc).__name__}: {exc}"
    return True, f"verified against {head.origin} at size {head.size}"


def output_problem(operation: str, expected: Any, output: Any) -> str | None:
    """Why an output differs from a case's ``expected`` one, or None where it matches or nothing is expected.

    canonicalize: the same string (CORE-044). score: every member ``expected`` names, numbers to within
    :data:`TOLERANCE` (CORE-090). guard-call: the same members and values, numbers to within it (CORE-091).

    Examples:
        >>> output_problem("score", {"pillars": {"validity": 0.5}}, {"pillars": {"validity": 0.5000000001}, "rows": 2})
        >>> output_problem("guard-call", {"outcome": "ok", "output": 1, "toolRuns": 1}, {"outcome": "ok", "output": 1})
        'output differs at /toolRuns: expected 1, got nothing'
    """
    if expected is None:
        return None
    if operation == "canonicalize" or isinstance(expected, str):
        return None if output == expected else f"produced {output!r}, not the expected {expected!r}"
    where = _difference(expected, output, "", partial=operation == "score")
    return None if where is None else f"output differs at {where}"


def _difference(expected: Any, found: Any, at: str, *, partial: bool) -> str | None:
    """The pointer of the first place where ``found`` differs from ``expected`` and how, or None."""
    if isinstance(expected, dict):
        if not isinstance(found, dict):
            return f"{at or '/'}: expected an object, got {found!r}"
        if not partial and (extra := sorted(set(found) - set(expected))):
            return f"{at}/{extra[0]}: expected nothing, got {found[extra[0]]!r}"
        for name, value in expected.items():
            if name not in found:
                return f"{at}/{name}: expected {value!r}, got nothing"
            if (where := _difference(value, found[name], f"{at}/{name}", partial=partial)) is not None:
                return where
        return None
    if isinstance(expected, list):
        if not isinstance(found, list) or len(found) != len(expected):
            return f"{at or '/'}: expected {expected!r}, got {found!r}"
        for n, (value, item) in enumerate(zip(expected, found, strict=True)):
            if (where := _difference(value, item, f"{at}/{n}", partial=partial)) is not None:
                return where
        return None
    numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (expected, found))
    if numbers and math.isclose(expected, found, rel_tol=0, abs_tol=TOLERANCE):
        return None
    if not numbers and type(expected) is type(found) and expected == found:
        return None
    return f"{at or '/'}: expected {expected!r}, got {found!r}"


def _score_run(data: dict[str, Any]) -> tuple[bool, Any, str]:
    """Compute the trust score of a score case's CSV data (CORE-090): (accepted, the values, a message)."""
    try:
        from aifabric.models.trust import DataContract
        from aifabric.trust import score
    except ImportError as exc:
        raise _Skip(f"the score operation needs the data extra (pip install 'aifabric[data]'): {exc.name}") from None
    try:
        contract = DataContract.parse_document(data["contract"])
        with tempfile.TemporaryDirectory(prefix="aifabric-vector-") as scratch:
            paths = {}
            for name in ("data", "reference"):
                if name in data:
                    paths[name] = Path(scratch) / f"{name}.csv"
                    paths[name].write_bytes(data[name].encode("utf-8"))
            result = score(paths["data"], contract, paths.get("reference"), as_of=data["asOf"])
    except DocumentError as exc:  # ValidationError among them: a contract that breaks a rule [TRUST-005]
        return False, None, f"rejected: {type(exc).__name__}: {exc}"
    drift: dict[str, Any] = {}
    for pillar in result.pillars:
        for evidence in pillar.evidence if pillar.name == "drift" else ():
            if evidence.column is not None:
                members = evidence.to_json()
                keep = ("method", "statistic", "pValue", "psi", "unseen", "reason")
                drift[evidence.column] = {"drifted": evidence.drifted} | {k: members[k] for k in keep if k in members}
    values = {
        "rows": result.rows,
        "pillars": {pillar.name: pillar.score for pillar in result.pillars},
        "score": result.score,
        "grade": result.grade,
        "drift": drift,
    }
    if result.passed is not None:
        values["passed"] = result.passed
    return True, values, f"score {result.score}, grade {result.grade}"


class _Stub:
    """The tool under the guard of a guard-call case: each run takes the next step of the case's behaviour."""

    def __init__(self, steps: list[dict[str, Any]]) -> None:
        self.steps, self.runs, self._lock = steps, 0, threading.Lock()

    def __call__(self, **arguments: Any) -> Any:
        from aifabric._errors import ToolCallError

        with self._lock:
            step = self.steps[min(self.runs, len(self.steps) - 1)]
            self.runs += 1
        time.sleep(float(step.get("sleepS", 0)))
        if "error" in step:
            message, retry_after = f"the stub fails with {step['error']}", step.get("retryAfterS")
            raise ToolCallError(message, error_class=step["error"], retry_after=retry_after)
        return step["return"]


def _guard_run(data: dict[str, Any]) -> tuple[bool, Any, str]:
    """Make a guard-call case's calls through one :class:`aifabric.tools.Guard` (CORE-091); judge the last."""
    import random

    from aifabric._errors import ToolCallError
    from aifabric.models.tools import ToolContract
    from aifabric.tools.guard import Guard

    contract = ToolContract.parse_document(data["contract"])  # a vector's contract is valid: else an error
    stub = _Stub(data["behaviour"])
    guard = Guard(contract, stub, rng=random.Random(0))  # noqa: S311 - jitter, not secrets
    try:
        for n, call in enumerate(data["calls"]):
            before = stub.runs
            try:
                output = guard.call(
                    call["arguments"],
                    principal=call["principal"],
                    scopes=call.get("scopes", ()),
                    purposes=call.get("purposes", ()),
                    idempotency_key=call.get("idempotencyKey"),
                )
                outcome: dict[str, Any] = {"outcome": "ok", "output": output}
            except ToolCallError as exc:
                outcome = {"outcome": "error", "error": exc.error_class}
            if n == len(data["calls"]) - 1:
                outcome["toolRuns"] = stub.runs - before
    finally:
        guard.close()
    ok = outcome["outcome"] == "ok"
    return ok, outcome, "ok" if ok else f"ended with {outcome['error']}"


OUTPUTS: Final[dict[str, Callable[[dict[str, Any]], tuple[bool, Any, str]]]] = {
    "score": _score_run,
    "guard-call": _guard_run,
}
"""The operations whose cases an implementation answers with an output as well as a verdict, by name."""


def _base64(text: str) -> bytes:
    """Decode base64 in the standard or the URL-safe alphabet, padding optional (common#/$defs/base64)."""
    normal = text.replace("-", "+").replace("_", "/")
    return base64.b64decode(normal + "=" * (-len(normal) % 4), validate=True)


_PROOF_SCHEMA = "https://aifabric.dev/schemas/audit-proof/1.0.0.json"

_OPERATIONS: dict[str, Callable[[ConformanceVectorFile, VectorCase, Registry | None], tuple[bool, str]]] = {
    "validate": _validate,
    "canonicalize": _canonicalize,
    "envelope": _envelope,
    "verify": _verify,
    "lifecycle": _lifecycle,
    "checkpoint": _checkpoint,
    "proof": _proof,
}
"""The operations whose cases an implementation answers with a verdict alone, by name."""


def _common_base(roots: list[Path]) -> Path:
    dirs = [r if r.is_dir() else r.parent for r in roots]
    return dirs[0] if len(dirs) == 1 else Path.cwd()


def _relative(path: Path, base: Path) -> str:
    try:
        return path.relative_to(base).as_posix()
    except ValueError:
        return path.as_posix()
