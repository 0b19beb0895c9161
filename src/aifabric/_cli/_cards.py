"""``aifabric card new|validate|render|check|export|import``: write, check, render and convert model cards."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from aifabric._cli._common import exiter, guard

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["STARTER", "register"]

STARTER = """\
# A starter model card: replace every TODO, then run `aifabric card check THIS-FILE --profile minimal`.
schemaURL: https://aifabric.dev/schemas/model-card/1.0.0.json
producer: {producer}
model:
  name: {name}
  version: {version}
  description: TODO what the model does, for people.
  license: Apache-2.0
intendedUse:
  primaryUses:
    - TODO the use the model was made for.
  outOfScope:
    - TODO a use the model is not for.
trainingData:
  - name: TODO the training dataset
    collection: TODO how the data was collected.
    personalData:
      present: false
evaluation:
  - task: TODO the task, such as text-classification
    dataset: {{name: TODO the evaluation dataset, split: test}}
    metric: accuracy
    value: 0.0
risks:
  level: low
evidence:
  - framework: eu-ai-act-annex-iv
    id: "1"
    sections: [/model, /intendedUse]
"""
"""What ``aifabric card new`` writes: a valid card holding the sections the minimal profile needs."""

FileArgument = Annotated[Path, typer.Argument(help="A model card (YAML or JSON).", show_default=False)]
OutOption = Annotated[Path | None, typer.Option("-o", "--output", help="Write here instead of stdout.")]


def register(app: typer.Typer, *, fail: Callable[[str, int], Any], dump: Callable[[Any], None]) -> None:
    """Add the ``card`` command group."""
    card_app = typer.Typer(help="Write, validate, render and check model cards.", no_args_is_help=True)
    app.add_typer(card_app, name="card")

    die = exiter(fail)
    guarded = guard(die, what="model card", extra="aifabric[spdx]")

    def emit(text: str, output: Path | None) -> None:
        if output is None:
            typer.echo(text, nl=False)
            return
        try:
            output.write_text(text, encoding="utf-8")
        except OSError as exc:
            die(f"{output}: cannot write: {exc.strerror or exc}", 2)
        typer.echo(f"wrote {output}", err=True)

    @card_app.command("new")
    @guarded
    def new(
        output: Annotated[Path, typer.Option("-o", "--output", help="Where to write the card.")] = Path(
            "model-card.yaml"
        ),
        name: Annotated[str, typer.Option(help="The model's name.")] = "acme/my-model",
        version: Annotated[str, typer.Option(help="The model's version.")] = "0.1.0",
        force: Annotated[bool, typer.Option(help="Overwrite an existing file.")] = False,
    ) -> None:
        """Write a starter card with the sections every profile asks for."""
        import json

        from aifabric.models.audit import PRODUCER
        from aifabric.models.cards import ModelCard

        if output.exists() and not force:
            die(f"{output}: exists; give --force to overwrite it", 2)
        text = STARTER.format(producer=PRODUCER, name=json.dumps(name), version=json.dumps(version))
        ModelCard.read(text)  # the starter is itself a valid card
        emit(text, output)

    @card_app.command("validate")
    @guarded
    def validate(cards: Annotated[list[Path], typer.Argument(help="Model cards (YAML or JSON).")]) -> None:
        """Validate cards against the schema and the consistency rules: exit 0 all valid, 1 any invalid."""
        from aifabric._errors import AifabricError, ValidationError
        from aifabric.cards import load_card

        bad = 0
        for path in cards:
            try:
                card = load_card(path)
            except ValidationError as exc:
                bad += 1
                for problem in exc.problems:
                    typer.echo(f"invalid {problem}", err=True)
                continue
            except AifabricError as exc:
                bad += 1
                typer.echo(f"invalid {exc}", err=True)
                continue
            typer.echo(f"valid   {path}: {card.model.name} {card.model.version}")
        if bad:
            die(f"{bad} of {len(cards)} cards invalid", 1)

    @card_app.command("render")
    @guarded
    def render(
        card: FileArgument,
        fmt: Annotated[str, typer.Option("--format", help="md or html.")] = "md",
        output: OutOption = None,
    ) -> None:
        """Render a card as Markdown or as one self-contained HTML page."""
        from aifabric.cards import load_card, render_html, render_markdown

        if fmt not in ("md", "html"):
            die(f"--format is md or html, not {fmt!r}", 2)
        loaded = load_card(card)
        emit(render_markdown(loaded) if fmt == "md" else render_html(loaded), output)

    @card_app.command("check")
    @guarded
    def check(
        card: FileArgument,
        profile: Annotated[str, typer.Option("--profile", help="eu-ai-act-high-risk, nist-ai-rmf or minimal.")],
    ) -> None:
        """Check a card for a profile: exit 0 complete, 1 evidence or sections missing (listed), 2 usage."""
        from aifabric.cards import completeness, load_card, profiles

        if profile not in profiles():
            die(f"--profile is one of {', '.join(profiles())}, not {profile!r}", 2)
        report = completeness(load_card(card), profile)
        for line in report.lines():
            typer.echo(f"{card}: {line}", err=True)
        if not report.complete:
            die(f"{card}: incomplete for {profile}: {len(report.lines())} missing", 1)
        terms = f" ({len(report.satisfied)} terms with evidence)" if report.satisfied else ""
        typer.echo(f"complete {card}: {profile}{terms}")

    @card_app.command("export")
    @guarded
    def export(
        card: FileArgument,
        to: Annotated[str, typer.Option("--to", help="hf, cyclonedx or spdx.")] = "hf",
        output: OutOption = None,
    ) -> None:
        """Write the card as the target format has it; what the target cannot hold goes to stderr."""
        import json

        from aifabric.cards import load_card

        if to not in ("hf", "cyclonedx", "spdx"):
            die(f"--to is hf, cyclonedx or spdx, not {to!r}", 2)
        loaded = load_card(card)
        lost: list[str]
        if to == "hf":
            from aifabric.cards.hf import to_hf

            readme = to_hf(loaded)
            text, lost = readme.document, readme.lost
        else:
            from aifabric.cards.cyclonedx import to_cyclonedx
            from aifabric.cards.spdx import to_spdx

            mapped = to_cyclonedx(loaded) if to == "cyclonedx" else to_spdx(loaded)
            text, lost = json.dumps(mapped.document, indent=2, ensure_ascii=False) + "\n", mapped.lost
        emit(text, output)
        for line in lost:
            typer.echo(f"not kept: {line}", err=True)

    @card_app.command("import")
    @guarded
    def import_(
        source: Annotated[Path, typer.Argument(help="A Hugging Face README.md.", show_default=False)],
        from_: Annotated[str, typer.Option("--from", help="hf (a Hugging Face README.md).")] = "hf",
        version: Annotated[str, typer.Option(help="The model version, which Hugging Face cards lack.")] = "0.0.0",
        output: OutOption = None,
    ) -> None:
        """Write a model card made from another format: YAML, or JSON when OUT ends in .json."""
        import json

        import yaml

        from aifabric.cards.hf import from_hf

        if from_ != "hf":
            die(f"--from is hf, not {from_!r}", 2)
        mapped = from_hf(source, version=version)
        if output is not None and output.suffix.lower() == ".json":
            emit(json.dumps(mapped.document, indent=2, ensure_ascii=False) + "\n", output)
        else:
            emit(yaml.safe_dump(mapped.document, sort_keys=False, allow_unicode=True), output)
        for line in mapped.lost:
            typer.echo(f"not kept: {line}", err=True)
