"""The reference model server: a real server on loopback, driven by aiohttp's client; the model is the real one
(a gate in front of it holds batches where a test needs the server busy or warming up)."""

from __future__ import annotations

import asyncio
import importlib.util
import io
import json
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import aiohttp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from aifabric.serving._model import CLASSIFIER, FEATURES, LM, evaluation_set, load_classifier
from aifabric.serving.server import ModelServer, RunningServer, ServerConfig, start

T = TypeVar("T")
INFER = f"/v2/models/{CLASSIFIER}/infer"
JSON_HEADERS = {"Content-Type": "application/json"}
ACCURACY_FLOOR = 0.9
"""The declared accuracy of churn-classifier on its evaluation set (it scores about 0.97)."""


class Gate:
    """The real classifier behind a gate: ``predict`` waits while the gate is shut."""

    device = "cpu"

    def __init__(self, *, shut: bool = False) -> None:
        self.inner = load_classifier("cpu")
        self.open = threading.Event()
        self.waiting = threading.Event()
        if not shut:
            self.open.set()

    def predict(self, rows: Any) -> Any:
        if not self.open.is_set():
            self.waiting.set()
        assert self.open.wait(20)
        return self.inner.predict(rows)


def run(fn: Callable[[aiohttp.ClientSession], Awaitable[T]]) -> T:
    async def main() -> T:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as session:
            return await fn(session)

    return asyncio.run(main())


async def post(session: aiohttp.ClientSession, url: str, body: Any) -> tuple[int, Any, dict[str, str]]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    async with session.post(url, data=io.BytesIO(data), headers=JSON_HEADERS) as response:
        raw = await response.read()
        return response.status, json.loads(raw) if raw else None, dict(response.headers)


async def get(session: aiohttp.ClientSession, url: str) -> tuple[int, Any]:
    async with session.get(url) as response:
        return response.status, await response.json(content_type=None)


def infer_body(rows: Any) -> dict[str, Any]:
    rows = np.asarray(rows, dtype=np.float32)
    data = [float(v) for v in rows.ravel()]
    return {"inputs": [{"name": "features", "datatype": "FP32", "shape": list(rows.shape), "data": data}]}


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    with start(ServerConfig(max_batch=32, max_delay_ms=5, capacity=512, device="cpu")) as running:
        running.wait_ready(timeout=60)
        yield running


# --- readiness and metadata ---------------------------------------------------------------------------------------


def test_readiness_is_503_until_the_warm_up_is_done() -> None:
    gate = Gate(shut=True)
    with start(ServerConfig(device="cpu"), classifier=gate) as running:
        assert gate.waiting.wait(10)

        async def before(session: aiohttp.ClientSession) -> list[tuple[int, Any]]:
            paths = ["/v2/health/live", "/v2/health/ready", f"/v2/models/{CLASSIFIER}/ready"]
            answers = [await get(session, running.url + p) for p in paths]
            status, body, headers = await post(session, running.url + INFER, infer_body(np.zeros((1, FEATURES))))
            chat = {"model": LM, "messages": [{"role": "user", "content": "hi"}]}
            chat_status, chat_body, _ = await post(session, running.url + "/v1/chat/completions", chat)
            assert headers["Retry-After"] == "1" and "warming up" in body["error"]
            assert chat_body["error"]["type"] == "server_error"
            return [*answers, (status, body), (chat_status, chat_body)]

        live, ready, model_ready, infer, chat = run(before)
        assert live == (200, {"live": True})
        assert ready == (503, {"ready": False})
        assert model_ready[0] == 503
        assert infer[0] == 503 and chat[0] == 503
        gate.open.set()
        assert running.wait_ready(timeout=20) > 0
        assert run(lambda s: get(s, running.url + "/v2/health/ready")) == (200, {"ready": True})


def test_metadata_endpoints(server: RunningServer) -> None:
    """[SRV-043] [SRV-054] The reference server answers server and model metadata (with version paths) and model
    readiness as the strict profile states, and lists its model in /v1/models."""

    async def calls(session: aiohttp.ClientSession) -> dict[str, tuple[int, Any]]:
        paths = {
            "server": "/v2",
            "model": f"/v2/models/{CLASSIFIER}",
            "version": f"/v2/models/{CLASSIFIER}/versions/1",
            "ready": f"/v2/models/{CLASSIFIER}/versions/1/ready",
            "unknown": "/v2/models/nope",
            "unknown-version": f"/v2/models/{CLASSIFIER}/versions/2",
            "unknown-ready": "/v2/models/nope/ready",
            "v1": "/v1/models",
            "no-route": "/v3/nothing",
        }
        return {key: await get(session, server.url + path) for key, path in paths.items()}

    got = run(calls)
    assert got["server"][0] == 200 and set(got["server"][1]) == {"name", "version", "extensions"}
    metadata = {
        "name": CLASSIFIER,
        "versions": ["1"],
        "platform": "numpy",
        "inputs": [{"name": "features", "datatype": "FP32", "shape": [-1, FEATURES]}],
        "outputs": [
            {"name": "probabilities", "datatype": "FP32", "shape": [-1, 2]},
            {"name": "label", "datatype": "INT64", "shape": [-1]},
        ],
    }
    assert got["model"] == (200, metadata)
    assert got["version"] == (200, metadata)
    assert got["ready"] == (200, {"name": CLASSIFIER, "ready": True})
    for key in ("unknown", "unknown-version", "unknown-ready", "no-route"):
        status, body = got[key]
        assert status == 404 and isinstance(body["error"], str), key
    assert got["v1"][0] == 200
    assert [m["id"] for m in got["v1"][1]["data"]] == [LM]


# --- the classifier -----------------------------------------------------------------------------------------------


def test_the_evaluation_set_is_classified_above_the_accuracy_floor(server: RunningServer) -> None:
    """[SRV-043] An inference response has `model_name`, the request's `id` and outputs with name, shape, datatype and
    data."""
    evaluation = evaluation_set()
    body = {**infer_body(evaluation.inputs), "id": "eval-1"}
    status, answer, _ = run(lambda s: post(s, server.url + INFER, body))
    assert status == 200
    assert answer["model_name"] == CLASSIFIER and answer["model_version"] == "1" and answer["id"] == "eval-1"
    probs, labels = answer["outputs"]
    n = len(evaluation.labels)
    assert (probs["name"], probs["datatype"], probs["shape"]) == ("probabilities", "FP32", [n, 2])
    assert (labels["name"], labels["datatype"], labels["shape"]) == ("label", "INT64", [n])
    p = np.array(probs["data"]).reshape(n, 2)
    assert np.allclose(p.sum(axis=1), 1.0, atol=1e-5)
    assert labels["data"] == p.argmax(axis=1).tolist()
    accuracy = float(np.mean(np.array(labels["data"]) == evaluation.labels))
    assert accuracy >= ACCURACY_FLOOR


def test_batching_does_not_change_the_answers(server: RunningServer) -> None:
    rows = evaluation_set().inputs[:32]

    async def compare(session: aiohttp.ClientSession) -> tuple[Any, list[Any], list[Any]]:
        url = server.url + INFER
        whole = (await post(session, url, infer_body(rows)))[1]
        together = await asyncio.gather(*(post(session, url, infer_body(row[None])) for row in rows))
        alone = [(await post(session, url, infer_body(row[None])))[1] for row in rows]
        return whole, [answer for _, answer, _ in together], alone

    before = dict(server.server.stats.batch_sizes)
    whole, together, alone = run(compare)
    flat_together = [v for answer in together for v in answer["outputs"][0]["data"]]
    flat_alone = [v for answer in alone for v in answer["outputs"][0]["data"]]
    assert whole["outputs"][0]["data"] == flat_together == flat_alone  # bit for bit, whatever the batch
    after = server.server.stats.batch_sizes
    assert any(size > 1 and after[size] > before.get(size, 0) for size in after)


def test_concurrent_requests_are_batched(server: RunningServer) -> None:
    body = infer_body(np.ones((1, FEATURES)))

    async def burst(session: aiohttp.ClientSession) -> tuple[list[int], str]:
        answers = await asyncio.gather(*(post(session, server.url + INFER, body) for _ in range(128)))
        async with session.get(server.url + "/metrics") as response:
            return [status for status, _, _ in answers], await response.text()

    before = server.server.stats.batches
    statuses, metrics = run(burst)
    assert statuses == [200] * 128
    stats = server.server.stats
    assert stats.batches - before < 128
    assert max(stats.batch_sizes) > 1
    assert f"aifabric_serving_batch_size_count {stats.batches}" in metrics
    assert "aifabric_serving_ready 1" in metrics


def test_above_capacity_the_server_answers_429_at_once() -> None:
    """[SRV-045] Above its capacity the reference server refuses at once with 429 and Retry-After, never letting a
    request time out silently."""
    gate = Gate()
    config = ServerConfig(max_batch=1, capacity=4, timeout=10, device="cpu")
    with start(config, classifier=gate) as running:
        running.wait_ready(timeout=20)
        gate.open.clear()
        body = infer_body(np.zeros((1, FEATURES)))

        async def saturate(session: aiohttp.ClientSession) -> tuple[list[int], list[tuple[int, Any, str, float]]]:
            url = running.url + INFER
            held = [asyncio.create_task(post(session, url, body)) for _ in range(4)]
            while running.server._in_flight < 4:  # the 4 admitted requests fill the capacity
                await asyncio.sleep(0.005)
            refused = []
            for _ in range(20):
                started = time.perf_counter()
                status, answer, headers = await post(session, url, body)
                refused.append((status, answer, headers.get("Retry-After", ""), time.perf_counter() - started))
            gate.open.set()
            return [status for status, _, _ in await asyncio.gather(*held)], refused

        try:
            held, refused = run(saturate)
        finally:
            gate.open.set()
    assert held == [200] * 4
    assert all(status == 429 and retry == "1" and "capacity" in answer["error"] for status, answer, retry, _ in refused)
    slowest = max(seconds for *_, seconds in refused)
    assert slowest < 0.05, f"a 429 took {slowest * 1000:.1f} ms"
    assert running.server.stats.rejected == 20


def test_a_request_not_answered_in_time_gets_503_with_retry_after() -> None:
    """[SRV-045] A request the reference server cannot answer in time gets a 503 with Retry-After, not silence."""
    gate = Gate()
    with start(ServerConfig(timeout=0.2, device="cpu"), classifier=gate) as running:
        running.wait_ready(timeout=20)
        gate.open.clear()
        try:
            started = time.perf_counter()
            status, answer, headers = run(lambda s: post(s, running.url + INFER, infer_body(np.zeros((1, 8)))))
            elapsed = time.perf_counter() - started
        finally:
            gate.open.set()
    assert (status, headers["Retry-After"]) == (503, "1") and "no answer within" in answer["error"]
    assert 0.2 <= elapsed < 2
    assert running.server.stats.timed_out == 1


# --- the OpenAI-compatible endpoints ------------------------------------------------------------------------------


async def sse(session: aiohttp.ClientSession, url: str, body: dict[str, Any]) -> tuple[int, str, bytes]:
    async with session.post(url, json=body) as response:
        return response.status, response.headers["Content-Type"], await response.read()


def events(raw: bytes) -> list[Any]:
    """Every event of an SSE body: each must be one ``data:`` line, the last ``[DONE]``."""
    assert raw.endswith(b"\n\n")
    blocks = raw.decode().split("\n\n")[:-1]
    assert all(block.startswith("data: ") and "\n" not in block for block in blocks)
    assert blocks[-1] == "data: [DONE]"
    return [json.loads(block[6:]) for block in blocks[:-1]]


@pytest.mark.parametrize("chat", [True, False], ids=["chat", "completions"])
def test_completions_streamed_and_not_agree_and_are_deterministic_at_temperature_0(
    server: RunningServer, chat: bool
) -> None:
    """[SRV-054] [SRV-055] A plain answer has `object` chat.completion or text_completion and non-empty choices; a
    stream is text/event-stream, one `data:` line per chunk object, ending with data: [DONE]."""
    path = "/v1/chat/completions" if chat else "/v1/completions"
    body: dict[str, Any] = {"model": LM, "max_tokens": 12, "temperature": 0}
    body |= {"messages": [{"role": "user", "content": "the server"}]} if chat else {"prompt": "the server"}

    async def calls(session: aiohttp.ClientSession) -> tuple[Any, Any, tuple[int, str, bytes], tuple[int, str, bytes]]:
        url = server.url + path
        plain = [(await post(session, url, body))[1] for _ in range(2)]
        streamed = await sse(session, url, {**body, "stream": True})
        with_usage = await sse(session, url, {**body, "stream": True, "stream_options": {"include_usage": True}})
        return plain[0], plain[1], streamed, with_usage

    first, second, streamed, with_usage = run(calls)
    assert first["choices"] == second["choices"]
    choice = first["choices"][0]
    text = choice["message"]["content"] if chat else choice["text"]
    assert first["object"] == ("chat.completion" if chat else "text_completion")
    assert choice["finish_reason"] in ("stop", "length") and text
    usage = first["usage"]
    assert usage["prompt_tokens"] == 2 and usage["total_tokens"] == 2 + usage["completion_tokens"]
    assert 1 <= usage["completion_tokens"] <= 12
    status, content_type, raw = streamed
    assert status == 200 and content_type.startswith("text/event-stream")
    chunks = events(raw)
    assert {c["object"] for c in chunks} == {"chat.completion.chunk" if chat else "text_completion"}
    assert len({c["id"] for c in chunks}) == 1
    if chat:
        assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
        pieces = [c["choices"][0]["delta"].get("content", "") for c in chunks]
    else:
        pieces = [c["choices"][0]["text"] for c in chunks]
    assert "".join(pieces) == text
    assert chunks[-1]["choices"][0]["finish_reason"] == choice["finish_reason"]
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks[:-1])
    last = events(with_usage[2])[-1]
    assert last["choices"] == [] and last["usage"] == usage


def test_seeded_sampling_is_reproducible(server: RunningServer) -> None:
    body = {"model": LM, "prompt": "a contract", "max_tokens": 20, "temperature": 1.5, "seed": 7}

    async def calls(session: aiohttp.ClientSession) -> list[str]:
        return [(await post(session, server.url + "/v1/completions", body))[1]["choices"][0]["text"] for _ in "ab"]

    first, second = run(calls)
    assert first == second


# --- bad input: 4xx with an error object, never 5xx ---------------------------------------------------------------

VALID_ROW = [0.1] * FEATURES
BAD_INFER: list[tuple[str, bytes | Any, int]] = [
    ("bad json", b'{"inputs": [', 400),
    ("not an object", [], 400),
    ("missing inputs", {"id": "1"}, 400),
    ("empty inputs", {"inputs": []}, 400),
    ("two inputs", {"inputs": [infer_body([VALID_ROW])["inputs"][0]] * 2}, 400),
    ("wrong name", {"inputs": [{**infer_body([VALID_ROW])["inputs"][0], "name": "x"}]}, 400),
    ("wrong datatype", {"inputs": [{**infer_body([VALID_ROW])["inputs"][0], "datatype": "INT64"}]}, 400),
    ("wrong shape", {"inputs": [{**infer_body([VALID_ROW])["inputs"][0], "shape": [1, 7]}]}, 400),
    ("shape and data disagree", {"inputs": [{**infer_body([VALID_ROW])["inputs"][0], "shape": [2, 8]}]}, 400),
    ("strings for numbers", {"inputs": [{**infer_body([VALID_ROW])["inputs"][0], "data": ["1"] * 8}]}, 400),
    ("booleans for numbers", {"inputs": [{**infer_body([VALID_ROW])["inputs"][0], "data": [True] * 8}]}, 400),
    ("too big for FP32", {"inputs": [{**infer_body([VALID_ROW])["inputs"][0], "data": [1e39] * 8}]}, 400),
    ("too many rows", infer_body(np.zeros((1025, FEATURES))), 400),
    ("unknown output", {**infer_body([VALID_ROW]), "outputs": [{"name": "logits"}]}, 400),
    ("non-string id", {**infer_body([VALID_ROW]), "id": 5}, 400),
    ("huge body", b'{"inputs": [{"data": [' + b"0, " * 500_000 + b"0]}]}", 413),
]


@pytest.mark.parametrize(("body", "status"), [(b, s) for _, b, s in BAD_INFER], ids=[n for n, _, _ in BAD_INFER])
def test_malformed_inference_requests_get_4xx_with_an_error(server: RunningServer, body: Any, status: int) -> None:
    """[SRV-053] A malformed V2 request gets a 4xx with a string `error`."""
    got, answer, _ = run(lambda s: post(s, server.url + INFER, body))
    assert got == status and isinstance(answer["error"], str) and answer["error"]


def test_nested_rows_and_chosen_outputs_are_accepted(server: RunningServer) -> None:
    body = {
        "inputs": [{"name": "features", "datatype": "FP32", "shape": [2, 8], "data": [VALID_ROW, VALID_ROW]}],
        "outputs": [{"name": "label"}],
    }
    status, answer, _ = run(lambda s: post(s, server.url + INFER, body))
    assert status == 200 and [o["name"] for o in answer["outputs"]] == ["label"]


def test_other_methods_and_content_types_are_refused_with_json(server: RunningServer) -> None:
    async def calls(session: aiohttp.ClientSession) -> list[tuple[int, Any, str]]:
        out = []
        async with session.get(server.url + INFER) as response:
            out.append((response.status, await response.json(), response.headers.get("Allow", "")))
        body = json.dumps(infer_body([VALID_ROW]))
        async with session.post(server.url + INFER, data=body, headers={"Content-Type": "text/plain"}) as response:
            out.append((response.status, await response.json(), ""))
        async with session.get(server.url + "/v1/chat/completions") as response:
            out.append((response.status, await response.json(), response.headers.get("Allow", "")))
        return out

    (status, answer, allow), (plain, plain_answer, _), (v1, v1_answer, v1_allow) = run(calls)
    assert (status, allow) == (405, "POST") and isinstance(answer["error"], str)
    assert plain == 415 and "content type" in plain_answer["error"]
    assert (v1, v1_allow) == (405, "POST") and set(v1_answer["error"]) >= {"message", "type", "code"}


BAD_CHAT: list[tuple[str, bytes | Any, int]] = [
    ("bad json", b"{", 400),
    ("not an object", [1], 400),
    ("missing model", {"messages": [{"role": "user", "content": "hi"}]}, 400),
    ("unknown model", {"model": "gpt-4", "messages": [{"role": "user", "content": "hi"}]}, 404),
    ("missing messages", {"model": LM}, 400),
    ("message without content", {"model": LM, "messages": [{"role": "user"}]}, 400),
    ("unknown role", {"model": LM, "messages": [{"role": "robot", "content": "hi"}]}, 400),
    ("max_tokens not a number", {"model": LM, "messages": [{"role": "user", "content": "x"}], "max_tokens": "a"}, 400),
    ("max_tokens too big", {"model": LM, "messages": [{"role": "user", "content": "x"}], "max_tokens": 10**6}, 400),
    ("temperature too high", {"model": LM, "messages": [{"role": "user", "content": "x"}], "temperature": 3}, 400),
    ("negative seed", {"model": LM, "messages": [{"role": "user", "content": "x"}], "seed": -1}, 400),
    ("n of 2", {"model": LM, "messages": [{"role": "user", "content": "x"}], "n": 2}, 400),
    ("stream not a boolean", {"model": LM, "messages": [{"role": "user", "content": "x"}], "stream": "yes"}, 400),
]


@pytest.mark.parametrize(("body", "status"), [(b, s) for _, b, s in BAD_CHAT], ids=[n for n, _, _ in BAD_CHAT])
def test_malformed_chat_requests_get_an_openai_error(server: RunningServer, body: Any, status: int) -> None:
    got, answer, _ = run(lambda s: post(s, server.url + "/v1/chat/completions", body))
    assert got == status
    error = answer["error"]
    assert isinstance(error["message"], str) and isinstance(error["type"], str) and "code" in error


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5),
    max_leaves=30,
)
fp32 = st.floats(width=32, allow_nan=False, allow_infinity=False)
tensors = st.fixed_dictionaries(
    {},
    optional={
        "name": st.sampled_from(["features", "x"]) | json_values,
        "datatype": st.sampled_from(["FP32", "INT64", "BYTES"]) | json_values,
        "shape": st.lists(st.integers(-2, 40) | json_values, max_size=3),
        "data": st.lists(fp32 | st.integers() | json_values, max_size=64)
        | st.lists(st.lists(fp32, min_size=8, max_size=8), max_size=4),
        "parameters": json_values,
    },
)
infer_requests = json_values | st.fixed_dictionaries(
    {"inputs": st.lists(tensors, max_size=2) | json_values},
    optional={"id": json_values, "outputs": json_values, "parameters": json_values},
)
messages = st.lists(
    st.fixed_dictionaries({}, optional={"role": st.sampled_from(["user", "assistant", "x"]), "content": json_values}),
    max_size=3,
)
chat_requests = json_values | st.fixed_dictionaries(
    {"model": st.just(LM) | json_values, "messages": messages | json_values},
    optional={
        "max_tokens": st.integers(-5, 600) | json_values,
        "temperature": st.floats(-1, 3) | json_values,
        "seed": st.integers() | json_values,
        "stream": st.booleans() | json_values,
        "n": json_values,
        "stream_options": json_values,
    },
)


@pytest.fixture(scope="module")
def client(server: RunningServer) -> Iterator[Callable[[str, Any], tuple[int, bytes]]]:
    loop = asyncio.new_event_loop()
    session = loop.run_until_complete(_session())

    async def call(path: str, body: Any) -> tuple[int, bytes]:
        data = json.dumps(body, allow_nan=False).encode() if not isinstance(body, bytes) else body
        async with session.post(server.url + path, data=data, headers=JSON_HEADERS) as response:
            return response.status, await response.read()

    yield lambda path, body: loop.run_until_complete(call(path, body))
    loop.run_until_complete(session.close())
    loop.close()


async def _session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=infer_requests)
def test_arbitrary_json_at_infer_never_gets_5xx(client: Callable[[str, Any], tuple[int, bytes]], body: Any) -> None:
    """[SRV-053] No JSON body at the infer endpoint gets a 5xx; a 4xx carries a string `error`."""
    status, raw = client(INFER, body)
    assert status < 500, raw
    if status >= 400:
        assert isinstance(json.loads(raw)["error"], str)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=chat_requests)
def test_arbitrary_json_at_chat_never_gets_5xx(client: Callable[[str, Any], tuple[int, bytes]], body: Any) -> None:
    status, raw = client("/v1/chat/completions", body)
    assert status < 500, raw
    if status >= 400:
        assert set(json.loads(raw)["error"]) >= {"message", "type", "code"}
    elif isinstance(body, dict) and body.get("stream") is True:
        assert raw.endswith(b"data: [DONE]\n\n")


# --- shutdown and the command -------------------------------------------------------------------------------------


def test_shutdown_lets_the_requests_in_flight_finish() -> None:
    gate = Gate()
    running = start(ServerConfig(device="cpu"), classifier=gate)
    running.wait_ready(timeout=20)
    gate.open.clear()
    gate.waiting.clear()

    async def scenario(session: aiohttp.ClientSession) -> tuple[int, bool]:
        in_flight = asyncio.create_task(post(session, running.url + INFER, infer_body(np.zeros((1, FEATURES)))))
        while not gate.waiting.is_set():
            await asyncio.sleep(0.005)
        stopping = threading.Thread(target=running.stop)
        stopping.start()
        await asyncio.sleep(0.2)
        refused = False
        try:
            async with aiohttp.ClientSession() as fresh, fresh.get(running.url + "/v2/health/live"):
                pass
        except aiohttp.ClientConnectionError:
            refused = True
        gate.open.set()
        status = (await in_flight)[0]
        await asyncio.get_running_loop().run_in_executor(None, stopping.join)
        return status, refused

    try:
        status, refused = run(scenario)
    finally:
        gate.open.set()
        running.stop()
    assert status == 200
    assert refused
    assert not running.server.ready


def test_the_config_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="max_batch"):
        ServerConfig(max_batch=0)
    with pytest.raises(ValueError, match="timeout"):
        ServerConfig(timeout=0)
    if importlib.util.find_spec("torch") is None:
        with pytest.raises(ValueError, match="cuda"):
            ModelServer(ServerConfig(device="cuda"))


def test_serve_model_command_registers_its_options() -> None:
    import typer

    from aifabric._cli._serving import register

    failures: list[tuple[str, int]] = []
    serve_app = typer.Typer()
    serve_app.callback()(lambda: None)  # a group, as ``aifabric serve`` is
    register(serve_app, fail=lambda message, code: failures.append((message, code)))
    runner = CliRunner()
    result = runner.invoke(serve_app, ["model", "--help"])
    assert result.exit_code == 0
    for option in ("--max-batch", "--max-delay-ms", "--capacity", "--device", "--port", "--host"):
        assert option in result.output
    result = runner.invoke(serve_app, ["model", "--device", "tpu"])
    assert result.exit_code == 2 and failures == [("unknown device 'tpu': use auto, cpu or cuda", 2)]
