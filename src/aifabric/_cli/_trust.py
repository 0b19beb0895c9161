"""``aifabric trust score|drift``: Data Trust Scores and drift tests of CSV and Parquet files."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from aifabric._cli._common import exiter, guard

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["register"]

DataArgument = Annotated[Path, typer.Argument(help="The data: a CSV or Parquet file (or glob).", show_default=False)]
ReferenceOption = Annotated[
    Path | None, typer.Option("--reference", "-r", help="Reference data to test drift against.", show_default=False)
]


def register(app: typer.Typer, *, fail: Callable[[str, int], Any], dump: Callable[[Any], None]) -> None:
    """Add the ``trust`` command group."""
    trust_app = typer.Typer(help="Compute Data Trust Scores and drift tests (spec/trust-score.md).")
    app.add_typer(trust_app, name="trust")

    die = exiter(fail)
    guarded = guard(die, invalid=(), what="data contract", extra="aifabric[data]")

    def contract_from(path: Path) -> Any:
        from aifabric._errors import ValidationError
        from aifabric.trust import load_contract

        try:
            return load_contract(path)
        except ValidationError as exc:
            problems = [p if p.source else type(p)(p.pointer, p.rule, p.message, str(path)) for p in exc.problems]
            raise ValidationError(problems, source=str(path), schema_url=exc.schema_url) from None

    @trust_app.command("score")
    @guarded
    def score_command(
        data: DataArgument,
        contract: Annotated[Path, typer.Option("--contract", "-c", help="The data contract (YAML or JSON).")],
        reference: ReferenceOption = None,
        as_of: Annotated[
            str | None, typer.Option("--as-of", help="RFC 3339 time freshness is measured at (default: now).")
        ] = None,
        output: Annotated[
            Path | None, typer.Option("--output", "-o", help="Write the score document here, not to stdout.")
        ] = None,
        html: Annotated[
            Path | None, typer.Option("--html", help="Also write an HTML report with a chart per column.")
        ] = None,
    ) -> None:
        """Score DATA under a contract; exit 1 when the score is below the contract's minScore."""
        import orjson

        from aifabric._errors import ValidationError
        from aifabric.models.common import Timestamp
        from aifabric.trust import score

        loaded = contract_from(contract)
        if as_of is not None:
            import pydantic

            try:
                pydantic.TypeAdapter(Timestamp).validate_python(as_of)
            except pydantic.ValidationError:
                die(f"--as-of {as_of!r} is not an RFC 3339 date-time with an offset", 2)
        try:
            result = score(data, loaded, reference, as_of=as_of)
        except ValidationError as exc:  # a rule that does not bind: a problem of the contract file
            problems = [type(p)(p.pointer, p.rule, p.message, str(contract)) for p in exc.problems]
            raise ValidationError(problems, source=str(contract), schema_url=exc.schema_url) from None
        doc = result.to_json()
        if html is not None:
            from aifabric.trust import html_report

            try:
                html.write_text(html_report(result, loaded, data, reference), encoding="utf-8")
            except OSError as exc:
                die(f"{html}: cannot write: {exc.strerror or type(exc).__name__}", 2)
        if output is None:
            dump(doc)
        else:
            try:
                output.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")
            except OSError as exc:
                die(f"{output}: cannot write: {exc.strerror or type(exc).__name__}", 2)
        verdict = "" if result.passed is None else (" passed" if result.passed else " below minScore")
        shown = "n/a" if result.score is None else f"{result.score:g}"
        typer.echo(f"{data}: score {shown} grade {result.grade}{verdict}", err=True)
        if result.passed is False:
            raise typer.Exit(1)

    @trust_app.command("drift")
    @guarded
    def drift_command(
        data: DataArgument,
        reference: Annotated[Path, typer.Option("--reference", "-r", help="The reference data.")],
        contract: Annotated[
            Path | None, typer.Option("--contract", "-c", help="A data contract; default: every column.")
        ] = None,
        json_output: Annotated[bool, typer.Option("--json", help="Print the measurements as JSON.")] = False,
    ) -> None:
        """Test each column of DATA for drift from the reference; exit 1 when any column drifted."""
        from aifabric.trust import drift

        loaded = contract_from(contract) if contract is not None else None
        results = drift(data, reference, contract=loaded)
        if json_output:
            dump([result.to_json() for result in results])
        else:
            for result in results:
                if result.drifted is None:
                    typer.echo(f"{result.column}: not tested: {result.reason}")
                    continue
                word = "DRIFT" if result.drifted else "ok"
                measured = "n/a" if result.statistic is None else f"{result.statistic:.6g}"
                p_value = "" if result.p_value is None else f" p={result.p_value:.4g}"
                typer.echo(
                    f"{result.column}: {word} {result.method}={measured}{p_value} "
                    f"threshold={result.threshold:g} psi={result.psi:.4g}"
                )
        if any(result.drifted for result in results):
            raise typer.Exit(1)
