"""``aifabric certify``: run conformance profiles against a target; ``aifabric certify verify``: check a report."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from aifabric._cli._common import exiter

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["register"]


def register(app: typer.Typer, *, fail: Callable[[str, int], Any], dump: Callable[[Any], None]) -> None:
    """Add the ``certify`` command group."""
    certify_app = typer.Typer(
        help="Certify an implementation against conformance profiles, and verify conformance reports.",
        invoke_without_command=True,
        no_args_is_help=False,
    )
    app.add_typer(certify_app, name="certify")

    die = exiter(fail)

    @certify_app.callback(invoke_without_command=True)
    def certify(
        ctx: typer.Context,
        target: Annotated[
            str | None,
            typer.Option(help="reference, an adapter command line (quoted), or an http:// URL.", show_default=False),
        ] = None,
        profile: Annotated[
            list[str] | None, typer.Option("--profile", "-p", help="A profile id (repeatable); 'all' for every one.")
        ] = None,
        report: Annotated[Path, typer.Option(help="Write the conformance report (JSON) here.")] = Path(
            "out/conformance-report.json"
        ),
        junit: Annotated[Path | None, typer.Option(help="Write JUnit XML here.")] = None,
        html: Annotated[Path | None, typer.Option(help="Write the HTML report here.")] = None,
        key: Annotated[Path | None, typer.Option(help="Sign the report with this private key (PEM).")] = None,
        contract: Annotated[
            Path | None, typer.Option(help="The serving contract for serving-endpoint (default: the example).")
        ] = None,
        timeout: Annotated[float, typer.Option(help="Seconds to wait for each adapter answer.", min=0.1)] = 30.0,
        vectors: Annotated[Path | None, typer.Option(help="Vector folder (default: the shipped vectors).")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print the report instead of a summary.")] = False,
    ) -> None:
        """Run profiles against a target. Exit 0 when every profile passes, 1 when one fails, 2 on usage errors."""
        if ctx.invoked_subcommand is not None:
            return
        import orjson

        from aifabric._errors import AifabricError
        from aifabric.conformance._outputs import junit_xml, report_html
        from aifabric.conformance.certify import CertifyError, load_profiles
        from aifabric.conformance.certify import certify as run_certify

        if not target or not profile:
            known = ", ".join(p.id for p in load_profiles())
            die(f"give --target and at least one --profile (one of: {known}, or all)", 2)
        chosen = [p.id for p in load_profiles()] if "all" in profile else profile
        if vectors is not None and not vectors.is_dir():
            die(f"{vectors}: no such folder", 2)
        signer = None
        if key is not None:
            from aifabric.signing.keys import load_private_key

            try:
                signer = load_private_key(key)
            except (AifabricError, OSError) as exc:
                die(f"{key}: cannot load the signing key: {exc}", 2)
        progress = _Progress(len(chosen)) if sys.stderr.isatty() and not as_json else None
        try:
            done = run_certify(
                target,
                chosen,
                vectors_dir=vectors,
                contract=contract,
                timeout=timeout,
                on_result=progress.add if progress is not None else None,
            )
        except CertifyError as exc:
            die(str(exc), 2)
        finally:
            if progress is not None:
                progress.stop()
        doc = done.to_json()
        if signer is not None:
            from aifabric.signing.documents import attach, sign_document

            doc = attach(doc, sign_document(doc, signer))
        for path, text in (
            (report, orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode("utf-8") + "\n"),
            (junit, junit_xml(doc) if junit else ""),
            (html, report_html(doc) if html else ""),
        ):
            if path is None:
                continue
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, "utf-8")
            except OSError as exc:
                die(f"{path}: cannot write: {exc.strerror}", 2)
        if as_json:
            dump(doc)
        else:
            _summary(doc, report, junit, html)
        failed = any(p["verdict"] != "passed" for p in doc["profiles"])
        raise typer.Exit(1 if failed else 0)

    @certify_app.command("verify")
    def verify(
        report: Annotated[Path, typer.Argument(help="A conformance report (JSON).", show_default=False)],
        key: Annotated[Path | None, typer.Option(help="The signer's public key (PEM).")] = None,
    ) -> None:
        """Check a report: schema, signature (with --key), profile verdicts and the suite digest. Exit 0 or 1."""
        from aifabric.conformance.verify import ReportError, verify_report

        public = None
        if key is not None:
            from aifabric._errors import AifabricError
            from aifabric.signing.keys import load_public_key

            try:
                public = load_public_key(key)
            except (AifabricError, OSError) as exc:
                die(f"{key}: cannot load the public key: {exc}", 2)
        try:
            notes = verify_report(report, key=public)
        except ReportError as exc:
            die(str(exc), 1)
        for note in notes:
            typer.echo(f"note: {note}", err=True)
        typer.echo(f"verified {report}")


def _summary(doc: dict[str, Any], report: Path, junit: Path | None, html: Path | None) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table("profile", "verdict", "MUST passed", "SHOULD failed", title="aifabric certify")
    for p in doc["profiles"]:
        reqs = p["requirements"].values()
        must = [r for r in reqs if r["level"] == "MUST"]
        table.add_row(
            escape(p["id"]),
            f"[{'green' if p['verdict'] == 'passed' else 'red'}]{p['verdict']}[/]",
            f"{sum(r['verdict'] in ('passed', 'not-applicable') for r in must)}/{len(must)}",
            str(sum(r["level"] != "MUST" and r["verdict"] == "failed" for r in reqs)),
        )
    out = Console(highlight=False)
    out.print(table)
    for r in doc["results"]:
        if r["outcome"] in ("failed", "error"):
            out.print(
                f"[red]{r['outcome']}[/] {escape(r['id'])} {' '.join(r['requirements'])}: "
                f"{escape(str(r.get('message', '')))}"
            )
    s = doc["summary"]
    out.print(
        f"{s['total']} results: {s['passed']} passed, {s['failed']} failed, {s['skipped']} skipped, "
        f"{s['errors']} errors"
    )
    out.print(f"report {escape(str(report))}" + "".join(f", {escape(str(p))}" for p in (junit, html) if p))


class _Progress:
    """A live count of results on a terminal."""

    def __init__(self, profiles: int) -> None:
        from rich.progress import Progress, SpinnerColumn, TextColumn

        self.bar = Progress(SpinnerColumn(), TextColumn("{task.description}"), transient=True)
        self.task = self.bar.add_task(f"certifying {profiles} profile(s)")
        self.counts = {"passed": 0, "failed": 0, "skipped": 0, "error": 0}
        self.bar.start()

    def add(self, result: Any) -> None:
        self.counts[result.outcome] += 1
        text = ", ".join(f"{v} {k}" for k, v in self.counts.items())
        self.bar.update(self.task, description=f"{result.id[:48]:<48} {text}")

    def stop(self) -> None:
        self.bar.stop()
