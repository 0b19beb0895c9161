"""The ``aifabric`` command. Heavy modules are imported inside commands so that start-up stays fast."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from aifabric._cli import _audit, _cards, _certify, _lineage, _serving, _serving_check, _signing, _tools, _trust
from aifabric._version import SPEC_VERSION, __version__

__all__ = ["app", "main"]

app = typer.Typer(
    name="aifabric",
    help="Validate, canonicalize and certify aifabric documents: the reliability layer of AI systems.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
schemas_app = typer.Typer(help="List, show, export and check the packaged schemas.", no_args_is_help=True)
conformance_app = typer.Typer(help="Run the conformance suite.", no_args_is_help=True)
keys_app = typer.Typer(help="Generate signing keys.", no_args_is_help=True)
app.add_typer(schemas_app, name="schemas")
app.add_typer(conformance_app, name="conformance")
app.add_typer(keys_app, name="keys")

EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 1, 2

JsonFlag = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON instead of text.")]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"aifabric {__version__} (spec {SPEC_VERSION})")
        raise typer.Exit


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Validate, canonicalize and certify aifabric documents."""


def _console(*, stderr: bool = False) -> Any:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def _dump(value: Any) -> None:
    import orjson

    sys.stdout.buffer.write(orjson.dumps(value, option=orjson.OPT_INDENT_2) + b"\n")
    sys.stdout.flush()


@app.command()
def validate(
    paths: Annotated[list[str], typer.Argument(help="Files, folders (searched recursively) or - for stdin.")],
    schema: Annotated[
        str | None, typer.Option(help="Validate against this schema URL instead of each document's own.")
    ] = None,
    add_schema: Annotated[
        list[Path] | None,
        typer.Option(
            "--add-schema",
            help="A JSON Schema file, or a folder of them, to add to the packaged ones (repeatable): "
            "for documents of other standards, such as OpenLineage events.",
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Validate documents against the schemas they name. Exit 0 if all are valid, 1 if not."""
    from aifabric.validation import iter_documents, problems

    registry = _registry_with(add_schema or [])
    records: list[dict[str, Any]] = []
    for source, docs in iter_documents(paths):
        if isinstance(docs, Exception):
            problem = _problem(docs.pointer, docs.rule, docs.reason)
            records.append({"source": source, "valid": False, "schemaURL": None, "problems": [problem]})
            continue
        for n, doc in enumerate(docs):
            label = source if len(docs) == 1 else f"{source}#{n}"
            found = problems(doc, schema_url=schema, registry=registry, source=label)
            url = schema or (doc.get("schemaURL", doc.get("$schema")) if isinstance(doc, dict) else None)
            records.append(
                {
                    "source": label,
                    "valid": not found,
                    "schemaURL": url if isinstance(url, str) else None,
                    "problems": [_problem(p.pointer, p.rule, p.message) for p in found],
                }
            )
    records = _printable(records)
    if as_json:
        _dump(records)
    else:
        out = _console()
        for rec in records:
            if rec["valid"]:
                out.print(f"[green]valid[/]   {_text(rec['source'])}")
            for prob in rec["problems"]:
                where = f"{rec['source']}: {prob['pointer'] or '/'}: {prob['rule']}: {prob['message']}"
                out.print(f"[red]invalid[/] {_text(where)}")
        bad = sum(not r["valid"] for r in records)
        noun = "document" if len(records) == 1 else "documents"
        _console(stderr=True).print(f"{len(records)} {noun}, {len(records) - bad} valid, {bad} invalid")
    if not records:
        _fail("no documents found", EXIT_USAGE)
    raise typer.Exit(EXIT_INVALID if any(not r["valid"] for r in records) else EXIT_OK)


def _registry_with(paths: list[Path]) -> Any:
    """The packaged registry, or a copy of it with the user's schema files added (a bad one is a usage error)."""
    from aifabric._errors import AifabricError
    from aifabric.schemas import Registry
    from aifabric.validation import iter_documents

    if not paths:
        return Registry.default()
    registry = Registry.default().copy()
    files = [str(f) for p in paths for f in (sorted(p.rglob("*.json")) if p.is_dir() else [p])]
    for source, schemas in iter_documents(files):
        try:
            if isinstance(schemas, AifabricError):
                raise schemas
            for schema in schemas:
                registry.add(schema)
        except AifabricError as exc:
            _fail(f"{source}: cannot add as a schema: {getattr(exc, 'reason', exc)}", EXIT_USAGE)
    return registry


def _problem(pointer: str, rule: str, message: str) -> dict[str, str]:
    return {"pointer": pointer, "rule": rule, "message": message}


def _printable(value: Any) -> Any:
    """The value with text that cannot be written as UTF-8 (lone surrogates, undecodable file names) escaped."""
    from aifabric._text import encodable

    return encodable(value, "backslashreplace")


@schemas_app.command("list")
def schemas_list(as_json: JsonFlag = False) -> None:
    """List every packaged schema: kind, version and $id."""
    from aifabric.schemas import Registry

    infos = list(Registry.default())
    if as_json:
        _dump([{"kind": i.kind, "version": i.version, "id": i.id, "title": i.title} for i in infos])
        return
    from rich.table import Table

    table = Table("kind", "version")
    table.add_column("$id", overflow="fold")
    for i in infos:
        table.add_row(i.kind, i.version, i.id)
    _console().print(table)


@schemas_app.command("show")
def schemas_show(
    name: Annotated[str, typer.Argument(help="A kind (latest version), KIND@X.Y.Z, or a schema URL.")],
) -> None:
    """Print one schema as JSON."""
    _dump(dict(_lookup(name).schema))


@schemas_app.command("export")
def schemas_export(
    folder: Annotated[Path, typer.Argument(help="Where to write <kind>/<version>.json files.")],
) -> None:
    """Write every packaged schema to a folder, laid out as <kind>/<version>.json."""
    import orjson

    from aifabric.schemas import Registry

    count = 0
    for info in Registry.default():
        target = folder / info.kind / f"{info.version}.json"
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(orjson.dumps(dict(info.schema), option=orjson.OPT_INDENT_2) + b"\n")
        except OSError as exc:
            _fail(f"{target}: cannot write: {exc.strerror}", EXIT_INVALID)
        count += 1
    _console(stderr=True).print(f"wrote {count} schemas to {_text(folder)}")


@schemas_app.command("check")
def schemas_check(as_json: JsonFlag = False) -> None:
    """Validate every `examples` entry of every packaged schema (and of its $defs) against that schema."""
    from aifabric.schemas import Registry
    from aifabric.validation import problems

    rows: list[dict[str, Any]] = []
    for info in Registry.default():
        targets = [("", info.schema)] + [(f"#/$defs/{k}", v) for k, v in info.schema.get("$defs", {}).items()]
        for fragment, sub in targets:
            for n, example in enumerate(sub.get("examples", []) if isinstance(sub, dict) else []):
                found = problems(example, schema_url=info.id + fragment)
                rows.append(
                    {
                        "schema": info.id + fragment,
                        "example": n,
                        "valid": not found,
                        "problems": [str(p) for p in found],
                    }
                )
    if as_json:
        _dump(rows)
    else:
        out = _console()
        for row in rows:
            if not row["valid"]:
                out.print(f"[red]invalid example[/] {row['schema']} examples/{row['example']}: {row['problems'][0]}")
        bad = sum(not r["valid"] for r in rows)
        out.print(f"{len(rows)} schema examples, {len(rows) - bad} valid, {bad} invalid")
    raise typer.Exit(EXIT_INVALID if any(not r["valid"] for r in rows) else EXIT_OK)


def _lookup(name: str) -> Any:
    from aifabric._errors import SchemaError
    from aifabric.schemas import BASE_URI, Registry

    registry = Registry.default()
    kind, _, version = name.partition("@")
    try:
        if "://" in name:
            return registry.info(name)
        return registry.info(f"{BASE_URI}{kind}/{version}.json") if version else registry.latest(kind)
    except SchemaError as exc:
        _fail(str(exc), EXIT_USAGE)


@conformance_app.command("vectors")
def conformance_vectors(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="Vector files or folders (default: the vectors shipped with aifabric)."),
    ] = None,
    report: Annotated[Path | None, typer.Option(help="Write the conformance report (JSON) here.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Run conformance vectors against this SDK and summarise by requirement. Exit 1 if any case fails."""
    import orjson

    from aifabric.conformance import run_vectors

    for path in paths or []:
        if not path.exists():
            _fail(f"{path}: no such file or folder", EXIT_USAGE)
    result = run_vectors(paths)
    doc = result.to_json()
    if report is not None:
        try:
            report.parent.mkdir(parents=True, exist_ok=True)
            report.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")
        except OSError as exc:
            _fail(f"{report}: cannot write: {exc.strerror}", EXIT_USAGE)
    if as_json:
        _dump(doc)
    else:
        _print_report(doc, report)
    raise typer.Exit(EXIT_OK if result.summary.outcome == "passed" else EXIT_INVALID)


def _print_report(doc: dict[str, Any], path: Path | None) -> None:
    from collections import defaultdict

    from rich.table import Table

    by_area: dict[str, dict[str, int]] = defaultdict(lambda: {"passed": 0, "failed": 0, "skipped": 0, "error": 0})
    for res in doc["results"]:
        by_area[res["id"].split("/", 1)[0]][res["outcome"]] += 1
    table = Table("area", "cases", "passed", "failed", "skipped", "errors", title="conformance vectors")
    for area, c in sorted(by_area.items()):
        table.add_row(
            area, str(sum(c.values())), str(c["passed"]), str(c["failed"]), str(c["skipped"]), str(c["error"])
        )
    out = _console()
    out.print(table)
    for res in doc["results"]:
        if res["outcome"] in ("failed", "error"):
            detail = f"{res['id']} {' '.join(res['requirements'])}: {res.get('message', '')}"
            out.print(f"[red]{res['outcome']}[/] {_text(detail)}")
    s = doc["summary"]
    verdicts = list(s["requirements"].values())
    out.print(
        f"{s['outcome'].upper()}: {s['passed']}/{s['total']} cases passed; "
        f"{verdicts.count('passed')}/{len(verdicts)} requirements passed"
    )
    if path is not None:
        out.print(f"report written to {_text(path)}")


def _text(value: object) -> str:
    """Any value as literal console text: markup escaped, unencodable characters escaped."""
    from rich.markup import escape

    return escape(_printable(str(value)))


def _fail(message: str, code: int) -> NoReturn:
    _console(stderr=True).print(f"[red]error:[/] {_text(message)}")
    raise typer.Exit(code)


_signing.register(app, keys_app, fail=_fail, dump=_dump)
serve_app = typer.Typer(help="Run aifabric's reference servers.", no_args_is_help=True)
app.add_typer(serve_app, name="serve")
_lineage.register(app, serve_app, fail=_fail, dump=_dump, registry_with=_registry_with)
_serving.register(serve_app, fail=_fail)
_serving_check.register(app, fail=_fail, dump=_dump)
_tools.register(app, fail=_fail, dump=_dump)
_audit.register(app, fail=_fail, dump=_dump)
_cards.register(app, fail=_fail, dump=_dump)
_certify.register(app, fail=_fail, dump=_dump)
_trust.register(app, fail=_fail, dump=_dump)


def main() -> None:
    """Run the CLI: documented errors become one line and a non-zero exit, never a traceback."""
    from aifabric._errors import AifabricError

    try:
        app()
    except AifabricError as exc:
        print(f"error: {_printable(str(exc))}", file=sys.stderr)
        sys.exit(EXIT_USAGE)
    except KeyboardInterrupt:
        sys.exit(130)
    except BrokenPipeError:
        sys.stderr.close()
        sys.exit(EXIT_INVALID)
