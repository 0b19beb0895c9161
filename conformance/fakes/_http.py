"""What the HTTP fakes in this folder share: serving an aiohttp app until SIGINT or SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import socket

from aiohttp import web

from aifabric._web import serve_socket, url_of

__all__ = ["serve"]


def serve(app: web.Application, host: str, port: int) -> None:
    """Serve ``app`` on ``host:port`` (0: a free port), print ``listening on <url>`` once serving, stop on a signal."""
    sock = socket.create_server((host, port))

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await serve_socket(app, sock, lambda: print(f"listening on {url_of(sock)}", flush=True), stop)

    asyncio.run(main())
