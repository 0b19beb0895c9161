"""Protocol probes against real loopback servers: a correct V2 server, a sloppy one, an OpenAI-like streamer."""

from __future__ import annotations

import asyncio
import json

import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st

from aifabric import DocumentError
from aifabric.serving.checks import CheckResult
from aifabric.serving.protocols import oip_v2, openai
from tests.test_serving_checks import Handler, serve, strict_infer

METADATA = {
    "name": "m",
    "versions": ["1"],
    "platform": "onnxruntime_onnx",
    "inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 3]}],
    "outputs": [{"name": "y", "datatype": "FP32", "shape": [-1]}],
}


async def empty(_: web.Request) -> web.Response:
    return web.Response()


async def server_metadata(_: web.Request) -> web.Response:
    return web.json_response({"name": "test", "version": "1.0", "extensions": []})


async def model_metadata(request: web.Request) -> web.Response:
    if request.match_info["model"] != "m":
        return web.json_response({"error": f"unknown model {request.match_info['model']}"}, status=404)
    return web.json_response(METADATA)


CORRECT = [
    ("GET", "/v2/health/live", empty),
    ("GET", "/v2/health/ready", empty),
    ("GET", "/v2", server_metadata),
    ("GET", "/v2/models/{model}", model_metadata),
    ("GET", "/v2/models/{model}/versions/{version}", model_metadata),
    ("GET", "/v2/models/{model}/ready", empty),
    ("GET", "/v2/models/{model}/versions/{version}/ready", empty),
    ("POST", "/v2/models/{model}/infer", strict_infer),
    ("POST", "/v2/models/{model}/versions/{version}/infer", strict_infer),
]


async def sloppy_server_metadata(_: web.Request) -> web.Response:
    return web.json_response({"name": "sloppy", "version": "0.1"})  # no extensions (as MLServer may)


async def sloppy_model_metadata(request: web.Request) -> web.Response:
    if request.match_info["model"] != "m":
        return web.Response(status=404, text="Not Found")  # no error object
    return web.json_response({k: v for k, v in METADATA.items() if k != "platform"})


async def sloppy_infer(request: web.Request) -> web.Response:
    doc = await request.json()
    return web.json_response(
        {
            "model_name": "m",
            "id": doc.get("id"),
            "outputs": [{"name": "y", "shape": [1], "datatype": "FP32", "data": [0]}],
        }
    )


async def forgetful_infer(request: web.Request) -> web.Response:
    await request.read()
    return web.json_response(
        {"model_name": "m", "outputs": [{"name": "y", "shape": [1], "datatype": "FP32", "data": [0]}]}
    )


SLOPPY = [
    ("GET", "/v2/health/live", empty),
    ("GET", "/v2/health/ready", empty),
    ("GET", "/v2", sloppy_server_metadata),
    ("GET", "/v2/models/{model}", sloppy_model_metadata),
    ("GET", "/v2/models/{model}/ready", empty),
    ("POST", "/v2/models/{model}/infer", sloppy_infer),
]


def run(coro: asyncio.Future[CheckResult] | object) -> CheckResult:
    async def main() -> CheckResult:
        result: CheckResult = await coro  # type: ignore[misc]
        return result

    return asyncio.run(main())


def test_a_correct_v2_server_passes_strict() -> None:
    """[SRV-043] A server with every endpoint and member of the strict profile passes it."""
    with serve(CORRECT) as url:
        result = run(oip_v2.check_protocol(url, "m", "1", profile="strict"))
    assert result.outcome == "passed", result.message
    assert result.notes == ()


def test_a_sloppy_v2_server_passes_tolerant_and_fails_strict_naming_what_is_missing() -> None:
    """[SRV-043] [SRV-044] The strict profile fails a server without version paths, `extensions` or `platform`, or
    with an unknown model's answer lacking an error object, naming each; the tolerant profile notes them."""
    with serve(SLOPPY) as url:
        tolerant = run(oip_v2.check_protocol(url, "m", "1", profile="tolerant"))
        strict = run(oip_v2.check_protocol(url, "m", "1", profile="strict"))
    assert tolerant.outcome == "passed", tolerant.message
    assert any("no 'extensions'" in n for n in tolerant.notes)
    assert strict.outcome == "failed"
    for missing in ("version paths are not served", "no 'extensions'", "no platform", "error"):
        assert missing in strict.message


def test_an_inference_answer_without_the_request_id_fails_both_profiles() -> None:
    """[SRV-043] [SRV-044] The tolerant profile holds inference answers to the strict profile: one that does not
    echo the request's `id` fails both."""
    routes = [(m, p, forgetful_infer if p.endswith("/infer") else h) for m, p, h in SLOPPY]
    with serve(routes) as url:
        tolerant = run(oip_v2.check_protocol(url, "m", profile="tolerant"))
        strict = run(oip_v2.check_protocol(url, "m", profile="strict"))
    for result in (tolerant, strict):
        assert result.outcome == "failed"
        assert "the inference response's id is None, not the request's 'aifabric-probe'" in result.message


def test_a_v2_server_that_is_not_there_is_an_error() -> None:
    assert run(oip_v2.check_protocol("http://127.0.0.1:9", "m")).outcome == "error"


def test_v2_parsers_refuse_what_the_protocol_does_not_say() -> None:
    with pytest.raises(DocumentError, match="error: boom"):
        oip_v2.parse_infer_response(b'{"error": "boom"}')
    with pytest.raises(DocumentError, match="no outputs"):
        oip_v2.parse_infer_response(b'{"model_name": "m"}')
    with pytest.raises(DocumentError, match="not JSON"):
        oip_v2.parse_model_metadata(b"<html>")
    meta = oip_v2.parse_model_metadata(json.dumps(METADATA).encode())
    assert meta.inputs == (oip_v2.TensorSpec("x", "FP32", (-1, 3)),) and meta.versions == ("1",)
    assert oip_v2.parse_error(b'{"error": "no"}') == "no" and oip_v2.parse_error(b"[]") is None


@given(st.lists(st.integers(min_value=-1, max_value=4), max_size=3), st.sampled_from(oip_v2.DATATYPES))
def test_zeros_match_their_shape(shape: list[int], datatype: str) -> None:
    tensor = oip_v2.zeros(oip_v2.TensorSpec("t", datatype, tuple(shape)))
    assert all(d >= 0 for d in tensor.shape)
    count = 1
    for d in tensor.shape:
        count *= d
    assert len(tensor.data) == count


# --- OpenAI ---------------------------------------------------------------------------------------------------------


def openai_routes(*, break_stream: bool, objects: bool = True) -> list[tuple[str, str, Handler]]:
    """A chat server; ``objects=False`` leaves `object` out of its answers and chunks."""
    answer = {"object": "chat.completion"} if objects else {}
    chunk = '"object": "chat.completion.chunk", ' if objects else ""

    async def models(_: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": "llm", "object": "model"}]})

    async def chat(request: web.Request) -> web.StreamResponse:
        try:
            doc = await request.json()
        except ValueError:
            return web.json_response({"error": {"message": "bad JSON", "type": "invalid_request_error"}}, status=400)
        if not doc.get("stream"):
            return web.json_response(
                {**answer, "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"}}]}
            )
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(f'data: {{{chunk}"choices": [{{"delta": {{"role": "assistant"}}}}]}}\n\n'.encode())
        for word in ("Hel", "lo"):
            await response.write(f'data: {{{chunk}"choices": [{{"delta": {{"content": "{word}"}}}}]}}\n\n'.encode())
            await asyncio.sleep(0.005)
        if break_stream:
            await response.write(b'data: {"error": {"message": "CUDA out of memory", "type": "server_error"}}\n\n')
        else:
            await response.write(b"data: [DONE]\n\n")
        return response

    return [("GET", "/v1/models", models), ("POST", "/v1/chat/completions", chat)]


def test_an_openai_server_passes_and_one_that_errors_in_stream_fails() -> None:
    """[SRV-054] [SRV-055] /v1/models lists the model, a plain answer has choices, a stream ends with data: [DONE]; an
    error object after HTTP 200 fails."""
    with serve(openai_routes(break_stream=False)) as url:
        good = run(openai.check_protocol(url, "llm"))
    with serve(openai_routes(break_stream=True)) as url:
        bad = run(openai.check_protocol(url, "llm"))
    assert good.outcome == "passed", good.message
    assert bad.outcome == "failed"
    assert "a stream failed after HTTP 200: CUDA out of memory" in bad.message


def test_the_load_generator_counts_an_in_stream_error_as_a_failure() -> None:
    """[SRV-055] [SRV-027] The harness counts a stream that carries an error object after HTTP 200 as failed."""
    from aifabric.serving.checks import check_streaming
    from aifabric.serving.load import run_closed_loop

    async def load(url: str) -> object:
        return await run_closed_loop(
            url, openai.chat_request("llm", "Hi", stream=True), concurrency=2, duration=0.3, max_requests=6
        )

    with serve(openai_routes(break_stream=True)) as url:
        result = asyncio.run(load(url))
    check = check_streaming(result)  # type: ignore[arg-type]
    assert check.outcome == "failed", check.message
    assert "broke off with an error after HTTP 200" in check.message


def test_sse_parsing() -> None:
    stream = openai.parse_stream(b'data: {"choices": [{"text": "a"}]}\n\ndata: {"choices": [{"text": ""}]}\n\n')
    assert (stream.text, stream.outputs, stream.events, stream.done) == ("a", 1, 2, False)
    assert stream.error == "the stream ended without data: [DONE]"
    assert openai.parse_stream(b"data: nope\n\ndata: [DONE]\n\n").error == "an event is not JSON: 'nope'"
    assert list(openai.iter_events("data: a\ndata: b\n\n: comment\n\ndata:c")) == ["a\nb", "c"]
    assert openai.parse_completion(b'{"choices": [{"text": "x"}]}') == "x"
    with pytest.raises(DocumentError, match="error: quota"):
        openai.parse_completion(b'{"error": {"message": "quota"}}')


def test_the_tolerant_profile_needs_only_readiness_metadata_and_inference() -> None:
    """[SRV-044] Under the tolerant profile, a server answering only /v2/health/ready, model metadata with `name`,
    `inputs` and `outputs`, and inference passes, noting what it lacks; the strict profile fails it."""
    minimal = [
        ("GET", "/v2/health/ready", empty),
        ("GET", "/v2/models/{model}", model_metadata),
        ("POST", "/v2/models/{model}/infer", strict_infer),
    ]
    with serve(minimal) as url:
        result = run(oip_v2.check_protocol(url, "m", profile="tolerant"))
        strict = run(oip_v2.check_protocol(url, "m", profile="strict"))
    assert result.outcome == "passed", result.message
    assert any(n.startswith("GET /v2/health/live answered HTTP 404") for n in result.notes)
    assert any(n.startswith("GET /v2/models/m/ready answered HTTP 404") for n in result.notes)
    assert strict.outcome == "failed"
    assert "GET /v2/health/live answered HTTP 404, not 200" in strict.message
    assert "GET /v2/models/m/ready answered HTTP 404, not 200" in strict.message


def test_the_tolerant_profile_still_requires_readiness() -> None:
    """[SRV-044] Under the tolerant profile, a server whose /v2/health/ready does not answer 200 fails."""
    without_ready = [(method, path, handler) for method, path, handler in CORRECT if path != "/v2/health/ready"]
    with serve(without_ready) as url:
        result = run(oip_v2.check_protocol(url, "m", profile="tolerant"))
    assert result.outcome == "failed"
    assert "GET /v2/health/ready answered HTTP 404, not 200" in result.message


def test_openai_answers_and_chunks_must_name_their_object() -> None:
    """[SRV-054] [SRV-055] A plain answer without `object` `chat.completion`, or chunks without
    `chat.completion.chunk`, fail the strict profile; the tolerant profile notes them."""
    with serve(openai_routes(break_stream=False, objects=False)) as url:  # neither answer nor chunks carry `object`
        result = run(openai.check_protocol(url, "llm"))
        tolerant = run(openai.check_protocol(url, "llm", profile="tolerant"))
    assert result.outcome == "failed"
    assert "a non-streamed answer has `object` None, not 'chat.completion'" in result.message
    assert "stream chunks have `object` None, not 'chat.completion.chunk'" in result.message
    assert tolerant.outcome == "passed", tolerant.message
    assert len(tolerant.notes) == 2


def test_the_tolerant_openai_profile_needs_only_inference() -> None:
    """[SRV-056] Without ``GET /v1/models`` an OpenAI server fails the strict profile and passes the tolerant one,
    which notes the missing list; a stream that errors after HTTP 200 fails the tolerant profile too."""
    with serve(openai_routes(break_stream=False)[1:]) as url:
        strict = run(openai.check_protocol(url, "llm"))
        tolerant = run(openai.check_protocol(url, "llm", profile="tolerant"))
    with serve(openai_routes(break_stream=True)[1:]) as url:
        broken = run(openai.check_protocol(url, "llm", profile="tolerant"))
    assert strict.outcome == "failed" and "GET /v1/models answered HTTP 404" in strict.message
    assert tolerant.outcome == "passed", tolerant.message
    assert tolerant.notes == ("GET /v1/models answered HTTP 404 without a data list",)
    assert broken.outcome == "failed" and "a stream failed after HTTP 200" in broken.message
