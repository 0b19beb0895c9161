"""``aifabric serve model``: run the reference model server (Open Inference Protocol v2 and OpenAI-compatible)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from aifabric._cli._common import exiter

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["register"]


def register(serve_app: typer.Typer, *, fail: Callable[[str, int], Any]) -> None:
    """Add ``model`` to the ``serve`` command group."""
    die = exiter(fail)

    @serve_app.command("model")
    def serve_model(
        host: Annotated[str, typer.Option(help="The address to listen on.")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="The port to listen on (0: any free port).", min=0, max=65535)] = 8000,
        max_batch: Annotated[
            int, typer.Option("--max-batch", help="The most requests run as one batch (1: no batching).", min=1)
        ] = 32,
        max_delay_ms: Annotated[
            float,
            typer.Option("--max-delay-ms", help="The longest a batch waits to fill, in milliseconds.", min=0.0),
        ] = 2.0,
        capacity: Annotated[
            int, typer.Option(help="The most classifier requests in flight; more get 429 with Retry-After.", min=1)
        ] = 256,
        max_streams: Annotated[
            int, typer.Option("--max-streams", help="The most text generations in flight; more get 429.", min=1)
        ] = 64,
        timeout: Annotated[
            float, typer.Option(help="Seconds a request may wait for its answer before it gets 503.", min=0.001)
        ] = 2.0,
        device: Annotated[str, typer.Option(help="auto (CUDA when PyTorch sees a GPU), cpu or cuda.")] = "auto",
    ) -> None:
        """Run the reference model server (churn-classifier on OIP v2, aifabric-tiny-lm on /v1) until interrupted."""
        if device not in ("auto", "cpu", "cuda"):
            die(f"unknown device {device!r}: use auto, cpu or cuda", 2)
        try:
            from aifabric.serving.server import ServerConfig, serve
        except ImportError as exc:
            die(str(exc), 2)
        config = ServerConfig(
            max_batch=max_batch,
            max_delay_ms=max_delay_ms,
            capacity=capacity,
            max_streams=max_streams,
            timeout=timeout,
            device=device,  # type: ignore[arg-type]  # checked above
        )

        def ready(url: str) -> None:
            print(
                f"aifabric model server listening on {url} (max batch {max_batch}, capacity {capacity}); "
                "warming up: see /v2/health/ready",
                file=sys.stderr,
                flush=True,
            )

        try:
            serve(config, host=host, port=port, ready=ready)
        except ValueError as exc:
            die(str(exc), 2)
        except OSError as exc:
            die(f"cannot listen on {host}:{port}: {exc.strerror or exc}", 1)
