"""What aifabric's aiohttp servers and clients share: an event loop, binding, serving a socket, a background thread."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, Self, TypeVar

if TYPE_CHECKING:
    from aiohttp import web

_T = TypeVar("_T")


def run(main: Coroutine[Any, Any, _T]) -> _T:
    """``asyncio.run(main)``, on uvloop when it is installed (the ``serving`` extra has it): a quarter less CPU."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is installed wherever the tests run
        return asyncio.run(main)
    return uvloop.run(main)


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (port 0: any free port), IPv6 when the host has a colon."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family)


def url_of(sock: socket.socket) -> str:
    """The base URL of a listening socket, such as ``http://127.0.0.1:5000``."""
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


async def serve_socket(
    app: web.Application,
    sock: socket.socket,
    ready: Callable[[], None],
    stop: asyncio.Event,
    *,
    shutdown_timeout: float = 60.0,
    backlog: int = 128,
) -> None:
    """Serve ``app`` on ``sock``; call ``ready`` once listening; return, after a graceful shutdown, once ``stop``."""
    from aiohttp import web

    runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=shutdown_timeout)
    await runner.setup()
    try:
        site = web.SockSite(runner, sock, backlog=backlog)
        await site.start()
        ready()
        await stop.wait()
    finally:
        await runner.cleanup()


class BackgroundServer:
    """Runs a serving coroutine on its own event loop in a daemon thread; stop it, or use it as a context manager.

    ``run(ready, stop)`` must call ``ready()`` once listening and return after ``stop`` is set; an error before
    ``ready`` is raised in the starting thread.
    """

    def __init__(
        self,
        run: Callable[[Callable[[], None], asyncio.Event], Coroutine[Any, Any, None]],
        sock: socket.socket,
        *,
        name: str,
        on_stop: Callable[[], None] | None = None,
    ) -> None:
        self.url = url_of(sock)
        """The base URL, such as ``http://127.0.0.1:5000``."""
        self._run = run
        self._on_stop = on_stop
        self._loop = asyncio.new_event_loop()
        self._stop = asyncio.Event()
        self._ready = threading.Event()
        self._errors: list[BaseException] = []
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._errors:
            self._thread.join()
            if on_stop is not None:
                on_stop()
            raise self._errors[0]

    def _main(self) -> None:
        try:
            self._loop.run_until_complete(self._run(self._ready.set, self._stop))
        except BaseException as exc:  # noqa: BLE001 - handed to the starting thread
            self._errors.append(exc)
        finally:
            self._ready.set()
            self._loop.close()

    def stop(self) -> None:
        """Stop serving and wait for the thread (idempotent)."""
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join()
            if self._on_stop is not None:
                self._on_stop()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
