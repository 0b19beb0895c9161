"""Load conformance vector files and run them against this SDK."""

from __future__ import annotations

import base64
import json
import platform
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

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

__all__ = ["VectorFileError", "default_vectors_dir", "load_vector_file", "run_vectors"]

PRODUCER = f"https://github.com/aifabric/aifabric/tree/v{__version__}"
SUITE_NAME = "aifabric-vectors"


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
        accepted, observed = _OPERATIONS[vector.operation](vector, case, None)
        passed = accepted == case.valid
        outcome = "passed" if passed else "failed"
        message = None if passed else f"expected {'accept' if case.valid else 'reject'}, got {observed}"
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


def _common_base(roots: list[Path]) -> Path:
    dirs = [r if r.is_dir() else r.parent for r in roots]
    return dirs[0] if len(dirs) == 1 else Path.cwd()


def _relative(path: Path, base: Path) -> str:
    try:
        return path.relative_to(base).as_posix()
    except ValueError:
        return path.as_posix()
