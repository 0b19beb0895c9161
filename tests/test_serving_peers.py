"""The serving harness against real third-party servers, no mocks: MLServer and LitServe.

Peers: MLServer 1.7.1 with its scikit-learn runtime, serving a forest trained here, is the Open Inference Protocol v2
endpoint; LitServe 0.2.19 with its OpenAI spec, serving a fake LLM that streams tokens, is the OpenAI endpoint. Each
peer is installed into its own virtual environment (pins in tests/peers/serving/*.txt), built once under
``$AIFABRIC_PEERS_DIR`` (default ``~/.cache/aifabric-peers``) and reused while its pins are unchanged, so that its
dependencies never constrain aifabric's. Where pip cannot install a peer the tests skip and say why; deselect them
with ``-m "not peers"``. The servers listen on 127.0.0.1 only and run as process groups killed at teardown.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from aifabric import validate
from aifabric.serving import Request
from aifabric.serving.checks import (
    OverloadPolicy,
    check_error_budget,
    check_input_validation,
    check_overload,
    check_streaming,
)
from aifabric.serving.load import LoadResult, run_closed_loop, send_one
from aifabric.serving.protocols import oip_v2, openai
from tests.conftest import free_port
from tests.test_cli import invoke

pytestmark = pytest.mark.peers

PEERS = Path(__file__).parent / "peers" / "serving"
INSTALL_TIMEOUT_S = 480.0
READY_DEADLINE_S = 90.0

MODEL = "peer-classifier"
FEATURES = 4
LLM = "fake-llm"
TOKENS = 8
TOKEN_DELAY_S = 0.02
QUEUE_TIMEOUT_S = 0.5
"""LitServe's ``timeout``: a request that waits longer than this in its queue is timed out."""


# --- virtual environments ---------------------------------------------------------------------------------------


def _peers_dir() -> Path:
    return Path(os.environ.get("AIFABRIC_PEERS_DIR") or Path.home() / ".cache" / "aifabric-peers")


def _last_lines(text: str, n: int = 8) -> str:
    """The end of pip's output, without the warnings about absent local indexes that precede every error."""
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("WARNING: Location")]
    return "\n".join(lines[-n:])


def peer_venv(name: str) -> Path:
    """A virtual environment with tests/peers/serving/<name>.txt installed; skips when pip cannot install it.

    The folder is keyed by the requirements' text and the Python version, and marked complete only after pip
    succeeded, so a changed pin or an interrupted install builds afresh and an unchanged one is reused at once.
    A lock file serialises concurrent test runs.
    """
    requirements = PEERS / f"{name}.txt"
    text = requirements.read_text()
    key = hashlib.sha256(f"{sys.version_info[:2]} {platform.machine()}\n{text}".encode()).hexdigest()[:12]
    root = _peers_dir()
    root.mkdir(parents=True, exist_ok=True)
    folder = root / f"{name}-{key}"
    stamp = folder / "aifabric-peer-requirements.txt"
    with (root / f"{name}-{key}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if stamp.is_file() and stamp.read_text() == text and (folder / "bin" / "python").exists():
            return folder
        shutil.rmtree(folder, ignore_errors=True)
        python = folder / "bin" / "python"
        steps = [
            [sys.executable, "-m", "venv", str(folder)],
            [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r", str(requirements)],
        ]
        for step in steps:
            try:
                done = subprocess.run(step, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S, check=False)
            except subprocess.TimeoutExpired:
                shutil.rmtree(folder, ignore_errors=True)
                pytest.skip(f"cannot install the {name} peer: {step[2]} took more than {INSTALL_TIMEOUT_S:g} s")
            if done.returncode != 0:
                shutil.rmtree(folder, ignore_errors=True)
                pytest.skip(f"cannot install the {name} peer ({' '.join(step[1:3])}):\n{_last_lines(done.stderr)}")
        stamp.write_text(text)
    return folder


@pytest.fixture(scope="session")
def mlserver_venv() -> Path:
    return peer_venv("mlserver")


@pytest.fixture(scope="session")
def litserve_venv() -> Path:
    return peer_venv("litserve")


# --- peer servers ----------------------------------------------------------------------------------------------


@dataclass
class Peer:
    """A peer server running as its own process group, and its log."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def tail(self, n: int = 30) -> str:
        """The end of the server's log, for failure messages."""
        lines = self.log.read_text(errors="replace").splitlines()
        return "\n".join(lines[-n:])


def _answers_200(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group, SIGKILL it after 10 s, and SIGKILL any child left behind."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


@contextlib.contextmanager
def serve(command: Sequence[str | Path], *, url: str, ready_path: str, log: Path, cwd: Path) -> Iterator[Peer]:
    """Start a peer, wait until ``ready_path`` answers 200 (failing with its log if it dies or takes too long)."""
    with log.open("wb") as out:
        process = subprocess.Popen(  # the peer and its workers share a new process group, killed as one
            [str(c) for c in command], cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    peer = Peer(url, process, log)
    try:
        deadline = time.monotonic() + READY_DEADLINE_S
        while not _answers_200(url + ready_path):
            if process.poll() is not None:
                pytest.fail(f"the peer exited with {process.returncode} before it was ready:\n{peer.tail()}")
            if time.monotonic() > deadline:
                pytest.fail(f"{url}{ready_path} did not answer 200 within {READY_DEADLINE_S:g} s:\n{peer.tail()}")
            time.sleep(0.1)
        yield peer
    finally:
        _stop(process)


# --- MLServer, the Open Inference Protocol v2 peer --------------------------------------------------------------


@dataclass
class MLServer:
    """MLServer serving the classifier trained for the test, and the held-out samples it was not trained on."""

    peer: Peer
    samples: list[tuple[list[float], int]]
    trained_accuracy: float

    @property
    def url(self) -> str:
        return self.peer.url


@pytest.fixture(scope="module")
def mlserver(mlserver_venv: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MLServer]:
    """MLServer on free loopback ports with one model: a forest trained here, by the peer's own scikit-learn."""
    root = tmp_path_factory.mktemp("mlserver")
    folder = root / MODEL
    folder.mkdir()
    python = mlserver_venv / "bin" / "python"
    trained = subprocess.run(
        [str(python), str(PEERS / "mlserver_train.py"), str(folder)], capture_output=True, text=True, timeout=120
    )
    assert trained.returncode == 0, trained.stderr
    training = json.loads(trained.stdout)
    model_settings = {
        "name": MODEL,
        "implementation": "mlserver_sklearn.SKLearnModel",
        "parameters": {"uri": "./model.joblib", "version": "1"},
        "inputs": [{"name": "input-0", "datatype": "FP64", "shape": [-1, FEATURES]}],
        "outputs": [{"name": "predict", "datatype": "INT64", "shape": [-1, 1]}],
    }
    (folder / "model-settings.json").write_text(json.dumps(model_settings))
    port = free_port()
    settings = {
        "host": "127.0.0.1",
        "http_port": port,
        "grpc_port": free_port(),
        "metrics_port": free_port(),
        # 0: inference in the server's own process. MLServer 1.7.1's worker processes die at start with the
        # uvloop its pins resolve to (0.22+: "There is no current event loop in thread 'MainThread'").
        "parallel_workers": 0,
    }
    (root / "settings.json").write_text(json.dumps(settings))
    url = f"http://127.0.0.1:{port}"
    command: list[str | Path] = [mlserver_venv / "bin" / "mlserver", "start", root]
    with serve(command, url=url, ready_path=f"/v2/models/{MODEL}/ready", log=root / "mlserver.log", cwd=root) as peer:
        samples = [(list(map(float, x)), int(y)) for x, y in training["samples"]]
        yield MLServer(peer, samples, float(training["accuracy"]))


def infer(features: Sequence[float], *, label: str = "") -> Request:
    """One inference of one row of features."""
    tensor = oip_v2.Tensor("input-0", "FP64", (1, FEATURES), list(features))
    return dataclasses.replace(oip_v2.infer_request(MODEL, [tensor]), label=label)


def settle(url: str, request: Request, *, within: float = 30.0) -> None:
    """Wait until the server answers ``request`` in under 200 ms again: a queue left by an overload has drained."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        sample = asyncio.run(send_one(url, request, timeout=5))
        if sample.ok and sample.done - sample.sent < 0.2:
            return
        time.sleep(0.2)
    pytest.fail(f"{url} still answers slowly {within:g} s after the overload")


@pytest.fixture(scope="module")
def mlserver_capacity(mlserver: MLServer) -> float:
    """MLServer's throughput on this machine, closed loop at concurrency 4 for 1.5 s after 0.3 s of warm-up."""
    requests = [infer(x) for x, _ in mlserver.samples]
    result = asyncio.run(run_closed_loop(mlserver.url, requests, concurrency=4, duration=1.5, warmup=0.3))
    assert result.errors == {}, mlserver.peer.tail()
    assert result.throughput > 5, f"MLServer served {result.throughput:.1f} rps"
    return result.throughput


def test_mlserver_speaks_the_open_inference_protocol(mlserver: MLServer) -> None:
    """[SRV-043] [SRV-044] MLServer passes the protocol check in the tolerant profile, and in fact in the strict one:
    health, server and model metadata, model readiness, an inference of zeros with its id echoed, a 404 with an
    ``error`` object for an unknown model."""
    tolerant = asyncio.run(oip_v2.check_protocol(mlserver.url, MODEL, profile="tolerant"))
    assert tolerant.outcome == "passed", f"{tolerant.message}\n{mlserver.peer.tail()}"
    assert "tolerant profile" in tolerant.message
    strict = asyncio.run(oip_v2.check_protocol(mlserver.url, MODEL, "1", profile="strict"))
    assert strict.outcome == "passed", strict.message
    assert strict.notes == ()


def test_mlserver_queues_instead_of_rejecting_above_capacity(mlserver: MLServer, mlserver_capacity: float) -> None:
    """[SRV-045] At twice its measured capacity MLServer refuses nothing: it queues, answers seconds late and lets
    requests time out, and the overload check fails saying that the endpoint queues instead of rejecting.

    Twice, not more: the load generator shares the machine's cores with the server, and at 2x it keeps its
    schedule to a few milliseconds, three orders of magnitude below the latencies it reports.
    """
    requests = [infer(x) for x, _ in mlserver.samples]
    policy = OverloadPolicy(capacity_rps=mlserver_capacity, factor=2, max_response_s=0.25)
    result = asyncio.run(check_overload(mlserver.url, requests, policy, duration=3.0))
    settle(mlserver.url, requests[0])
    figures = {m.name: m.value for m in result.measurements}
    assert result.outcome == "failed", result.message
    assert "the endpoint queues instead of rejecting" in result.message
    assert figures["refused"] == 0, result.message
    assert "undeclared statuses" not in result.message  # MLServer answers 200 late, or not at all: never 429/503
    late = figures["p99 response"]
    assert figures["timed out"] or (isinstance(late, float) and late > 1000), result.message


def test_mlserver_answers_a_shape_mismatch_with_500(mlserver: MLServer) -> None:
    """[SRV-053] MLServer answers an input whose shape does not match its data with a 500 (its scikit-learn runtime
    raises "cannot reshape array" and nothing turns that into a 400), which the input-validation check fails; every
    other malformed request gets FastAPI's 422."""
    result = asyncio.run(check_input_validation(mlserver.url, infer(mlserver.samples[0][0])))
    statuses = {m.name: m.value for m in result.measurements}
    assert result.outcome == "failed" and "wrong-shape: HTTP 500" in result.message, result.message
    assert statuses["wrong-shape status"] == 500
    assert {statuses[f"{name} status"] for name in ("bad-json", "wrong-datatype", "huge-body")} == {422}


def test_mlserver_refuses_missing_inputs_with_422(mlserver: MLServer) -> None:
    """[SRV-053] MLServer answers a request without ``inputs`` with a 422, also right after a 500 on the same
    connection; the check must record that 422, not a connection error."""
    result = asyncio.run(check_input_validation(mlserver.url, infer(mlserver.samples[0][0])))
    statuses = {m.name: m.value for m in result.measurements}
    assert statuses["missing-inputs status"] == 422, result.message


def test_mlserver_certified_by_the_cli_fails_overload(
    mlserver: MLServer, mlserver_capacity: float, tmp_path: Path
) -> None:
    """[SRV-070] [SRV-045] [SRV-048] [SRV-053] ``aifabric serving check`` against MLServer: the report is schema-valid,
    its outcome ``failed``; the overload check fails naming the queueing, input validation fails on the 500 for a
    shape mismatch, and protocol, latency at a modest load and accuracy on held-out samples pass."""
    evaluation = tmp_path / "evaluation.jsonl"
    lines = [json.dumps({"input": json.loads(infer(x).body or b"{}"), "expected": [y]}) for x, y in mlserver.samples]
    evaluation.write_text("\n".join(lines) + "\n")
    contract = {
        "schemaURL": "https://aifabric.dev/schemas/serving-contract/1.0.0.json",
        "producer": "https://github.com/aifabric/aifabric/tree/v0.1.0",
        "contractId": "01936f2a-8b40-7c11-9a3e-4f5d6c7b8a93",
        "name": "MLServer peer",
        "owner": "tests/test_serving_peers.py",
        "createdAt": "2026-11-23T08:00:00Z",
        "endpoint": {"protocol": "oip-v2", "model": {"name": MODEL}},
        "load": {"mode": "closed", "concurrency": 2, "durationS": 2, "warmupS": 0.5, "timeoutS": 5},
        "latency": [{"metric": "e2e", "percentile": 0.9, "maxMs": 1000}],
        "throughput": {"minRps": 1},
        "errorBudget": {"maxErrorRate": 0.01},
        "accuracy": {
            "evaluationSet": {
                "uri": evaluation.as_uri(),
                "digest": {"sha256": hashlib.sha256(evaluation.read_bytes()).hexdigest()},
            },
            "metric": "exact_match",
            "floor": 0.9,
        },
        "overload": {
            "capacityRps": round(mlserver_capacity, 3),
            "factor": 2,
            "durationS": 3,
            "behaviour": "reject",
            "statuses": [429, 503],
            "retryAfter": False,
            "maxResponseMs": 250,
        },
        "validity": {"minDurationS": 1, "minRequests": 20, "confidence": 0.99},
    }
    path = tmp_path / "contract.yaml"
    path.write_text(yaml.safe_dump(contract))
    out = tmp_path / "report.json"
    try:
        result = invoke(
            "serving", "check", "--contract", path, "--endpoint", mlserver.url, "--out", out, "--telemetry", "none"
        )
    finally:
        settle(mlserver.url, infer(mlserver.samples[0][0]))
    report: dict[str, Any] = json.loads(out.read_text())
    validate(report)
    checks = {c["id"]: c for c in report["checks"]}
    outcomes = {name: c["outcome"] for name, c in checks.items()}
    assert result.exit_code == 1, result.output
    assert report["outcome"] == "failed", outcomes
    assert outcomes["overload"] == "failed" and "queues instead of rejecting" in checks["overload"]["message"]
    assert "SRV-045" in checks["overload"]["requirements"]
    failed = sorted(name for name, outcome in outcomes.items() if outcome == "failed")
    assert failed == ["input-validation", "overload"], {name: checks[name]["message"] for name in failed}
    assert "wrong-shape: HTTP 500" in checks["input-validation"]["message"]
    assert outcomes["telemetry"] == "skipped"


# --- LitServe, the OpenAI-compatible peer -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def litserve(litserve_venv: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peer]:
    """LitServe on a free loopback port: a fake LLM streaming 8 tokens 20 ms apart, one stream at a time."""
    root = tmp_path_factory.mktemp("litserve")
    port = free_port()
    script: list[str | Path] = [
        PEERS / "litserve_fake_llm.py",
        *map(str, (port, TOKENS, TOKEN_DELAY_S, QUEUE_TIMEOUT_S)),
    ]
    url = f"http://127.0.0.1:{port}"
    with serve(
        [litserve_venv / "bin" / "python", *script], url=url, ready_path="/health", log=root / "log", cwd=root
    ) as peer:
        yield peer


def stream_request() -> Request:
    return dataclasses.replace(openai.chat_request(LLM, "Say hello.", stream=True), keep_body=True)


def test_litserve_protocol_passes_tolerant_and_fails_strict(litserve: Peer) -> None:
    """[SRV-054] [SRV-055] [SRV-056] LitServe answers chat completions, streamed and not, as the OpenAI API does, but
    serves no ``GET /v1/models`` (404) and answers malformed JSON with a 422 and FastAPI's ``detail`` instead of a 400
    with an ``error`` object. The strict profile fails it for those three; the tolerant one passes it, noting each."""
    tolerant = asyncio.run(openai.check_protocol(litserve.url, LLM, profile="tolerant"))
    steps = {m.name: m.value for m in tolerant.measurements}
    assert tolerant.outcome == "passed", tolerant.message
    assert "3 tolerated deviations" in tolerant.message
    assert steps["completion status"] == steps["stream status"] == 200 and steps["stream output events"] == TOKENS
    expected_notes = [
        "GET /v1/models answered HTTP 404 without a data list",
        "malformed JSON answered 422, not 400",
        "malformed JSON's answer has no error object",
    ]
    assert sorted(tolerant.notes) == expected_notes
    strict = asyncio.run(openai.check_protocol(litserve.url, LLM, profile="strict"))
    assert strict.outcome == "failed" and strict.message.startswith("3 deviations"), strict.message
    assert "GET /v1/models answered HTTP 404" in strict.message


def test_litserve_streams_pass_with_ttft_and_itl(litserve: Peer) -> None:
    """[SRV-042] [SRV-055] [SRV-022] [SRV-023] One stream at a time, every stream ends with ``data: [DONE]`` after
    one output chunk per token: the streaming check passes, with TTFT about one token's delay and ITL the delay
    between tokens."""
    result = asyncio.run(run_closed_loop(litserve.url, stream_request(), concurrency=1, duration=2.0))
    check = check_streaming(result)
    assert check.outcome == "passed", f"{check.message}\n{litserve.tail()}"
    assert result.ok == len(result.samples) >= 5
    assert {len(s.chunks) for s in result.samples} == {TOKENS}
    ttft, itl = result.percentile("ttft", 0.5), result.percentile("itl", 0.5)
    assert TOKEN_DELAY_S <= ttft < TOKEN_DELAY_S + 0.2, ttft
    assert 0.5 * TOKEN_DELAY_S <= itl < TOKEN_DELAY_S + 0.03, itl
    assert all(s.body and s.body.rstrip().endswith(b"data: [DONE]") for s in result.samples)


def test_litserve_in_stream_timeout_counts_as_a_failure(litserve: Peer) -> None:
    """[SRV-027] [SRV-055] [SRV-042] LitServe times out a request that waited in its queue longer than its
    ``timeout`` and, for a stream, says so after HTTP 200: one ``data: {"error": {"message": "Request timed out"}}``
    event and no ``data: [DONE]``. With 8 streams in flight against one worker, the harness records those as
    ``stream error: Request timed out`` and the streaming check and the error budget fail."""
    result: LoadResult = asyncio.run(run_closed_loop(litserve.url, stream_request(), concurrency=8, duration=2.0))
    broken = [s for s in result.samples if s.error == "stream error: Request timed out"]
    assert broken, f"{result.errors}\n{litserve.tail()}"
    assert set(result.errors) == {"stream error: Request timed out"}
    for sample in broken:
        assert sample.status == 200 and not sample.ok and not sample.chunks
        assert sample.body is not None and b"[DONE]" not in sample.body
        assert openai.parse_stream(sample.body).error == "Request timed out"
    check = check_streaming(result)
    assert check.outcome == "failed"
    assert f"{len(broken)} of {len(result.samples)} streams broke off with an error after HTTP 200" in check.message
    assert check_error_budget(result, max_error_rate=0.01).outcome == "failed"
    assert "was waiting in the queue for too long" in litserve.tail(200)
