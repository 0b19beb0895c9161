"""The reference model server: a small real model behind the Open Inference Protocol v2 and an OpenAI-style API.

``churn-classifier`` (version ``1``, an MLP trained at startup from a fixed seed; numpy on CPU, PyTorch on CUDA
where available) answers ``POST /v2/models/churn-classifier[/versions/1]/infer`` with V2 tensors: input
``features`` FP32 ``[-1, 8]``; outputs ``probabilities`` FP32 ``[batch, 2]`` and ``label`` INT64 ``[batch]``.
Requests are batched dynamically: a batcher takes up to ``max_batch`` queued requests, waiting at most
``max_delay_ms`` after the oldest arrived, and runs them as one batch in a worker thread. ``aifabric-tiny-lm`` (a
seeded bigram model) answers ``POST /v1/chat/completions`` and ``/v1/completions``, streamed as server-sent events
with ``stream: true``.

Admission control: above ``capacity`` classifier requests in flight (or ``max_streams`` generations) the server
answers 429 at once, with ``Retry-After``; a request not answered within ``timeout`` seconds gets 503 with
``Retry-After``. Readiness (``/v2/health/ready``) is 503 until the warm-up (training, then a few batches of each
size) is done. Bad input gets 4xx with ``{"error": "..."}`` (OpenAI-style ``{"error": {"message", "type",
"code"}}`` under ``/v1``), never 5xx. ``GET /metrics`` has the counters in Prometheus text form. Needs the
``serving`` extra (aiohttp and numpy).

Examples:
    >>> import json, urllib.request
    >>> from aifabric.serving.server import ServerConfig, start
    >>> with start(ServerConfig(max_delay_ms=1)) as server:
    ...     warmup = server.wait_ready(timeout=60)
    ...     body = {"inputs": [{"name": "features", "datatype": "FP32", "shape": [1, 8], "data": [0.5] * 8}]}
    ...     request = urllib.request.Request(server.url + "/v2/models/churn-classifier/infer",
    ...                                      json.dumps(body).encode(), {"Content-Type": "application/json"})
    ...     with urllib.request.urlopen(request) as response:
    ...         answer = json.load(response)
    ...     print([(out["name"], out["datatype"], out["shape"]) for out in answer["outputs"]])
    ...     print(server.server.stats.batches >= 1)
    [('probabilities', 'FP32', [1, 2]), ('label', 'INT64', [1])]
    True
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import gc
import math
import os
import signal
import socket
import time
from collections.abc import Callable, Coroutine, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

try:
    import numpy as np
    from aiohttp import web
except ImportError as exc:  # pragma: no cover - the extra is part of the dev install
    raise ImportError("the model server needs aiohttp and numpy: pip install 'aifabric[serving]'") from exc

from aifabric._version import __version__
from aifabric._web import BackgroundServer, bind, run, serve_socket, url_of
from aifabric.serving._model import (
    CLASSES,
    CLASSIFIER,
    CLASSIFIER_VERSION,
    FEATURES,
    LM,
    Classifier,
    Device,
    TinyLM,
    evaluation_set,
    load_classifier,
    resolve_device,
)

__all__ = [
    "DEFAULT_PORT",
    "ModelServer",
    "RunningServer",
    "ServerConfig",
    "Stats",
    "serve",
    "start",
]

DEFAULT_PORT: Final = 8000
"""The port the model server listens on unless told otherwise (KServe's and vLLM's)."""

_JSON: Final = "application/json"
_INPUT: Final = "features"
_OUTPUTS: Final = ("probabilities", "label")
_CREATED: Final = 1_718_064_000  # the models' fixed creation time for /v1/models (2024-06-11)
_ROLES: Final = frozenset({"system", "developer", "user", "assistant", "tool"})
_DUMP: Final = orjson.OPT_SERIALIZE_NUMPY
_BUCKETS: Final = (1, 2, 4, 8, 16, 32, 64, 128, 256)


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerConfig:
    """How the model server batches, admits and bounds requests.

    Attributes:
        max_batch: the most classifier requests run as one batch (1: no batching).
        max_delay_ms: the longest the batcher waits for a batch to fill, after its oldest request arrived.
        capacity: the most classifier requests in flight (queued or running); more get 429 at once.
        max_streams: the most text generations in flight; more get 429 at once.
        timeout: seconds a request may wait for its answer before it gets 503.
        max_body: the largest request body accepted, in bytes; larger ones get 413.
        max_rows: the most rows one inference request may carry.
        max_tokens: the most tokens one completion may ask for.
        device: ``auto`` (CUDA when PyTorch sees a GPU, else CPU), ``cpu`` or ``cuda``.
        warmup_rounds: how many times the warm-up runs each batch size before the server is ready.
    """

    max_batch: int = 32
    max_delay_ms: float = 2.0
    capacity: int = 256
    max_streams: int = 64
    timeout: float = 2.0
    max_body: int = 1024 * 1024
    max_rows: int = 1024
    max_tokens: int = 512
    device: Device = "auto"
    warmup_rounds: int = 3

    def __post_init__(self) -> None:
        for name in ("max_batch", "capacity", "max_streams", "max_body", "max_rows", "max_tokens"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, not {getattr(self, name)}")
        if not self.max_delay_ms >= 0 or not self.timeout > 0 or self.warmup_rounds < 0:
            raise ValueError("max_delay_ms and warmup_rounds must be >= 0 and timeout > 0")


@dataclass(slots=True)
class Stats:
    """What the server has done since it started (read it from the server's thread, or after it stopped)."""

    batches: int = 0
    """Classifier batches run (warm-up excluded)."""
    batched_requests: int = 0
    """Classifier requests answered from those batches."""
    batch_sizes: collections.Counter[int] = field(default_factory=collections.Counter)
    """How many batches had each size (in requests)."""
    rejected: int = 0
    """Requests refused with 429 because the server was at capacity."""
    timed_out: int = 0
    """Requests answered 503 because their answer took longer than the timeout."""
    completions: int = 0
    """Text completions answered (streamed or not)."""
    warmup_seconds: float | None = None
    """How long the warm-up took (None until it is done)."""


class _BadRequestError(Exception):
    """A request refused with a status and a message (and, under /v1, an OpenAI error type, param and code)."""

    def __init__(self, message: str, *, status: int = 400, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.param = param
        self.code = code


@dataclass(slots=True)
class _Pending:
    rows: np.ndarray[Any, np.dtype[np.float32]]
    future: asyncio.Future[np.ndarray[Any, np.dtype[np.float32]]]
    arrived: float


@dataclass(frozen=True, slots=True)
class _Generation:
    prompt: str
    max_tokens: int
    temperature: float
    seed: int | None
    stream: bool
    include_usage: bool


def _json(value: Any, *, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(body=orjson.dumps(value, option=_DUMP), status=status, content_type=_JSON, headers=headers)


def _v2_error(message: str, status: int, headers: Mapping[str, str] | None = None) -> web.Response:
    return _json({"error": message}, status=status, headers=headers)


def _openai_error(
    message: str, status: int, *, kind: str | None = None, param: str | None = None, code: str | None = None
) -> web.Response:
    kinds = {401: "authentication_error", 404: "not_found_error", 429: "rate_limit_exceeded"}
    kind = kind or (kinds.get(status, "invalid_request_error") if status < 500 else "server_error")
    headers = {"Retry-After": "1"} if status in (429, 503) else None
    error = {"message": message, "type": kind, "param": param, "code": code}
    return _json({"error": error}, status=status, headers=headers)


class ModelServer:
    """The models, the batcher and the routes; :meth:`application` is the aiohttp app serving them.

    Args:
        config: batching, admission and limits (default: :class:`ServerConfig`'s defaults).
        classifier: a classifier to serve instead of training the built-in one (it takes ``[batch, 8]`` float32
            rows and returns ``[batch, 2]`` probabilities).

    Raises:
        ValueError: the device asked for is not available.
    """

    def __init__(self, config: ServerConfig | None = None, *, classifier: Classifier | None = None) -> None:
        self.config = config or ServerConfig()
        self.device = classifier.device if classifier is not None else resolve_device(self.config.device)
        self.stats = Stats()
        self._classifier = classifier
        self._lm = TinyLM()
        self._ready = False
        self._warmup_error: str | None = None
        self._in_flight = 0
        self._streams = 0
        self._pending: collections.deque[_Pending] = collections.deque()
        self._wake = asyncio.Event()
        self._full = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._executor: ThreadPoolExecutor | None = None

    @property
    def ready(self) -> bool:
        """Whether the warm-up is done and the server is not shutting down."""
        return self._ready

    def application(self) -> web.Application:
        """The aiohttp application serving the routes; it warms up and batches while it runs."""
        app = web.Application(client_max_size=self.config.max_body, middlewares=[self._errors])
        model = "/v2/models/{name}"
        version = "/v2/models/{name}/versions/{version}"
        app.add_routes(
            [
                web.get("/v2/health/live", self._live),
                web.get("/v2/health/ready", self._server_ready),
                web.get("/v2", self._server_metadata),
                web.get(model, self._model_metadata),
                web.get(version, self._model_metadata),
                web.get(model + "/ready", self._model_ready),
                web.get(version + "/ready", self._model_ready),
                web.post(model + "/infer", self._infer),
                web.post(version + "/infer", self._infer),
                web.get("/v1/models", self._models),
                web.post("/v1/chat/completions", self._chat),
                web.post("/v1/completions", self._completions),
                web.get("/metrics", self._metrics),
            ]
        )
        app.on_startup.append(self._start)
        app.on_shutdown.append(self._stop_admitting)
        app.on_cleanup.append(self._cleanup)
        return app

    # --- lifecycle ---------------------------------------------------------------------------------------------

    async def _start(self, _: web.Application) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="aifabric-model")
        self._wake, self._full = asyncio.Event(), asyncio.Event()
        self._tasks = [asyncio.create_task(self._warm_up()), asyncio.create_task(self._batch_loop())]

    async def _stop_admitting(self, _: web.Application) -> None:
        self._ready = False  # readiness goes 503 while the requests in flight finish

    async def _cleanup(self, _: web.Application) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for pending in self._pending:
            pending.future.cancel()
        if self._executor is not None:
            self._executor.shutdown(wait=True)

    async def _run(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def _warm_up(self) -> None:
        """Train (or take) the classifier, run each batch size through it, then turn ready."""
        started = time.perf_counter()
        try:
            if self._classifier is None:
                self._classifier = await self._run(load_classifier, self.device)
            rows = evaluation_set().inputs
            sizes = sorted({1, self.config.max_batch, *(2**n for n in range(1, 12) if 2**n < self.config.max_batch)})
            for _ in range(self.config.warmup_rounds):
                for size in sizes:
                    await self._run(self._classifier.predict, np.resize(rows, (size, FEATURES)))
            "".join(self._lm.generate("warm up", max_tokens=8, temperature=0.0, seed=0))
        except Exception as exc:  # noqa: BLE001 - the server stays unready and says why
            self._warmup_error = f"the warm-up failed: {type(exc).__name__}: {exc}"
            return
        self.stats.warmup_seconds = time.perf_counter() - started
        self._ready = True

    # --- batching ----------------------------------------------------------------------------------------------

    async def _batch_loop(self) -> None:
        loop = asyncio.get_running_loop()
        delay = self.config.max_delay_ms / 1000
        limit = self.config.max_batch
        while True:
            while not self._pending:
                self._wake.clear()
                await self._wake.wait()
            remaining = self._pending[0].arrived + delay - loop.time()
            if len(self._pending) < limit and remaining > 0:
                self._full.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(remaining):
                        await self._full.wait()
            batch: list[_Pending] = []
            while self._pending and len(batch) < limit:
                pending = self._pending.popleft()
                if not pending.future.done():  # not timed out meanwhile
                    batch.append(pending)
            if batch:
                await self._run_batch(batch)

    async def _run_batch(self, batch: list[_Pending]) -> None:
        assert self._classifier is not None
        rows = batch[0].rows if len(batch) == 1 else np.concatenate([p.rows for p in batch])
        try:
            probs = await self._run(self._classifier.predict, rows)
        except Exception as exc:  # noqa: BLE001 - every request of the batch gets the failure
            for pending in batch:
                if not pending.future.done():
                    pending.future.set_exception(exc)
            return
        self.stats.batches += 1
        self.stats.batched_requests += len(batch)
        self.stats.batch_sizes[len(batch)] += 1
        start = 0
        for pending in batch:
            end = start + len(pending.rows)
            if not pending.future.done():
                pending.future.set_result(probs[start:end])
            start = end

    # --- Open Inference Protocol v2 ----------------------------------------------------------------------------

    def _not_ready(self) -> web.Response:
        message = self._warmup_error or "the model is warming up"
        return _v2_error(message, 503, {"Retry-After": "1"})

    def _check_model(self, request: web.Request) -> None:
        name, version = request.match_info["name"], request.match_info.get("version")
        if name != CLASSIFIER:
            raise _BadRequestError(f"unknown model {name!r}: this server has {CLASSIFIER!r}", status=404)
        if version is not None and version != CLASSIFIER_VERSION:
            message = f"model {name!r} has no version {version!r}: it has {CLASSIFIER_VERSION!r}"
            raise _BadRequestError(message, status=404)

    async def _live(self, _: web.Request) -> web.Response:
        return _json({"live": True})

    async def _server_ready(self, _: web.Request) -> web.Response:
        return _json({"ready": self._ready}, status=200 if self._ready else 503)

    async def _server_metadata(self, _: web.Request) -> web.Response:
        return _json({"name": "aifabric-model-server", "version": __version__, "extensions": []})

    async def _model_metadata(self, request: web.Request) -> web.Response:
        self._check_model(request)
        return _json(
            {
                "name": CLASSIFIER,
                "versions": [CLASSIFIER_VERSION],
                "platform": "pytorch" if self.device == "cuda" else "numpy",
                "inputs": [{"name": _INPUT, "datatype": "FP32", "shape": [-1, FEATURES]}],
                "outputs": [
                    {"name": "probabilities", "datatype": "FP32", "shape": [-1, CLASSES]},
                    {"name": "label", "datatype": "INT64", "shape": [-1]},
                ],
            }
        )

    async def _model_ready(self, request: web.Request) -> web.Response:
        self._check_model(request)
        return _json({"name": CLASSIFIER, "ready": self._ready}, status=200 if self._ready else 503)

    async def _infer(self, request: web.Request) -> web.Response:
        self._check_model(request)
        if not self._ready:
            return self._not_ready()
        if self._in_flight >= self.config.capacity:
            self.stats.rejected += 1
            message = f"the server is at capacity ({self.config.capacity} requests in flight): retry later"
            return _v2_error(message, 429, {"Retry-After": "1"})
        self._in_flight += 1
        try:
            body = await _read_json(request)
            rows, request_id, wanted = _parse_infer(body, self.config.max_rows)
            loop = asyncio.get_running_loop()
            pending = _Pending(rows, loop.create_future(), loop.time())
            self._pending.append(pending)
            self._wake.set()
            if len(self._pending) >= self.config.max_batch:
                self._full.set()
            try:
                async with asyncio.timeout(self.config.timeout):
                    probs = await pending.future
            except TimeoutError:
                self.stats.timed_out += 1
                message = f"no answer within {self.config.timeout:g} s: the server is overloaded, retry later"
                return _v2_error(message, 503, {"Retry-After": "1"})
        finally:
            self._in_flight -= 1
        tensors = {
            "probabilities": {"name": "probabilities", "datatype": "FP32", "shape": list(probs.shape), "data": probs},
            "label": {
                "name": "label",
                "datatype": "INT64",
                "shape": [len(probs)],
                "data": probs.argmax(axis=1).astype(np.int64),
            },
        }
        for tensor in tensors.values():
            tensor["data"] = np.ascontiguousarray(tensor["data"]).ravel()
        answer: dict[str, Any] = {"model_name": CLASSIFIER, "model_version": CLASSIFIER_VERSION}
        if request_id is not None:
            answer["id"] = request_id
        answer["outputs"] = [tensors[name] for name in wanted]
        return _json(answer)

    # --- OpenAI-compatible -------------------------------------------------------------------------------------

    async def _models(self, _: web.Request) -> web.Response:
        models = [{"id": LM, "object": "model", "created": _CREATED, "owned_by": "aifabric"}]
        return _json({"object": "list", "data": models})

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        return await self._complete(request, chat=True)

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        return await self._complete(request, chat=False)

    async def _complete(self, request: web.Request, *, chat: bool) -> web.StreamResponse:
        if not self._ready:
            return _openai_error(self._warmup_error or "the model is warming up", 503, code="not_ready")
        if self._streams >= self.config.max_streams:
            self.stats.rejected += 1
            message = f"the server is at capacity ({self.config.max_streams} generations in flight): retry later"
            return _openai_error(message, 429, code="rate_limit_exceeded")
        self._streams += 1
        try:
            body = await _read_json(request)
            job = _parse_openai(body, chat=chat, max_tokens=self.config.max_tokens)
            prompt_tokens = len(self._lm.tokens(job.prompt))
            pieces = self._lm.generate(
                job.prompt, max_tokens=job.max_tokens, temperature=job.temperature, seed=job.seed
            )
            ident = ("chatcmpl-" if chat else "cmpl-") + os.urandom(12).hex()
            head = {
                "id": ident,
                "object": ("chat.completion" if chat else "text_completion")
                + (".chunk" if chat and job.stream else ""),
                "created": int(time.time()),
                "model": LM,
            }
            if job.stream:
                return await self._stream(request, head, pieces, chat=chat, job=job, prompt_tokens=prompt_tokens)
            try:
                async with asyncio.timeout(self.config.timeout):
                    text_pieces: list[str] = await asyncio.get_running_loop().run_in_executor(None, list, pieces)
            except TimeoutError:
                self.stats.timed_out += 1
                return _openai_error(f"no answer within {self.config.timeout:g} s", 503, code="timeout")
            text = "".join(text_pieces)
            finish = "stop" if text.endswith(".") else "length"
            choice: dict[str, Any] = {"index": 0}
            if chat:
                choice["message"] = {"role": "assistant", "content": text.lstrip()}
            else:
                choice["text"] = text
            choice |= {"logprobs": None, "finish_reason": finish}
            usage = _usage(prompt_tokens, len(text_pieces))
            self.stats.completions += 1
            return _json({**head, "choices": [choice], "usage": usage})
        finally:
            self._streams -= 1

    async def _stream(
        self,
        request: web.Request,
        head: dict[str, Any],
        pieces: Any,
        *,
        chat: bool,
        job: _Generation,
        prompt_tokens: int,
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)

        def event(choice: dict[str, Any], **extra: Any) -> bytes:
            return b"data: " + orjson.dumps({**head, "choices": [choice], **extra}) + b"\n\n"

        if chat:
            await response.write(
                event({"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None})
            )
        count, last = 0, ""
        for piece in pieces:
            text = piece.lstrip() if chat and count == 0 else piece
            count, last = count + 1, piece
            if chat:
                choice = {"index": 0, "delta": {"content": text}, "logprobs": None, "finish_reason": None}
            else:
                choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": None}
            await response.write(event(choice))
        finish = "stop" if last == "." else "length"
        final = {"index": 0, "delta": {}} if chat else {"index": 0, "text": ""}
        await response.write(event({**final, "logprobs": None, "finish_reason": finish}))
        if job.include_usage:
            usage_event = {**head, "choices": [], "usage": _usage(prompt_tokens, count)}
            await response.write(b"data: " + orjson.dumps(usage_event) + b"\n\n")
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        self.stats.completions += 1
        return response

    # --- metrics and errors ------------------------------------------------------------------------------------

    async def _metrics(self, _: web.Request) -> web.Response:
        s = self.stats
        lines = [
            "# HELP aifabric_serving_ready Whether the server is ready (warm-up done, not shutting down).",
            "# TYPE aifabric_serving_ready gauge",
            f"aifabric_serving_ready {int(self._ready)}",
            "# HELP aifabric_serving_warmup_seconds How long the warm-up took.",
            "# TYPE aifabric_serving_warmup_seconds gauge",
            f"aifabric_serving_warmup_seconds {s.warmup_seconds or 0.0:.6f}",
            "# HELP aifabric_serving_in_flight Classifier requests queued or running.",
            "# TYPE aifabric_serving_in_flight gauge",
            f"aifabric_serving_in_flight {self._in_flight}",
            "# HELP aifabric_serving_capacity The most classifier requests in flight before 429.",
            "# TYPE aifabric_serving_capacity gauge",
            f"aifabric_serving_capacity {self.config.capacity}",
            "# HELP aifabric_serving_rejected_total Requests refused with 429 at capacity.",
            "# TYPE aifabric_serving_rejected_total counter",
            f"aifabric_serving_rejected_total {s.rejected}",
            "# HELP aifabric_serving_timed_out_total Requests answered 503 after the timeout.",
            "# TYPE aifabric_serving_timed_out_total counter",
            f"aifabric_serving_timed_out_total {s.timed_out}",
            "# HELP aifabric_serving_completions_total Text completions answered.",
            "# TYPE aifabric_serving_completions_total counter",
            f"aifabric_serving_completions_total {s.completions}",
            "# HELP aifabric_serving_batch_size Requests in each classifier batch.",
            "# TYPE aifabric_serving_batch_size histogram",
        ]
        for bound in _BUCKETS:
            below = sum(n for size, n in s.batch_sizes.items() if size <= bound)
            lines.append(f'aifabric_serving_batch_size_bucket{{le="{bound}"}} {below}')
        lines += [
            f'aifabric_serving_batch_size_bucket{{le="+Inf"}} {s.batches}',
            f"aifabric_serving_batch_size_sum {s.batched_requests}",
            f"aifabric_serving_batch_size_count {s.batches}",
        ]
        return web.Response(text="\n".join(lines) + "\n", content_type="text/plain", charset="utf-8")

    @web.middleware
    async def _errors(
        self, request: web.Request, handler: Callable[[web.Request], Any]
    ) -> web.StreamResponse:  # the one place errors become JSON answers
        openai = request.path.startswith("/v1/")
        try:
            response: web.StreamResponse = await handler(request)
        except _BadRequestError as exc:
            if openai:
                return _openai_error(exc.message, exc.status, param=exc.param, code=exc.code)
            return _v2_error(exc.message, exc.status)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            message = exc.text if exc.text and not exc.text.startswith(f"{exc.status}:") else exc.reason
            headers = {k: v for k, v in exc.headers.items() if k.lower() in ("allow", "retry-after")}
            if openai:
                error = _openai_error(message, exc.status)
                error.headers.update(headers)
                return error
            return _v2_error(message, exc.status, headers)
        return response


def _usage(prompt: int, completion: int) -> dict[str, int]:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


# --- request parsing ---------------------------------------------------------------------------------------------


async def _read_json(request: web.Request) -> bytes:
    """The body of a JSON request (no content type counts as JSON).

    Raises:
        _BadRequestError: another content type (415).
        web.HTTPRequestEntityTooLarge: a body over the limit (413).
    """
    mime = request.headers.get("Content-Type", _JSON).partition(";")[0].strip().lower()
    if mime != _JSON and not (mime.startswith("application/") and mime.endswith("+json")):
        raise _BadRequestError(f"content type {mime!r} is not accepted: send {_JSON}", status=415)
    return await request.read()


def _load(body: bytes) -> dict[str, Any]:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise _BadRequestError(f"the body is not JSON: {exc}", code="invalid_json") from None
    if not isinstance(doc, dict):
        raise _BadRequestError("the body must be a JSON object", code="invalid_json")
    return doc


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _parse_infer(body: bytes, max_rows: int) -> tuple[np.ndarray[Any, np.dtype[np.float32]], str | None, list[str]]:
    """The rows, request id and wanted outputs of a V2 inference request.

    Raises:
        _BadRequestError: the request is malformed or does not fit the model.
    """
    doc = _load(body)
    request_id = doc.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise _BadRequestError("'id' must be a string")
    if not isinstance(doc.get("parameters", {}), dict):
        raise _BadRequestError("'parameters' must be an object")
    inputs = doc.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise _BadRequestError("'inputs' must be a non-empty array of tensors")
    if len(inputs) != 1:
        raise _BadRequestError(f"the model takes one input, {_INPUT!r}, not {len(inputs)}")
    tensor = inputs[0]
    if not isinstance(tensor, dict):
        raise _BadRequestError("each input must be an object with name, shape, datatype and data")
    if tensor.get("name") != _INPUT:
        raise _BadRequestError(f"unknown input {tensor.get('name')!r}: the model's input is {_INPUT!r}")
    if tensor.get("datatype") != "FP32":
        raise _BadRequestError(f"input {_INPUT!r} has datatype FP32, not {tensor.get('datatype')!r}")
    shape = tensor.get("shape")
    if not (isinstance(shape, list) and len(shape) == 2 and all(_is_int(n) for n in shape) and shape[1] == FEATURES):
        raise _BadRequestError(f"input {_INPUT!r} has shape [batch, {FEATURES}], not {shape!r}")
    if not 1 <= shape[0] <= max_rows:
        raise _BadRequestError(f"the batch must have 1 to {max_rows} rows, not {shape[0]}")
    if not isinstance(tensor.get("parameters", {}), dict):
        raise _BadRequestError("'parameters' must be an object")
    rows = _rows(tensor.get("data"), shape[0])
    wanted = list(_OUTPUTS)
    outputs = doc.get("outputs")
    if outputs is not None:
        if not isinstance(outputs, list) or not all(isinstance(o, dict) for o in outputs):
            raise _BadRequestError("'outputs' must be an array of objects with a name")
        wanted = [o.get("name") for o in outputs]
        unknown = [name for name in wanted if name not in _OUTPUTS]
        if unknown or not wanted:
            raise _BadRequestError(f"unknown outputs {unknown!r}: the model's outputs are {list(_OUTPUTS)!r}")
    return rows, request_id, wanted


def _rows(data: Any, batch: int) -> np.ndarray[Any, np.dtype[np.float32]]:
    """The ``[batch, FEATURES]`` array of a tensor's data, flat (row-major) or nested by row."""
    if not isinstance(data, list):
        raise _BadRequestError(f"the data of {_INPUT!r} must be an array of numbers")
    if data and isinstance(data[0], list):
        if len(data) != batch or not all(isinstance(row, list) and len(row) == FEATURES for row in data):
            raise _BadRequestError(f"nested data must be {batch} rows of {FEATURES} numbers")
        flat = [value for row in data for value in row]
    else:
        flat = data
    if len(flat) != batch * FEATURES:
        raise _BadRequestError(f"shape [{batch}, {FEATURES}] needs {batch * FEATURES} numbers, not {len(flat)}")
    if not all(_is_number(value) for value in flat):
        raise _BadRequestError(f"the data of {_INPUT!r} must be numbers (FP32)")
    try:
        values = np.array(flat, dtype=np.float64)
    except OverflowError:
        values = np.array([math.inf])
    if not np.isfinite(values).all() or np.abs(values).max() > np.finfo(np.float32).max:
        raise _BadRequestError(f"the data of {_INPUT!r} must be finite FP32 numbers")
    return values.astype(np.float32).reshape(batch, FEATURES)


def _parse_openai(body: bytes, *, chat: bool, max_tokens: int) -> _Generation:
    """The generation an OpenAI chat or completions request asks for.

    Raises:
        _BadRequestError: the request is malformed, or names another model (404).
    """
    doc = _load(body)
    model = doc.get("model")
    if not isinstance(model, str):
        raise _BadRequestError("'model' is required and must be a string", param="model")
    if model != LM:
        raise _BadRequestError(
            f"the model {model!r} does not exist: this server has {LM!r}",
            status=404,
            param="model",
            code="model_not_found",
        )
    if chat:
        prompt = _messages(doc.get("messages"))
    else:
        raw = doc.get("prompt")
        if isinstance(raw, list) and len(raw) == 1:
            raw = raw[0]
        if not isinstance(raw, str):
            raise _BadRequestError("'prompt' must be a string (or an array of one string)", param="prompt")
        prompt = raw
    name = "max_completion_tokens" if chat and "max_completion_tokens" in doc else "max_tokens"
    limit = doc.get(name)
    if limit is None:
        limit = min(64 if chat else 16, max_tokens)
    if not _is_int(limit) or not 1 <= limit <= max_tokens:
        raise _BadRequestError(f"'{name}' must be an integer from 1 to {max_tokens}", param=name)
    temperature = doc.get("temperature")
    temperature = 1.0 if temperature is None else temperature
    if not _is_number(temperature) or not 0 <= temperature <= 2:
        raise _BadRequestError("'temperature' must be a number from 0 to 2", param="temperature")
    seed = doc.get("seed")
    if seed is not None and (not _is_int(seed) or not 0 <= seed < 2**63):
        raise _BadRequestError("'seed' must be a non-negative integer", param="seed")
    n = doc.get("n")
    if n is not None and n != 1:
        raise _BadRequestError("'n' must be 1: this server makes one choice per request", param="n")
    stream = doc.get("stream", False)
    if not isinstance(stream, bool | None):
        raise _BadRequestError("'stream' must be a boolean", param="stream")
    options = doc.get("stream_options")
    if options is not None and not (
        isinstance(options, dict) and isinstance(options.get("include_usage", False), bool)
    ):
        raise _BadRequestError(
            "'stream_options' must be an object with a boolean include_usage", param="stream_options"
        )
    include_usage = bool(stream and options and options.get("include_usage"))
    return _Generation(prompt, limit, float(temperature), seed, bool(stream), include_usage)


def _messages(messages: Any) -> str:
    """The prompt a chat's messages make: their text contents, one a line."""
    if not isinstance(messages, list) or not messages:
        raise _BadRequestError("'messages' must be a non-empty array", param="messages")
    texts: list[str] = []
    for n, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in _ROLES:
            raise _BadRequestError(f"messages[{n}] must be an object with a role in {sorted(_ROLES)}", param="messages")
        content = message.get("content")
        if content is None and message["role"] != "assistant":
            raise _BadRequestError(f"messages[{n}] needs a content", param="messages")
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            for part in content:
                if not (isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str)):
                    raise _BadRequestError(f"messages[{n}].content parts must be text parts", param="messages")
                texts.append(part["text"])
        elif content is not None:
            raise _BadRequestError(f"messages[{n}].content must be a string or an array of parts", param="messages")
    return "\n".join(texts)


# --- running it --------------------------------------------------------------------------------------------------


class RunningServer(BackgroundServer):
    """A model server serving from a background thread; stop it, or use it as a context manager."""

    def __init__(self, server: ModelServer, sock: socket.socket) -> None:
        self.server = server

        def run(ready: Callable[[], None], stop: asyncio.Event) -> Coroutine[Any, Any, None]:
            return serve_socket(server.application(), sock, ready, stop, shutdown_timeout=10.0, backlog=1024)

        super().__init__(run, sock, name="aifabric-model-server")

    def wait_ready(self, *, timeout: float = 60.0) -> float:
        """Block until the warm-up is done; return how long it took (seconds).

        Raises:
            TimeoutError: the server is not ready within ``timeout`` seconds (or its warm-up failed).
        """
        deadline = time.monotonic() + timeout
        while not self.server.ready:
            if self.server._warmup_error is not None or time.monotonic() > deadline:
                raise TimeoutError(self.server._warmup_error or f"the model server is not ready after {timeout} s")
            time.sleep(0.01)
        assert self.server.stats.warmup_seconds is not None
        return self.server.stats.warmup_seconds


def start(
    config: ServerConfig | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    classifier: Classifier | None = None,
) -> RunningServer:
    """Serve the models from a background thread (port 0: a free port; see ``.url``); it warms up meanwhile.

    Raises:
        ValueError: the device asked for is not available.
        OSError: the address cannot be bound.
    """
    server = ModelServer(config, classifier=classifier)
    return RunningServer(server, bind(host, port))


def serve(
    config: ServerConfig | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    ready: Callable[[str], None] | None = None,
) -> None:
    """Serve the models in the foreground until SIGINT or SIGTERM; ``ready`` is called with the URL once listening.

    Raises:
        ValueError: the device asked for is not available.
        OSError: the address cannot be bound.
    """
    server = ModelServer(config)
    sock = bind(host, port)
    url = url_of(sock)

    async def main() -> None:
        gc.freeze()  # the models and modules loaded so far are never collected: keep them out of the collector's way
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await serve_socket(
            server.application(), sock, lambda: ready(url) if ready else None, stop, shutdown_timeout=10.0, backlog=1024
        )

    run(main())
