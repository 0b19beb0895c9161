"""``aifabric tools check|export|import``: check tool contracts and move them to and from MCP, OpenAI and OpenAPI."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from aifabric._cli._common import exiter, guard

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["register"]

FileArgument = Annotated[Path, typer.Argument(help="A file.", show_default=False)]


def register(app: typer.Typer, *, fail: Callable[[str, int], Any], dump: Callable[[Any], None]) -> None:
    """Add the ``tools`` command group."""
    tools_app = typer.Typer(help="Check tool contracts; export and import MCP, OpenAI and OpenAPI tools.")
    app.add_typer(tools_app, name="tools")

    die = exiter(fail)
    guarded = guard(die)

    @tools_app.command("check")
    @guarded
    def check(contract: FileArgument) -> None:
        """Validate a tool contract (YAML or JSON): exit 0 valid, 1 invalid, naming each problem."""
        from aifabric._errors import ValidationError
        from aifabric.tools import load_contract

        try:
            loaded = load_contract(contract)
        except ValidationError as exc:
            for problem in exc.problems:
                typer.echo(f"invalid {problem}", err=True)
            die(f"{contract}: not a valid tool contract", 1)
        typer.echo(f"valid   {contract}: {loaded.name} {loaded.version} ({loaded.side_effect})")

    @tools_app.command("export")
    @guarded
    def export(
        contract: FileArgument,
        to: Annotated[str, typer.Option("--to", help="mcp, mcp-2026-07-28, openai or openai-responses.")] = "mcp",
    ) -> None:
        """Print the tool as the target format has it; what the target cannot hold goes to stderr."""
        from aifabric.tools import load_contract, to_mcp, to_openai

        loaded = load_contract(contract)
        if to == "mcp":
            mapped = to_mcp(loaded)
        elif to == "mcp-2026-07-28":
            mapped = to_mcp(loaded, version="2026-07-28")
        elif to in ("openai", "openai-responses"):
            mapped = to_openai(loaded, form="chat" if to == "openai" else "responses")
        else:
            die(f"--to is mcp, mcp-2026-07-28, openai or openai-responses, not {to!r}", 2)
        dump(mapped.document)
        for line in mapped.lost:
            typer.echo(f"not kept: {line}", err=True)

    @tools_app.command("import")
    @guarded
    def import_(
        source: FileArgument,
        from_: Annotated[str, typer.Option("--from", help="mcp, openai or openapi.")] = "mcp",
        owner: Annotated[str, typer.Option(help="Who answers for the tool (the contract requires an owner).")] = "",
        path: Annotated[str | None, typer.Option(help="With --from openapi: the operation's path.")] = None,
        method: Annotated[str | None, typer.Option(help="With --from openapi: the operation's method.")] = None,
    ) -> None:
        """Print a tool contract made from an MCP tool, an OpenAI tool or an OpenAPI 3.1 operation."""
        from aifabric.tools import from_mcp, from_openai, from_openapi
        from aifabric.validation import iter_documents

        if not owner:
            die("give --owner (a service or team id): a tool contract names who answers for the tool", 2)
        ((_, docs),) = list(iter_documents([str(source)]))
        if isinstance(docs, Exception):
            raise docs
        doc = docs[0] if len(docs) == 1 and isinstance(docs[0], dict) else None
        if doc is None:
            die(f"{source}: expected one JSON or YAML object", 1)
        who = {"type": "service", "id": owner}
        if from_ == "mcp":
            mapped = from_mcp(doc, owner=who)
        elif from_ == "openai":
            mapped = from_openai(doc, owner=who)
        elif from_ == "openapi":
            if not path or not method:
                die("--from openapi needs --path and --method naming the operation", 2)
            operation = doc.get("paths", {}).get(path, {}).get(method.lower(), doc)
            mapped = from_openapi(operation, path=path, method=method, owner=who)
        else:
            die(f"--from is mcp, openai or openapi, not {from_!r}", 2)
        dump(mapped.document.to_json())
        for line in mapped.lost:
            typer.echo(f"not kept: {line}", err=True)
