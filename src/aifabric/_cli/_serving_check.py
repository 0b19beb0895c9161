"""``aifabric serving check|saturate``: certify an endpoint against a serving contract, or find its capacity."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from aifabric._cli._common import exiter
from aifabric._web import run

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["register"]

ContractOption = Annotated[Path, typer.Option("--contract", "-c", help="The serving contract (YAML or JSON).")]
EndpointOption = Annotated[
    str | None,
    typer.Option("--endpoint", "-e", help="The endpoint's base URL (default: the contract's endpoint.url)."),
]


def register(app: typer.Typer, *, fail: Callable[[str, int], Any], dump: Callable[[Any], None]) -> None:
    """Add the ``serving`` command group."""
    serving_app = typer.Typer(help="Check model endpoints against serving contracts.", no_args_is_help=True)
    app.add_typer(serving_app, name="serving")

    die = exiter(fail)

    @serving_app.command("check")
    def check(
        contract: ContractOption,
        endpoint: EndpointOption = None,
        out: Annotated[
            Path, typer.Option("--out", "-o", help="Write the report here (JSON), and beside it the HTML page.")
        ] = Path("serving-report.json"),
        profile: Annotated[str, typer.Option(help="Protocol profile: strict or tolerant.")] = "strict",
        workers: Annotated[int, typer.Option(help="Load-generator processes.", min=1, max=64)] = 1,
        telemetry: Annotated[str, typer.Option(help="auto, nvml, prometheus or none.")] = "auto",
        as_json: Annotated[bool, typer.Option("--json", help="Print the report instead of a summary.")] = False,
    ) -> None:
        """Run every check the contract asks for; write the report (JSON and HTML).

        Exit 0 passed, 1 failed, 3 invalid (the measurement cannot be trusted), 2 usage or unreadable contract.
        """
        from aifabric._errors import AifabricError
        from aifabric.serving.contract import load_contract
        from aifabric.serving.harness import certify, load_evaluation

        if profile not in ("strict", "tolerant") or telemetry not in ("auto", "nvml", "prometheus", "none"):
            die("--profile is strict or tolerant; --telemetry is auto, nvml, prometheus or none", 2)
        try:
            doc = load_contract(contract)
            evaluation = load_evaluation(doc, contract.resolve().parent)
        except AifabricError as exc:
            die(str(exc), 2)
        url = endpoint or doc.endpoint.url
        if not url:
            die("give --endpoint URL (the contract names none)", 2)
        started = time.monotonic()
        live = _LiveView(float(doc.load.warmup_s) + float(doc.load.duration_s)) if sys.stderr.isatty() else None

        def progress(step: str) -> None:
            if live is not None:
                live.stop()
            _echo(f"[{time.monotonic() - started:6.1f} s] {step}")
            if live is not None and step.endswith(f"loop for {doc.load.duration_s:g} s"):
                live.start()

        try:
            done = run(
                certify(
                    doc,
                    url,
                    evaluation=evaluation,
                    progress=progress,
                    on_sample=live.add if live is not None else None,
                    profile=profile,  # type: ignore[arg-type]
                    workers=workers,
                    telemetry=telemetry,  # type: ignore[arg-type]
                )
            )
        finally:
            if live is not None:
                live.stop()
        out.parent.mkdir(parents=True, exist_ok=True)
        import orjson

        out.write_bytes(orjson.dumps(done.report, option=orjson.OPT_INDENT_2) + b"\n")
        page = out.with_suffix(".html")
        page.write_text(done.html(), "utf-8")
        if as_json:
            dump(done.report)
        else:
            for item in done.report["checks"]:
                _echo(f"{item['outcome']:>8}  {item['id']:<17} {item.get('message', '')}")
            _echo(f"{done.outcome.upper()}: report {out}, page {page}")
        raise typer.Exit({"passed": 0, "failed": 1}.get(done.outcome, 3))

    @serving_app.command("saturate")
    def saturate(
        contract: ContractOption,
        endpoint: EndpointOption = None,
        low: Annotated[float, typer.Option(help="The lowest rate to try (requests/s).", min=0.1)] = 10.0,
        high: Annotated[float, typer.Option(help="The highest rate to try (requests/s).", min=0.1)] = 2000.0,
        duration: Annotated[float, typer.Option(help="Seconds of each trial run.", min=1)] = 10.0,
        workers: Annotated[int, typer.Option(help="Load-generator processes.", min=1, max=64)] = 1,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    ) -> None:
        """Find the highest open-loop rate at which the contract's latency targets and error budget still hold."""
        from aifabric._errors import AifabricError
        from aifabric.serving import load as loadgen
        from aifabric.serving.contract import load_contract
        from aifabric.serving.harness import load_evaluation, probe_request

        try:
            doc = load_contract(contract)
            evaluation = load_evaluation(doc, contract.resolve().parent)
        except AifabricError as exc:
            die(str(exc), 2)
        url = endpoint or doc.endpoint.url
        if not url:
            die("give --endpoint URL (the contract names none)", 2)
        if not doc.latency:
            die("the contract states no latency targets to saturate against", 2)
        targets = [loadgen.LatencyTarget(t.metric, float(t.percentile), t.max_ms / 1000) for t in doc.latency]
        budget = float(doc.error_budget.max_error_rate) if doc.error_budget else 0.01

        async def search() -> Any:
            requests = [r for r, _ in evaluation] or [await probe_request(doc, url, float(doc.load.timeout_s))]
            return await loadgen.saturate(
                url,
                requests,
                targets=targets,
                low=low,
                high=high,
                duration=duration,
                seed=doc.load.seed,
                workers=workers,
                max_error_rate=budget,
            )

        found = run(search())
        trials = [
            {
                "rate": r.rate,
                "ok": r.ok,
                "requests": len(r.samples),
                "keptUp": r.kept_up,
                **{
                    f"p{t.percentile * 100:g}{t.kind}Ms": round(r.percentile(t.kind, t.percentile) * 1e3, 3)
                    for t in targets
                    if r.latencies(t.kind)
                },
            }
            for r in found.runs
        ]
        if as_json:
            dump({"bestRate": found.best_rate, "reason": found.reason, "trials": trials})
        else:
            for trial in trials:
                _echo("  ".join(f"{k}={v}" for k, v in trial.items()))
            best = "none" if found.best_rate is None else f"{found.best_rate:g} requests/s"
            _echo(f"highest rate meeting the targets: {best} ({found.reason})")
        raise typer.Exit(0 if found.best_rate is not None else 1)


def _echo(text: str) -> None:
    from aifabric._cli import _printable

    typer.echo(_printable(text), err=False)
    sys.stdout.flush()


class _LiveView:
    """A status line on the terminal during the load run: requests, failures, latency and send lag so far."""

    def __init__(self, planned: float) -> None:
        self.planned = planned
        self.samples: list[Any] = []
        self._live: Any = None
        self._started = 0.0

    def add(self, sample: Any) -> None:
        self.samples.append(sample)

    def _line(self) -> str:
        from aifabric.serving._stats import percentile

        recent = self.samples[-2000:]
        failed = sum(not s.ok for s in self.samples)
        e2e = sorted(s.done - s.scheduled for s in recent if s.ok)
        lag = sorted(s.sent - s.scheduled for s in recent)
        p99 = f"{percentile(e2e, 0.99) * 1e3:.1f} ms" if e2e else "-"
        lag99 = f"{percentile(lag, 0.99) * 1e3:.2f} ms" if lag else "-"
        elapsed = min(self.planned, time.monotonic() - self._started)
        return (
            f"  {elapsed:5.1f}/{self.planned:g} s  {len(self.samples)} requests  {failed} failed  "
            f"e2e p99 {p99}  send lag p99 {lag99}"
        )

    def start(self) -> None:
        from rich.console import Console
        from rich.live import Live
        from rich.text import Text

        self._started = time.monotonic()

        class _Line:
            def __rich__(inner) -> Text:  # noqa: N805 - the view renders itself on each refresh
                return Text(self._line())

        self._live = Live(_Line(), console=Console(stderr=True), refresh_per_second=4, transient=True)
        self._live.start()

    def stop(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None
