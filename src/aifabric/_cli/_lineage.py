"""``aifabric serve collector`` and ``aifabric lineage emit|tail|graph``: run and talk to a lineage collector."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Final, NoReturn

import typer

from aifabric._cli._common import exiter

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["register"]

DEFAULT_URL: Final = "http://127.0.0.1:5000"
URL_ENV: Final = "AIFABRIC_LINEAGE_URL"  # the variable the SDK's HTTP transport reads (aifabric.lineage.config)
_TIMEOUT: Final = 30.0

UrlOption = Annotated[
    str,
    typer.Option(
        "--url",
        envvar=URL_ENV,
        help=f"The collector's base URL (default: ${URL_ENV}, else {DEFAULT_URL}).",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def register(
    app: typer.Typer,
    serve_app: typer.Typer | None = None,
    *,
    fail: Callable[[str, int], Any],
    dump: Callable[[Any], None],
    registry_with: Callable[[list[Path]], Any],
) -> None:
    """Add ``serve collector`` (to ``serve_app``, made and added as ``serve`` when not given) and ``lineage``."""
    if serve_app is None:
        serve_app = typer.Typer(help="Run aifabric's reference servers.", no_args_is_help=True)
        app.add_typer(serve_app, name="serve")
    lineage_app = typer.Typer(help="Send lineage events to a collector and query it.", no_args_is_help=True)
    app.add_typer(lineage_app, name="lineage")

    die = exiter(fail)

    @serve_app.command("collector")
    def serve_collector(
        host: Annotated[str, typer.Option(help="The address to listen on.")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="The port to listen on (0: any free port).", min=0, max=65535)] = 5000,
        db: Annotated[
            Path | None, typer.Option(help="The SQLite file to store events in (default: ./aifabric-lineage.db).")
        ] = None,
        dsn: Annotated[
            str | None, typer.Option(help="Store in PostgreSQL instead: postgres://user@host:port/database.")
        ] = None,
        dsn_env: Annotated[
            str | None,
            typer.Option("--dsn-env", help="The name of an environment variable holding the PostgreSQL DSN."),
        ] = None,
        add_schema: Annotated[
            list[Path] | None,
            typer.Option(
                "--add-schema",
                help="A JSON Schema file, or a folder of them, to validate events with besides the packaged ones "
                "(repeatable), such as OpenLineage's own.",
            ),
        ] = None,
        max_body: Annotated[
            int, typer.Option("--max-body", help="The largest request body accepted, in bytes.", min=1)
        ] = 16 * 1024 * 1024,
        lifecycle: Annotated[
            bool, typer.Option(help="Check the run lifecycle rules against the events already stored.")
        ] = True,
    ) -> None:
        """Run the reference lineage collector (OpenLineage HTTP API and CloudEvents) until interrupted."""
        if sum(x is not None for x in (db, dsn, dsn_env)) > 1:
            die("give one of --db, --dsn and --dsn-env", 2)
        if dsn_env is not None:
            dsn = os.environ.get(dsn_env)
            if not dsn:
                die(f"the environment variable {dsn_env} is not set", 2)
        try:
            from aifabric.lineage.collector import StoreError, serve
        except ImportError as exc:
            die(str(exc), 2)
        registry = registry_with(add_schema or [])
        target: str | Path = dsn if dsn else (db or Path("aifabric-lineage.db"))
        where = "PostgreSQL" if dsn else f"SQLite {target}"

        def ready(url: str) -> None:
            print(f"aifabric collector listening on {url} (store: {where})", file=sys.stderr, flush=True)

        try:
            serve(target, host=host, port=port, registry=registry, max_body=max_body, lifecycle=lifecycle, ready=ready)
        except StoreError as exc:
            die(str(exc), 1)
        except OSError as exc:
            die(f"cannot listen on {host}:{port}: {exc.strerror or exc}", 1)

    @lineage_app.command("emit")
    def emit(
        paths: Annotated[
            list[str], typer.Argument(help="JSON or JSON Lines files of events (folders searched), or - for stdin.")
        ],
        url: UrlOption = DEFAULT_URL,
        as_json: JsonOption = False,
    ) -> None:
        """POST each event in the files to a collector. Exit 0 if all are accepted, 1 if any is not."""
        import orjson

        from aifabric.validation import iter_documents

        base = _base(url)
        rows: list[dict[str, Any]] = []
        for source, docs in iter_documents(paths):
            if isinstance(docs, Exception):
                rows.append({"source": source, "accepted": False, "problems": [_read_problem(docs)]})
                continue
            events = docs[0] if len(docs) == 1 and isinstance(docs[0], list) else docs
            for n, event in enumerate(events):
                label = source if len(events) == 1 else f"{source}#{n}"
                status, reply = _call(die, "POST", f"{base}/api/v1/lineage", body=orjson.dumps(event))
                accepted = 200 <= status < 300
                row: dict[str, Any] = {"source": label, "accepted": accepted, "status": status}
                if accepted:
                    row["stored"] = bool(reply.get("stored")) if isinstance(reply, dict) else False
                else:
                    row["problems"] = _problems_of(reply, status)
                rows.append(row)
        if as_json:
            dump(rows)
        else:
            for row in rows:
                if row["accepted"]:
                    _echo(f"accepted {row['source']} ({'stored' if row['stored'] else 'duplicate, stored before'})")
                for p in row.get("problems", []):
                    _echo(f"rejected {row['source']}: {p['pointer'] or '/'}: {p['rule']}: {p['message']}")
            bad = sum(not r["accepted"] for r in rows)
            _echo(f"{len(rows)} events, {len(rows) - bad} accepted, {bad} rejected", err=True)
        if not rows:
            die("no events found", 2)
        raise typer.Exit(1 if any(not r["accepted"] for r in rows) else 0)

    @lineage_app.command("tail")
    def tail(
        url: UrlOption = DEFAULT_URL,
        follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing events as they arrive.")] = False,
        lines: Annotated[
            int, typer.Option("--lines", "-n", help="How many of the latest events to print first.", min=0, max=1000)
        ] = 10,
        since: Annotated[
            int | None, typer.Option(help="Print every event stored after this sequence number instead.", min=0)
        ] = None,
        interval: Annotated[float, typer.Option(help="Seconds between polls when following.", min=0.05)] = 1.0,
        as_json: Annotated[bool, typer.Option("--json", help="Print each event as one line of JSON.")] = False,
    ) -> None:
        """Print the latest events stored by a collector; with --follow, keep printing new ones."""
        base = _base(url)
        if since is None:
            _, reply = _get(die, f"{base}/api/v1/events?tail={lines}")
        else:
            _, reply = _get(die, f"{base}/api/v1/events?since={since}&limit=1000")
        cursor = _print_events(reply, as_json)
        while since is not None and len(reply.get("events", [])) == 1000:
            _, reply = _get(die, f"{base}/api/v1/events?since={cursor}&limit=1000")
            cursor = _print_events(reply, as_json, cursor)
        while follow:
            time.sleep(interval)
            _, reply = _get(die, f"{base}/api/v1/events?since={cursor}&limit=1000")
            cursor = _print_events(reply, as_json, cursor)

    @lineage_app.command("graph")
    def graph(
        name: Annotated[str, typer.Argument(help="The dataset, model or job to start from.")],
        namespace: Annotated[str | None, typer.Option(help="Its namespace (default: any).")] = None,
        depth: Annotated[int, typer.Option(help="How many hops to walk (dataset -> job is one).", min=0)] = 4,
        direction: Annotated[str, typer.Option(help="upstream, downstream or both.")] = "both",
        node_type: Annotated[str | None, typer.Option("--type", help="dataset, model or job (default: any).")] = None,
        url: UrlOption = DEFAULT_URL,
        as_json: JsonOption = False,
    ) -> None:
        """Print the lineage graph around a dataset, model or job: its nodes by distance, then its edges."""
        from urllib.parse import urlencode

        params = {"name": name, "depth": str(depth), "direction": direction}
        if namespace is not None:
            params["namespace"] = namespace
        if node_type is not None:
            params["type"] = node_type
        status, reply = _get(die, f"{_base(url)}/api/v1/lineage/graph?{urlencode(params)}", ok=(200, 404))
        if status == 404:
            die(_problems_of(reply, status)[0]["message"], 1)
        if as_json:
            dump(reply)
            return
        nodes, edges = reply.get("nodes", []), reply.get("edges", [])
        _echo(
            f"lineage of {', '.join(reply.get('roots', []))} ({reply.get('direction')}, depth {reply.get('depth')}): "
            f"{len(nodes)} nodes, {len(edges)} edges" + (" (truncated)" if reply.get("truncated") else "")
        )
        for node in nodes:
            _echo(f"  {node['depth']:>2}  {node['type']:<7}  {node['namespace']}  {node['name']}")
        for edge in edges:
            _echo(f"  {edge['source']} -> {edge['target']}")


def _base(url: str) -> str:
    base = url.rstrip("/")
    for suffix in ("/api/v1/lineage", "/api/v1"):
        base = base.removesuffix(suffix)
    return base


def _echo(text: str, *, err: bool = False) -> None:
    from aifabric._text import encodable

    typer.echo(encodable(text, "backslashreplace"), err=err)


def _read_problem(exc: Any) -> dict[str, str]:
    return {"pointer": getattr(exc, "pointer", ""), "rule": getattr(exc, "rule", "read"), "message": exc.reason}


def _problems_of(reply: Any, status: int) -> list[dict[str, str]]:
    found = reply.get("problems") if isinstance(reply, dict) else None
    if isinstance(found, list) and found:
        return [{k: str(p.get(k, "")) for k in ("pointer", "rule", "message")} for p in found if isinstance(p, dict)]
    message = reply.get("message") if isinstance(reply, dict) else None
    return [{"pointer": "", "rule": f"http-{status}", "message": str(message or f"the collector answered {status}")}]


def _call(die: Callable[[str, int], NoReturn], method: str, url: str, *, body: bytes | None = None) -> tuple[int, Any]:
    """Send one request; the status and the parsed JSON reply (None when it is not JSON)."""
    import urllib.error
    import urllib.request

    import orjson

    headers = {"Content-Type": "application/json"} if body is not None else {}
    if not url.startswith(("http://", "https://")):
        die(f"{url}: the collector URL must start with http:// or https://", 2)
    request = urllib.request.Request(url, data=body, method=method, headers=headers)  # noqa: S310 - scheme checked
    try:
        with urllib.request.urlopen(request, timeout=_TIMEOUT) as response:  # noqa: S310 - scheme checked
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        die(f"cannot reach the collector at {url}: {reason}", 1)
    try:
        return status, orjson.loads(raw)
    except orjson.JSONDecodeError:
        return status, None


def _get(die: Callable[[str, int], NoReturn], url: str, *, ok: tuple[int, ...] = (200,)) -> tuple[int, Any]:
    status, reply = _call(die, "GET", url)
    if status not in ok or not isinstance(reply, dict):
        problems = _problems_of(reply, status)
        die(f"the collector answered {status}: {problems[0]['message']}", 1)
    return status, reply


def _print_events(reply: dict[str, Any], as_json: bool, cursor: int = 0) -> int:
    import orjson

    for item in reply.get("events", []):
        if as_json:
            _echo(orjson.dumps(item.get("event")).decode())
        else:
            job = item.get("job") or {}
            what = item.get("eventType") or item.get("kind") or "?"
            where = f"{job.get('namespace')}/{job.get('name')}" if job else "-"
            run = f"run {item['runId']}" if item.get("runId") else ""
            _echo(f"{item.get('id'):>6}  {item.get('eventTime')}  {what:<8}  {where}  {run}".rstrip())
    sys.stdout.flush()
    return int(reply.get("next", cursor) or cursor)
