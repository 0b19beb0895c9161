"""A broken model server that, above its capacity, holds requests until the client gives up instead of refusing.

It speaks the Open Inference Protocol v2 like aifabric's reference model server (``GET /v2/health/live``,
``/v2/health/ready``, ``/v2``, ``/v2/models/churn-classifier[/versions/1]`` and ``.../ready``; ``POST
.../infer`` with input ``features`` FP32 ``[-1, 8]`` and outputs ``probabilities`` FP32 ``[n, 2]`` and ``label``
INT64 ``[n]``), and answers like a model while at most ``--capacity`` requests are in flight. A request beyond
that gets no answer at all, neither 429 nor 503: it is held open until the client times out and disconnects. A
suite MUST fail it on SRV-045 (the ``overload`` check: above capacity, an answer within ``maxResponseMs``, a
success or a refusal with the contract's statuses; an endpoint MUST NOT let requests time out silently).

Run it with ``python conformance/fakes/timeout_model_server.py [--port N] [--capacity 4] [--service-ms 20]``; it
prints ``listening on <url>`` on stdout once it serves, and stops on SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
from typing import Any

from _http import serve
from aiohttp import web

MODEL = "churn-classifier"
VERSION = "1"
FEATURES = 8


def _json(value: Any, status: int = 200) -> web.Response:
    return web.json_response(value, status=status)


class TimeoutModelServer:
    """The OIP v2 application; ``held`` counts the requests above capacity it never answered."""

    def __init__(self, *, capacity: int = 4, service_ms: float = 20.0, hold_s: float = 3600.0) -> None:
        self.capacity = capacity
        self.service_s = service_ms / 1000
        self.hold_s = hold_s
        self.in_flight = 0
        self.answered = 0
        self.held = 0

    def application(self) -> web.Application:
        """The aiohttp application."""
        app = web.Application()
        model, version = f"/v2/models/{MODEL}", f"/v2/models/{MODEL}/versions/{VERSION}"
        app.add_routes(
            [
                web.get("/v2/health/live", self._live),
                web.get("/v2/health/ready", self._ready),
                web.get("/v2", self._server_metadata),
                web.get(model, self._model_metadata),
                web.get(version, self._model_metadata),
                web.get(model + "/ready", self._model_ready),
                web.get(version + "/ready", self._model_ready),
                web.post(model + "/infer", self._infer),
                web.post(version + "/infer", self._infer),
            ]
        )
        return app

    async def _live(self, _: web.Request) -> web.Response:
        return _json({"live": True})

    async def _ready(self, _: web.Request) -> web.Response:
        return _json({"ready": True})

    async def _server_metadata(self, _: web.Request) -> web.Response:
        return _json({"name": "fake-timeout-model-server", "version": "0.0.0", "extensions": []})

    async def _model_metadata(self, _: web.Request) -> web.Response:
        return _json(
            {
                "name": MODEL,
                "versions": [VERSION],
                "platform": "python",
                "inputs": [{"name": "features", "datatype": "FP32", "shape": [-1, FEATURES]}],
                "outputs": [
                    {"name": "probabilities", "datatype": "FP32", "shape": [-1, 2]},
                    {"name": "label", "datatype": "INT64", "shape": [-1]},
                ],
            }
        )

    async def _model_ready(self, _: web.Request) -> web.Response:
        return _json({"name": MODEL, "ready": True})

    async def _infer(self, request: web.Request) -> web.StreamResponse:
        if self.in_flight >= self.capacity:
            # BROKEN ON PURPOSE: no 429 or 503; the request waits until the client gives up (SRV-045).
            self.held += 1
            loop = asyncio.get_running_loop()
            deadline = loop.time() + self.hold_s
            while loop.time() < deadline and request.transport is not None and not request.transport.is_closing():
                await asyncio.sleep(0.05)
            return web.Response(status=504)
        self.in_flight += 1
        try:
            try:
                body = json.loads(await request.read())
                rows = _rows(body)
            except (ValueError, KeyError, TypeError) as exc:
                return _json({"error": f"bad request: {exc}"}, status=400)
            await asyncio.sleep(self.service_s)
            probabilities = [_score(row) for row in rows]
            self.answered += 1
            answer: dict[str, Any] = {
                "model_name": MODEL,
                "model_version": VERSION,
                "outputs": [
                    {
                        "name": "probabilities",
                        "datatype": "FP32",
                        "shape": [len(rows), 2],
                        "data": [x for p in probabilities for x in p],
                    },
                    {
                        "name": "label",
                        "datatype": "INT64",
                        "shape": [len(rows)],
                        "data": [int(p[1] > p[0]) for p in probabilities],
                    },
                ],
            }
            if isinstance(body.get("id"), str):
                answer["id"] = body["id"]
            return _json(answer)
        finally:
            self.in_flight -= 1


def _rows(body: Any) -> list[list[float]]:
    (tensor,) = [t for t in body["inputs"] if t["name"] == "features"]
    shape, data = tensor["shape"], tensor["data"]
    if tensor["datatype"] != "FP32" or len(shape) != 2 or shape[1] != FEATURES or len(data) != shape[0] * FEATURES:
        raise ValueError(f"features must be FP32 [n, {FEATURES}] with n * {FEATURES} values")
    values = [float(x) for x in data]
    return [values[i : i + FEATURES] for i in range(0, len(values), FEATURES)]


def _score(row: list[float]) -> tuple[float, float]:
    churn = 1 / (1 + math.exp(-max(-50.0, min(50.0, sum(row) / FEATURES - 0.5))))
    return 1 - churn, churn


def main(argv: list[str] | None = None) -> int:
    """Serve until SIGINT or SIGTERM."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: a free port (printed)")
    parser.add_argument("--capacity", type=int, default=4, help="requests in flight answered (default 4)")
    parser.add_argument("--service-ms", type=float, default=20.0, help="time each answered request takes")
    args = parser.parse_args(argv)
    server = TimeoutModelServer(capacity=args.capacity, service_ms=args.service_ms)
    serve(server.application(), args.host, args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
