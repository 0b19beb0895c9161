"""The Open Inference Protocol v2 (KServe V2) over HTTP/REST: requests, answers and a conformance probe.

Request builders return :class:`~aifabric.serving.Request` objects for the load generator; parsers turn answers
into Python values and raise :class:`~aifabric.DocumentError` for answers that are not what the protocol says.
:func:`check_protocol` probes a live server: health, server and model metadata, model readiness, one inference
built from the model's own metadata, and an unknown model. Its ``strict`` profile requires every field and error
shape the protocol text demands; ``tolerant`` accepts what common V2 servers (MLServer, Triton) do and notes the
deviations.

Examples:
    >>> from aifabric.serving.protocols.oip_v2 import Tensor, TensorSpec, infer_request, parse_infer_response, zeros
    >>> request = infer_request("churn", [zeros(TensorSpec("x", "FP32", (-1, 3)))], request_id="1")
    >>> request.path
    '/v2/models/churn/infer'
    >>> request.body
    b'{"id":"1","inputs":[{"name":"x","shape":[1,3],"datatype":"FP32","data":[0.0,0.0,0.0]}]}'
    >>> answer = b'{"model_name": "churn", "id": "1", "outputs": [{"name": "p", "shape": [1, 2], "datatype": "FP32", '
    >>> answer += b'"data": [[0.2, 0.8]]}]}'
    >>> parse_infer_response(answer)
    {'p': [0.2, 0.8]}
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote

from aifabric._errors import DocumentError
from aifabric.serving._types import Request
from aifabric.serving.checks import REQUIREMENTS, CheckResult, Measurement, _exchange, _Reply, _session

__all__ = [
    "DATATYPES",
    "ModelMetadata",
    "Tensor",
    "TensorSpec",
    "check_protocol",
    "infer_request",
    "live_request",
    "model_metadata_request",
    "model_path",
    "model_ready_request",
    "parse_error",
    "parse_infer_response",
    "parse_model_metadata",
    "ready_request",
    "server_metadata_request",
    "zeros",
]

DATATYPES = (
    "BOOL",
    "UINT8",
    "UINT16",
    "UINT32",
    "UINT64",
    "INT8",
    "INT16",
    "INT32",
    "INT64",
    "FP16",
    "FP32",
    "FP64",
    "BYTES",
)
"""The tensor data types the protocol defines."""

Profile = Literal["strict", "tolerant"]
_JSON = {"Content-Type": "application/json"}


@dataclass(frozen=True, slots=True)
class TensorSpec:
    """A tensor a model takes or gives, as its metadata describes it (-1: a variable dimension)."""

    name: str
    datatype: str
    shape: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Tensor:
    """A tensor with its data, flattened in row-major order."""

    name: str
    datatype: str
    shape: tuple[int, ...]
    data: Sequence[Any]

    def to_json(self) -> dict[str, Any]:
        """The ``$request_input`` object."""
        return {"name": self.name, "shape": list(self.shape), "datatype": self.datatype, "data": list(self.data)}


@dataclass(frozen=True, slots=True)
class ModelMetadata:
    """A model's metadata: ``$metadata_model_response``."""

    name: str
    platform: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    versions: tuple[str, ...] | None = None


def model_path(model: str, version: str | None = None) -> str:
    """``/v2/models/{model}[/versions/{version}]``, each part percent-encoded."""
    path = f"/v2/models/{quote(model, safe='')}"
    return f"{path}/versions/{quote(version, safe='')}" if version else path


def live_request() -> Request:
    """``GET /v2/health/live``."""
    return Request("GET", "/v2/health/live", label="live")


def ready_request() -> Request:
    """``GET /v2/health/ready``."""
    return Request("GET", "/v2/health/ready", label="ready")


def server_metadata_request() -> Request:
    """``GET /v2``."""
    return Request("GET", "/v2", label="server-metadata")


def model_metadata_request(model: str, version: str | None = None) -> Request:
    """``GET /v2/models/{model}[/versions/{version}]``."""
    return Request("GET", model_path(model, version), label="model-metadata")


def model_ready_request(model: str, version: str | None = None) -> Request:
    """``GET /v2/models/{model}[/versions/{version}]/ready``."""
    return Request("GET", model_path(model, version) + "/ready", label="model-ready")


def zeros(spec: TensorSpec, *, variable: int = 1) -> Tensor:
    """A tensor of zeros matching ``spec``; variable dimensions (-1) become ``variable``."""
    shape = tuple(variable if d < 0 else d for d in spec.shape)
    count = math.prod(shape)
    zero: Any
    if spec.datatype == "BOOL":
        zero = False
    elif spec.datatype == "BYTES":
        zero = ""
    elif spec.datatype.startswith("FP"):
        zero = 0.0
    else:
        zero = 0
    return Tensor(spec.name, spec.datatype, shape, [zero] * count)


def infer_request(
    model: str,
    inputs: Sequence[Tensor],
    *,
    version: str | None = None,
    request_id: str | None = None,
    outputs: Sequence[str] | None = None,
    parameters: Mapping[str, str | int | float | bool] | None = None,
    label: str = "",
    keep_body: bool = False,
) -> Request:
    """``POST .../infer`` with an ``$inference_request`` body."""
    doc: dict[str, Any] = {}
    if request_id is not None:
        doc["id"] = request_id
    if parameters:
        doc["parameters"] = dict(parameters)
    doc["inputs"] = [t.to_json() for t in inputs]
    if outputs:
        doc["outputs"] = [{"name": name} for name in outputs]
    body = json.dumps(doc, separators=(",", ":")).encode()
    return Request("POST", model_path(model, version) + "/infer", body, _JSON, label=label, keep_body=keep_body)


def _load(body: bytes, what: str) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise DocumentError(f"{what} is not JSON: {exc}", rule="oip-v2") from None


def parse_error(body: bytes) -> str | None:
    """The message of an ``{"error": ...}`` object, or None when the body is not one."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    if isinstance(doc, dict) and isinstance(doc.get("error"), str):
        return str(doc["error"])
    return None


def _flatten(value: Any) -> list[Any]:
    if isinstance(value, list):
        return [x for v in value for x in _flatten(v)]
    return [value]


def parse_infer_response(body: bytes) -> dict[str, list[Any]]:
    """The output tensors of an ``$inference_response``, by name, each flattened to a list.

    Raises:
        DocumentError: the body is an error object, not JSON, or not an inference response.
    """
    doc = _load(body, "the inference response")
    if isinstance(doc, dict) and "error" in doc and "outputs" not in doc:
        raise DocumentError(f"the server answered with an error: {doc['error']}", rule="oip-v2")
    if not isinstance(doc, dict) or not isinstance(doc.get("outputs"), list):
        raise DocumentError("the inference response has no outputs list", rule="oip-v2", pointer="/outputs")
    outputs: dict[str, list[Any]] = {}
    for i, out in enumerate(doc["outputs"]):
        if not isinstance(out, dict) or not isinstance(out.get("name"), str) or "data" not in out:
            raise DocumentError(f"output {i} has no name or data", rule="oip-v2", pointer=f"/outputs/{i}")
        outputs[out["name"]] = _flatten(out["data"])
    return outputs


def _spec(value: Any, pointer: str) -> TensorSpec:
    if (
        not isinstance(value, dict)
        or not isinstance(value.get("name"), str)
        or not isinstance(value.get("datatype"), str)
        or not isinstance(value.get("shape"), list)
        or not all(isinstance(d, int) and not isinstance(d, bool) for d in value["shape"])
    ):
        raise DocumentError("a tensor needs a name, a datatype and an integer shape", rule="oip-v2", pointer=pointer)
    return TensorSpec(value["name"], value["datatype"], tuple(value["shape"]))


def parse_model_metadata(body: bytes, *, strict: bool = True) -> ModelMetadata:
    """A ``$metadata_model_response``; ``strict=False`` lets ``platform`` be missing.

    Raises:
        DocumentError: a required field is missing or of the wrong type.
    """
    doc = _load(body, "the model metadata")
    if not isinstance(doc, dict):
        raise DocumentError("the model metadata is not an object", rule="oip-v2")
    if not isinstance(doc.get("name"), str):
        raise DocumentError("the model metadata has no name", rule="oip-v2", pointer="/name")
    if strict and not isinstance(doc.get("platform"), str):
        raise DocumentError("the model metadata has no platform", rule="oip-v2", pointer="/platform")
    tensors: dict[str, tuple[TensorSpec, ...]] = {}
    for key in ("inputs", "outputs"):
        value = doc.get(key)
        if not isinstance(value, list) or (strict and not value and key == "inputs"):
            raise DocumentError(f"the model metadata has no {key} list", rule="oip-v2", pointer=f"/{key}")
        tensors[key] = tuple(_spec(t, f"/{key}/{i}") for i, t in enumerate(value))
    versions = doc.get("versions")
    return ModelMetadata(
        doc["name"],
        str(doc.get("platform", "")),
        tensors["inputs"],
        tensors["outputs"],
        tuple(str(v) for v in versions) if isinstance(versions, list) else None,
    )


class _Probe:
    """Collects what a conformance probe found: ``problems`` fail the strict profile, ``deviations`` only notes."""

    def __init__(self, profile: Profile) -> None:
        self.profile = profile
        self.problems: list[str] = []
        self.notes: list[str] = []
        self.steps: list[Measurement] = []

    def fail(self, message: str) -> None:
        self.problems.append(message)

    def deviate(self, message: str) -> None:
        """A departure from the text that common servers make: fatal when strict, a note when tolerant."""
        (self.problems if self.profile == "strict" else self.notes).append(message)

    def record(self, name: str, reply: _Reply) -> None:
        self.steps.append(Measurement(f"{name} status", reply.status, "", None, None))

    def result(self, model: str) -> CheckResult:
        if self.problems:
            message = f"{len(self.problems)} deviations from the Open Inference Protocol v2 ({self.profile}): " + (
                "; ".join(self.problems)
            )
            return CheckResult(
                "protocol", "failed", message, REQUIREMENTS["protocol"], tuple(self.steps), tuple(self.notes)
            )
        extra = f" ({len(self.notes)} tolerated deviations)" if self.notes else ""
        message = f"{model} speaks the Open Inference Protocol v2 ({self.profile} profile){extra}"
        return CheckResult(
            "protocol", "passed", message, REQUIREMENTS["protocol"], tuple(self.steps), tuple(self.notes)
        )


def _said(reply: _Reply) -> str:
    return reply.error or f"HTTP {reply.status}"


async def check_protocol(
    base_url: str,
    model: str,
    version: str | None = None,
    *,
    profile: Profile = "strict",
    timeout: float = 10.0,
) -> CheckResult:
    """Probe a live server for conformance to the Open Inference Protocol v2 REST API.

    Probes: server live and ready, server metadata (``name``, ``version``, ``extensions``), model metadata (``name``,
    ``versions``, ``platform``, ``inputs`` and ``outputs`` with ``name``/``datatype``/``shape``), model ready, one
    inference of zeros built from the metadata (``model_name``, ``id`` echoed, ``outputs`` with ``name``,
    ``shape``, ``datatype``, ``data``), and an unknown model (a 4xx with an ``error`` object, 404 expected).

    ``strict`` (SRV-043) fails any of these that is missing or wrong. ``tolerant`` (SRV-044) requires only that
    ``/v2/health/ready`` answers 200, that model metadata has ``name``, ``inputs`` and ``outputs``, and that the
    inference is answered as the strict profile states; the other endpoints and members become notes.
    """
    probe = _Probe(profile)
    async with _session(timeout + 5) as session:
        live = await _exchange(session, base_url, live_request(), timeout=timeout)
        probe.record("live", live)
        if live.status is None:
            return CheckResult(
                "protocol", "error", f"{base_url} could not be reached: {live.error}", REQUIREMENTS["protocol"]
            )
        if live.status != 200:
            probe.deviate(f"GET /v2/health/live answered {_said(live)}, not 200")
        ready = await _exchange(session, base_url, ready_request(), timeout=timeout)
        probe.record("ready", ready)
        if ready.status != 200:
            probe.fail(f"GET /v2/health/ready answered {_said(ready)}, not 200")

        server = await _exchange(session, base_url, server_metadata_request(), timeout=timeout)
        probe.record("server metadata", server)
        doc = server.json()
        if server.status != 200 or not isinstance(doc, dict):
            probe.deviate(f"GET /v2 answered {_said(server)} without a server metadata object")
        else:
            for key in ("name", "version"):
                if not isinstance(doc.get(key), str):
                    probe.deviate(f"GET /v2 has no string {key!r}")
            extensions = doc.get("extensions")
            if not isinstance(extensions, list) or not all(isinstance(e, str) for e in extensions):
                probe.deviate("GET /v2 has no 'extensions' list of strings")

        meta_reply = await _exchange(session, base_url, model_metadata_request(model, version), timeout=timeout)
        probe.record("model metadata", meta_reply)
        if version and meta_reply.status == 404:
            probe.deviate(f"GET {model_path(model, version)} answered 404: version paths are not served")
            version = None
            meta_reply = await _exchange(session, base_url, model_metadata_request(model), timeout=timeout)
        metadata: ModelMetadata | None = None
        if meta_reply.status != 200:
            probe.fail(f"GET {model_path(model, version)} answered {_said(meta_reply)}, not 200")
        else:
            try:
                metadata = parse_model_metadata(meta_reply.body, strict=True)
            except DocumentError as exc:
                try:
                    metadata = parse_model_metadata(meta_reply.body, strict=False)
                    probe.deviate(f"model metadata: {exc.reason}")
                except DocumentError as again:
                    probe.fail(f"model metadata: {again.reason}")
            if metadata is not None:
                if metadata.name != model:
                    probe.deviate(f"model metadata names {metadata.name!r}, not {model!r}")
                if (
                    metadata.versions is None
                    and isinstance(meta_reply.json(), dict)
                    and "versions" in meta_reply.json()
                ):
                    probe.deviate("model metadata 'versions' is not a list")
                for t in (*metadata.inputs, *metadata.outputs):
                    if t.datatype not in DATATYPES:
                        probe.fail(f"tensor {t.name!r} has datatype {t.datatype!r}, not one the protocol defines")

        model_ready = await _exchange(session, base_url, model_ready_request(model, version), timeout=timeout)
        probe.record("model ready", model_ready)
        if model_ready.status != 200:
            probe.deviate(f"GET {model_path(model, version)}/ready answered {_said(model_ready)}, not 200")

        if metadata is not None and metadata.inputs:
            await _probe_infer(probe, session, base_url, model, version, metadata, timeout)

        unknown_name = "aifabric-no-such-model"
        unknown = await _exchange(session, base_url, model_metadata_request(unknown_name), timeout=timeout)
        probe.record("unknown model", unknown)
        if unknown.status is None or not 400 <= unknown.status < 500:
            probe.deviate(f"an unknown model answered {_said(unknown)}, not a 4xx")
        else:
            if unknown.status != 404:
                probe.notes.append(f"an unknown model answered {unknown.status}; 404 is the usual status")
            if parse_error(unknown.body) is None:
                probe.deviate('an unknown model\'s answer has no {"error": "..."} object')
    return probe.result(model)


async def _probe_infer(
    probe: _Probe,
    session: Any,
    base_url: str,
    model: str,
    version: str | None,
    metadata: ModelMetadata,
    timeout: float,
) -> None:
    request = infer_request(model, [zeros(t) for t in metadata.inputs], version=version, request_id="aifabric-probe")
    reply = await _exchange(session, base_url, request, timeout=timeout)
    probe.record("infer", reply)
    if reply.status != 200:
        detail = parse_error(reply.body)
        probe.fail(f"an inference of zeros answered {_said(reply)}" + (f": {detail}" if detail else ""))
        if reply.status is not None and reply.status >= 400 and detail is None:
            probe.deviate('a failed inference has no {"error": "..."} object')
        return
    doc = reply.json()
    if not isinstance(doc, dict):
        probe.fail("the inference response is not a JSON object")
        return
    if not isinstance(doc.get("model_name"), str):
        probe.fail("the inference response has no model_name")
    elif doc["model_name"] != model:
        probe.deviate(f"the inference response's model_name is {doc['model_name']!r}, not {model!r}")
    if doc.get("id") != "aifabric-probe":
        probe.fail(f"the inference response's id is {doc.get('id')!r}, not the request's 'aifabric-probe'")
    outputs = doc.get("outputs")
    if not isinstance(outputs, list) or not outputs:
        probe.fail("the inference response has no outputs")
        return
    for i, out in enumerate(outputs):
        if not isinstance(out, dict):
            probe.fail(f"output {i} is not an object")
            continue
        missing = [k for k in ("name", "shape", "datatype", "data") if k not in out]
        if missing:
            probe.fail(f"output {out.get('name', i)!r} lacks {', '.join(missing)}")
        if "datatype" in out and out["datatype"] not in DATATYPES:
            probe.fail(f"output {out.get('name', i)!r} has datatype {out['datatype']!r}")
        shape = out.get("shape")
        if isinstance(shape, list) and "data" in out:
            if not all(isinstance(d, int) and d >= 0 for d in shape):
                probe.fail(f"output {out.get('name', i)!r} has shape {shape!r}, not unsigned integers")
            elif math.prod(shape) != len(_flatten(out["data"])):
                probe.fail(f"output {out.get('name', i)!r} has {len(_flatten(out['data']))} elements for shape {shape}")
