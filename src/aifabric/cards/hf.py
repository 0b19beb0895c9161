"""Model cards to and from a Hugging Face ``README.md``: YAML front matter with ``model-index``, and Markdown.

:func:`to_hf` writes the front matter fields the Hub reads (``license``, ``language``, ``library_name``,
``pipeline_tag``, ``tags``, ``datasets``, ``base_model`` and ``base_model_relation``, ``metrics``,
``model-index`` and ``co2_eq_emissions``) and a body with the sections of the Hub's card template. A result
whose metric has a ``slice`` is named ``"<metric> (slice: <slice>)"``.

What those fields and the body cannot give back exactly goes under one front matter key, ``aifabric``: the
card's members that a reading of the rest does not reproduce, in the card's own layout. A list of objects
as long as the one read holds one remainder per item (``{}`` for an item read whole); a ``null`` removes a
member the reading made up. Each such member is also named in ``lost``: Hugging Face tools do not read it.
``embed=False`` leaves the key out.

:func:`from_hf` reads a ``README.md`` back: the fields above, the description, direct uses, out-of-scope uses
and limitations from the body, then the ``aifabric`` key over them. A card written by anyone else has no such
key; what it holds that a card has no place for is named in ``lost``.

Examples:
    >>> from aifabric.cards.hf import from_hf, to_hf
    >>> card = {
    ...     "schemaURL": "https://aifabric.dev/schemas/model-card/1.0.0.json",
    ...     "producer": "https://example.com/me",
    ...     "model": {"name": "acme/tiny", "version": "1.0.0", "description": "A tiny model.",
    ...               "task": "text-classification", "license": "Apache-2.0", "tags": ["demo"]},
    ...     "intendedUse": {"primaryUses": ["Sorting film reviews."]},
    ...     "evaluation": [{"task": "text-classification", "dataset": {"name": "imdb", "split": "test"},
    ...                     "metric": "accuracy", "value": 0.93}],
    ... }
    >>> readme = to_hf(card)
    >>> print(readme.document.split("---")[1].split("aifabric:")[0].strip())
    license: apache-2.0
    pipeline_tag: text-classification
    tags:
    - demo
    metrics:
    - accuracy
    model-index:
    - name: acme/tiny
      results:
      - task:
          type: text-classification
        dataset:
          name: imdb
          type: imdb
          split: test
        metrics:
        - type: accuracy
          value: 0.93
    >>> readme.lost
    ['/producer: no place in Hugging Face metadata; kept under the aifabric key', \
'/model/version: no place in Hugging Face metadata; kept under the aifabric key']
    >>> from_hf(readme.document).document == card
    True
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

from aifabric._errors import DocumentError, Problem, ValidationError
from aifabric.cards._mapped import (
    PRODUCER,
    SCHEMA_URL,
    Mapped,
    card_json,
    diff,
    merge,
    pointer,
    remainder_pointers,
    validated,
)

__all__ = ["EXTENSION_KEY", "HF_RELATIONS", "from_hf", "to_hf"]

EXTENSION_KEY: Final = "aifabric"
"""The front matter key that holds what the Hugging Face fields cannot."""

HF_RELATIONS: Final = ("adapter", "merge", "quantized", "finetune")
"""The values of ``base_model_relation`` the Hub knows."""

# SPDX license ids whose Hugging Face id is their lower-case form (https://huggingface.co/docs/hub/repositories-licenses)
_SAME_IDS: Final = [
    "AFL-3.0",
    "Apache-2.0",
    "Artistic-2.0",
    "BSL-1.0",
    "BSD-2-Clause",
    "BSD-3-Clause",
    "BSD-3-Clause-Clear",
    "CC0-1.0",
    "CC-BY-2.0",
    "CC-BY-2.5",
    "CC-BY-3.0",
    "CC-BY-4.0",
    "CC-BY-SA-3.0",
    "CC-BY-SA-4.0",
    "CC-BY-NC-2.0",
    "CC-BY-NC-3.0",
    "CC-BY-NC-4.0",
    "CC-BY-ND-4.0",
    "CC-BY-NC-ND-3.0",
    "CC-BY-NC-ND-4.0",
    "CC-BY-NC-SA-2.0",
    "CC-BY-NC-SA-3.0",
    "CC-BY-NC-SA-4.0",
    "CDLA-Sharing-1.0",
    "CDLA-Permissive-1.0",
    "CDLA-Permissive-2.0",
    "WTFPL",
    "ECL-2.0",
    "EPL-1.0",
    "EPL-2.0",
    "etalab-2.0",
    "EUPL-1.1",
    "EUPL-1.2",
    "ISC",
    "LPPL-1.3c",
    "MS-PL",
    "MPL-2.0",
    "ODC-By-1.0",
    "ODbL-1.0",
    "OSL-3.0",
    "PostgreSQL",
    "OFL-1.1",
    "NCSA",
    "Unlicense",
    "Zlib",
    "PDDL-1.0",
    "MIT",
]
_SPDX_TO_HF: Final[dict[str, str]] = {
    **{spdx: spdx.lower() for spdx in _SAME_IDS},
    "ODC-By-1.0": "odc-by",
    "ODbL-1.0": "odbl",
    "PDDL-1.0": "pddl",
    "AGPL-3.0-only": "agpl-3.0",
    "GPL-2.0-only": "gpl-2.0",
    "GPL-3.0-only": "gpl-3.0",
    "LGPL-2.1-only": "lgpl-2.1",
    "LGPL-3.0-only": "lgpl-3.0",
}
_HF_TO_SPDX: Final = {hf: spdx for spdx, hf in _SPDX_TO_HF.items()}
_STRING_FIELDS: Final = ("license", "license_name", "license_link", "library_name", "pipeline_tag")
_LIST_FIELDS: Final = ("language", "tags", "datasets", "base_model", "metrics")
_READ_FIELDS: Final = {
    *_STRING_FIELDS,
    *_LIST_FIELDS,
    "base_model_relation",
    "model-index",
    "co2_eq_emissions",
    "model_name",
    EXTENSION_KEY,
}
_FILLED: Final = frozenset({"/schemaURL", "/producer", "/model/version"})
_WRITTEN: Final = _READ_FIELDS - {"model_name", EXTENSION_KEY}
_FRONT: Final = re.compile(
    r"\A\s*---[ \t]*\r?\n(?P<yaml>.*?)(?:\r?\n)?^---[ \t]*(?:\r?\n|\Z)", re.DOTALL | re.MULTILINE
)
_NO_INFO: Final = "[More Information Needed]"
_NO_USE: Final = "Not stated in the Hugging Face model card."
_UNKNOWN_VERSION: Final = "unknown"
_ASSUMED_RELATION: Final = "finetune"


def to_hf(card: Any, *, embed: bool = True) -> Mapped[str]:
    """The card as a Hugging Face ``README.md``: front matter and Markdown body.

    Args:
        card: the card's JSON form, or an object with ``to_json()``.
        embed: keep what the Hub has no field for under the ``aifabric`` front matter key.
    """
    import yaml

    doc = card_json(card)
    front, lost = _front_matter(doc)
    body = _body(doc)
    base, _ = _read(front, body, source="<export>")
    remainder = diff(doc, base)
    how = "kept under the aifabric key" if embed else "left out"
    for where, read in remainder_pointers(remainder, base):
        other_form = read and where not in _FILLED
        reason = "Hugging Face metadata holds it only in another form" if other_form else "no place in Hugging Face"
        lost.append(f"{where}: {reason if other_form else reason + ' metadata'}; {how}")
    if embed and remainder:
        front[EXTENSION_KEY] = remainder
    text = yaml.dump(front, Dumper=_Dumper(), sort_keys=False, allow_unicode=True, width=120) if front else ""
    return Mapped(f"---\n{text}---\n\n{body}", lost)


def from_hf(text_or_path: str | Path, *, version: str = "0.0.0") -> Mapped[dict[str, Any]]:
    """A card from a Hugging Face ``README.md`` (its text, or a path to it).

    Args:
        text_or_path: the README text; a :class:`~pathlib.Path`, or a one-line string naming a file, is read.
        version: the model version when the README has none (Hugging Face has no field for it).

    Raises:
        DocumentError: the file cannot be read or its front matter is not YAML.
        ValidationError: a front matter field of the wrong type (each problem names its pointer in the front
            matter), or a card that is not valid.
    """
    text, source = _text_of(text_or_path)
    front_text, body = _split(text)
    front = _load_front(front_text, source)
    _check(front, source)
    card, lost = _read(front, body, source=source, version=version)
    extension = front.get(EXTENSION_KEY)
    if extension:
        card = merge(card, extension)
        lost = [line for line in lost if not _covered(line)]
    return Mapped(validated(card, source=source), lost)


def _Dumper() -> Any:  # noqa: N802 - a class factory, so that yaml loads only when used
    """A safe dumper that double-quotes text with line breaks YAML folds (NEL, LS, PS) so that they come back."""
    import yaml

    class Dumper(yaml.SafeDumper):
        pass

    def text(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
        style = '"' if any(c in value for c in "\x85\u2028\u2029\r") else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    Dumper.add_representer(str, text)
    return Dumper


# --- writing ------------------------------------------------------------------------------------------------


def _hf_license(expression: str) -> str | None:
    """The Hugging Face license id of an SPDX expression, when there is one."""
    return _SPDX_TO_HF.get(expression.strip()) or _SPDX_TO_HF.get(expression.strip().removesuffix("-only"))


def _front_matter(doc: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    model = doc.get("model") or {}
    front: dict[str, Any] = {}
    lost: list[str] = []
    license_ = model.get("license")
    if isinstance(license_, str):
        hf = _hf_license(license_)
        if hf:
            front["license"] = hf
        else:
            front["license"] = "other"
            front["license_name"] = re.sub(r"[^a-z0-9.]+", "-", license_.lower()).strip("-") or "other"
            if re.fullmatch(r"[A-Za-z0-9.+-]+", license_) and not license_.startswith("LicenseRef-"):
                front["license_link"] = f"https://spdx.org/licenses/{license_}.html"
    if model.get("languages"):
        front["language"] = list(model["languages"])
    if model.get("framework"):
        front["library_name"] = model["framework"]
    if model.get("task"):
        front["pipeline_tag"] = model["task"]
    if model.get("tags"):
        front["tags"] = list(model["tags"])
    names = [d["name"] for d in doc.get("trainingData") or [] if isinstance(d, dict) and "name" in d]
    if names:
        front["datasets"] = names
    bases = [b for b in model.get("baseModel") or [] if isinstance(b, dict) and "name" in b]
    if bases:
        front["base_model"] = bases[0]["name"] if len(bases) == 1 else [b["name"] for b in bases]
        relations = {b.get("relation") for b in bases}
        if len(relations) == 1 and (relation := relations.pop()) in HF_RELATIONS:
            front["base_model_relation"] = relation
    evaluation = [e for e in doc.get("evaluation") or [] if isinstance(e, dict)]
    metrics = list(dict.fromkeys(e["metric"] for e in evaluation if isinstance(e.get("metric"), str)))
    if metrics:
        front["metrics"] = metrics
    results = [_result(e) for e in evaluation if _exportable(e)]
    if results and model.get("name"):
        front["model-index"] = [{"name": model["name"], "results": results}]
    training = (doc.get("energy") or {}).get("training") or {}
    if isinstance(training.get("co2eKg"), int | float):
        co2: dict[str, Any] = {"emissions": training["co2eKg"] * 1000}
        if training.get("hardware"):
            co2["hardware_used"] = training["hardware"]
        front["co2_eq_emissions"] = co2
    return front, lost


def _exportable(entry: dict[str, Any]) -> bool:
    dataset = entry.get("dataset") or {}
    return all(isinstance(v, str) for v in (entry.get("task"), entry.get("metric"), dataset.get("name"))) and (
        isinstance(entry.get("value"), int | float) and not isinstance(entry.get("value"), bool)
    )


def _result(entry: dict[str, Any]) -> dict[str, Any]:
    dataset = entry["dataset"]
    out_dataset = {"name": dataset["name"], "type": dataset["name"]}
    if isinstance(dataset.get("split"), str):
        out_dataset["split"] = dataset["split"]
    metric: dict[str, Any] = {"type": entry["metric"], "value": entry["value"]}
    if isinstance(entry.get("slice"), str):
        metric["name"] = f"{entry['metric']} (slice: {entry['slice']})"
    return {"task": {"type": entry["task"]}, "dataset": out_dataset, "metrics": [metric]}


def _items(lines: list[str]) -> list[str]:
    return [f"- {_one_line(line)}" for line in lines]


def _one_line(value: Any) -> str:
    return " ".join(str(value).split())


def _body(doc: dict[str, Any]) -> str:
    model = doc.get("model") or {}
    use = doc.get("intendedUse") or {}
    name = model.get("name", "Model ID")
    out = [f"# Model Card for {_one_line(name)}", ""]
    description = model.get("description")
    out += ["## Model Details", "", "### Model Description", ""]
    if isinstance(description, str) and description.strip():
        out += [description.strip(), ""]
    facts = {
        "Developed by": ", ".join(
            str(a.get("displayName") or a.get("id")) for a in model.get("authors") or [] if isinstance(a, dict)
        ),
        "Model type": " / ".join(str(model[k]) for k in ("type", "architecture") if model.get(k)),
        "Version": model.get("version"),
        "Language(s) (NLP)": ", ".join(map(str, model.get("languages") or [])),
        "License": model.get("license"),
        "Finetuned from model": ", ".join(
            f"{b.get('name')} {b.get('version', '')}".strip()
            for b in model.get("baseModel") or []
            if isinstance(b, dict)
        ),
    }
    out += [f"- **{key}:** {_one_line(value)}" for key, value in facts.items() if value] + [""]
    artifacts = [a for a in model.get("artifacts") or [] if isinstance(a, dict)]
    if artifacts:
        out += ["### Model Sources", ""]
        out += [f"- **{_one_line(a.get('name'))}:** {_one_line(a.get('uri', ''))}" for a in artifacts] + [""]
    out += ["## Uses", "", "### Direct Use", ""]
    out += [*_items(use.get("primaryUses") or []), ""]
    if use.get("primaryUsers"):
        out += ["#### Intended Users", "", *_items(use["primaryUsers"]), ""]
    out += ["### Out-of-Scope Use", "", *_items(use.get("outOfScope") or []), ""]
    out += ["## Bias, Risks, and Limitations", "", *_items(use.get("limitations") or []), ""]
    risks = doc.get("risks") or {}
    if risks:
        out += ["### Risk Assessment", ""]
        if risks.get("level"):
            out += [f"Overall risk level: **{_one_line(risks['level'])}**.", ""]
        rows = [r for r in risks.get("assessments") or [] if isinstance(r, dict)]
        if rows:
            out += ["| Taxonomy | ID | Level | Description | Mitigations |", "| --- | --- | --- | --- | --- |"]
            out += [
                "| "
                + " | ".join(
                    _cell(v)
                    for v in (
                        r.get("taxonomy"),
                        r.get("id"),
                        r.get("level"),
                        r.get("description"),
                        r.get("mitigations"),
                    )
                )
                + " |"
                for r in rows
            ]
            out.append("")
    out += ["## Training Details", "", "### Training Data", ""]
    for data in doc.get("trainingData") or []:
        if isinstance(data, dict):
            out += [f"- **{_one_line(data.get('name'))}**"]
            out += [
                f"  - {label}: {_one_line(data[key])}"
                for key, label in (("split", "Split"), ("collection", "Collection"), ("uri", "Location"))
                if data.get(key)
            ]
            out += [f"  - Known bias: {_one_line(bias)}" for bias in data.get("knownBias") or []]
    out.append("")
    for data in doc.get("trainingData") or []:
        if isinstance(data, dict) and data.get("preprocessing"):
            out += ["#### Preprocessing", "", _one_line(data["preprocessing"]), ""]
            break
    if doc.get("changeLog"):
        out += ["### Change Log", ""]
        out += [
            f"- {_one_line(c.get('date', ''))} (from {_one_line(c.get('base', '?'))}): {_one_line(c.get('reason', ''))}"
            for c in doc["changeLog"]
            if isinstance(c, dict)
        ] + [""]
    out += ["## Evaluation", "", "### Results", ""]
    rows = [e for e in doc.get("evaluation") or [] if isinstance(e, dict)]
    if rows:
        out += [
            "| Task | Dataset | Split | Metric | Value | Slice | 95% CI |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for e in rows:
            ds = e.get("dataset") or {}
            ci = e.get("confidenceInterval") or {}
            interval = f"{ci.get('lower')} to {ci.get('upper')}" if ci else ""
            cells = (e.get("task"), ds.get("name"), ds.get("split"), e.get("metric"), e.get("value"), e.get("slice"))
            out.append("| " + " | ".join(_cell(v) for v in (*cells, interval)) + " |")
        out.append("")
    summary = (doc.get("quantitativeAnalysis") or {}).get("summary")
    if summary:
        out += ["#### Summary", "", _one_line(summary), ""]
    if doc.get("redTeam"):
        out += ["### Red Teaming", ""]
        for run in doc["redTeam"]:
            if isinstance(run, dict):
                out.append(f"- {_one_line(run.get('protocol', ''))}")
                out += [
                    f"  - {_one_line(f.get('severity', ''))}: {_one_line(f.get('description', ''))}"
                    + (f" Mitigation: {_one_line(f['mitigation'])}" if f.get("mitigation") else "")
                    for f in run.get("findings") or []
                    if isinstance(f, dict)
                ]
        out.append("")
    energy = doc.get("energy") or {}
    if energy:
        out += ["## Environmental Impact", ""]
        for phase in ("training", "inference"):
            use_ = energy.get(phase) or {}
            if isinstance(use_, dict) and "value" in use_:
                per = f" per {use_['per']}" if use_.get("per") else ""
                out.append(f"- **{phase.capitalize()} energy:** {use_['value']} {use_.get('unit', 'kWh')}{per}")
                if use_.get("hardware"):
                    out.append(f"- **Hardware Type ({phase}):** {_one_line(use_['hardware'])}")
                if "co2eKg" in use_:
                    out.append(f"- **Carbon Emitted ({phase}):** {use_['co2eKg']} kg CO2eq")
        out.append("")
    if model.get("architecture") or model.get("framework"):
        out += ["## Technical Specifications", ""]
        if model.get("architecture"):
            out += ["### Model Architecture and Objective", "", _one_line(model["architecture"]), ""]
        if model.get("framework"):
            out += ["### Software", "", _one_line(model["framework"]), ""]
    evidence = [e for e in doc.get("evidence") or [] if isinstance(e, dict)]
    if evidence:
        out += [
            "## Compliance Evidence",
            "",
            "| Framework | Point | Sections | Documents |",
            "| --- | --- | --- | --- |",
        ]
        out += [
            "| "
            + " | ".join(
                _cell(v)
                for v in (
                    e.get("framework"),
                    e.get("id"),
                    e.get("sections"),
                    [d.get("name") for d in e.get("documents") or [] if isinstance(d, dict)],
                )
            )
            + " |"
            for e in evidence
        ]
        out.append("")
    contacts = [a["email"] for a in model.get("authors") or [] if isinstance(a, dict) and a.get("email")]
    if contacts:
        out += ["## Model Card Contact", "", ", ".join(map(_one_line, contacts)), ""]
    return "\n".join(out)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return "; ".join(_cell(v) for v in value)
    return _one_line(value).replace("|", "\\|")


# --- reading ------------------------------------------------------------------------------------------------


def _text_of(text_or_path: str | Path) -> tuple[str, str]:
    if isinstance(text_or_path, str) and ("\n" in text_or_path or not text_or_path.strip()):
        return text_or_path, "<README.md>"
    path = Path(text_or_path)
    if isinstance(text_or_path, str):
        try:
            is_file = path.is_file()
        except (OSError, ValueError):
            is_file = False
        if not is_file:
            return text_or_path, "<README.md>"
    try:
        return path.read_text(encoding="utf-8").removeprefix("\ufeff"), str(path)
    except UnicodeDecodeError:
        raise DocumentError("not UTF-8", source=str(path)) from None
    except OSError as exc:
        raise DocumentError(f"cannot read: {exc.strerror or exc}", source=str(path)) from None


def _split(text: str) -> tuple[str | None, str]:
    found = _FRONT.match(text)
    if not found:
        return None, text
    return found.group("yaml"), text[found.end() :]


def _load_front(front_text: str | None, source: str) -> dict[str, Any]:
    import yaml

    if front_text is None:
        return {}
    try:
        loaded = yaml.safe_load(front_text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 2} column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise DocumentError(f"front matter is not YAML: {problem}{where}", source=source) from None
    except RecursionError:
        raise DocumentError("front matter nested too deep", source=source, rule="maxDepth") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ValidationError(
            [Problem("", "type", f"front matter is a YAML mapping, not {_kind(loaded)}", source)], source=source
        )
    return card_json(loaded)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return f"a number ({value!r})"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _check(front: dict[str, Any], source: str) -> None:
    """Every front matter field this module reads has the type the Hub gives it."""
    problems: list[Problem] = []

    def bad(where: str, wanted: str, value: Any) -> None:
        problems.append(Problem(where, "type", f"expected {wanted}, got {_kind(value)}", source))

    def is_text(value: Any) -> bool:
        return isinstance(value, str)

    for key in (*_STRING_FIELDS, "base_model_relation", "model_name"):
        if key in front and not is_text(front[key]):
            bad(pointer(key), "a string", front[key])
    for key in _LIST_FIELDS:
        value = front.get(key)
        if key in front and not (is_text(value) or (isinstance(value, list) and all(map(is_text, value)))):
            bad(pointer(key), "a string or a list of strings", value)
    co2 = front.get("co2_eq_emissions")
    if "co2_eq_emissions" in front and not _is_number(co2):
        if not isinstance(co2, dict):
            bad("/co2_eq_emissions", "a number of grams or a mapping with emissions", co2)
        elif "emissions" in co2 and not _is_number(co2["emissions"]):
            bad("/co2_eq_emissions/emissions", "a number of grams", co2["emissions"])
    if EXTENSION_KEY in front and not isinstance(front[EXTENSION_KEY], dict):
        bad(pointer(EXTENSION_KEY), "a mapping", front[EXTENSION_KEY])
    if "model-index" in front:
        index = front["model-index"]
        if not isinstance(index, list):
            bad("/model-index", "a list of models, each with name and results", index)
            index = []
        for i, entry in enumerate(index):
            at = f"/model-index/{i}"
            if not isinstance(entry, dict):
                bad(at, "a mapping with name and results", entry)
                continue
            if not is_text(entry.get("name")):
                bad(f"{at}/name", "a string", entry.get("name"))
            results = entry.get("results")
            if not isinstance(results, list):
                bad(f"{at}/results", "a list", results)
                continue
            for j, result in enumerate(results):
                _check_result(result, f"{at}/results/{j}", bad)
    if problems:
        raise ValidationError(problems, source=source)


def _check_result(result: Any, at: str, bad: Any) -> None:
    if not isinstance(result, dict):
        bad(at, "a mapping with task, dataset and metrics", result)
        return
    for part, needed in (("task", ("type",)), ("dataset", ("type", "name"))):
        value = result.get(part)
        if not isinstance(value, dict):
            bad(f"{at}/{part}", "a mapping", value)
            continue
        for key in needed:
            if not isinstance(value.get(key), str):
                bad(f"{at}/{part}/{key}", "a string", value.get(key))
        for key in ("name", "split", "config", "revision"):
            if key in value and value[key] is not None and not isinstance(value[key], str | int | float):
                bad(f"{at}/{part}/{key}", "a string", value[key])
    metrics = result.get("metrics")
    if not isinstance(metrics, list):
        bad(f"{at}/metrics", "a list", metrics)
        return
    for k, metric in enumerate(metrics):
        if not isinstance(metric, dict):
            bad(f"{at}/metrics/{k}", "a mapping with type and value", metric)
            continue
        if not isinstance(metric.get("type"), str):
            bad(f"{at}/metrics/{k}/type", "a string", metric.get("type"))
        if "value" not in metric or not (_is_number(metric["value"]) or isinstance(metric["value"], str)):
            bad(f"{at}/metrics/{k}/value", "a number", metric.get("value"))


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else [str(v) for v in value]


def _spdx(front: dict[str, Any], lost: list[str]) -> str | None:
    license_ = front.get("license")
    if license_ is None:
        return None
    if license_ == "other":
        name = front.get("license_name")
        if not name:
            lost.append("/license: 'other' with no license_name; the card has no license")
            return None
        link = front.get("license_link")
        if isinstance(link, str) and (m := re.fullmatch(r"https://spdx\.org/licenses/([A-Za-z0-9.+-]+)\.html", link)):
            return m.group(1)
        if link:
            lost.append("/license_link: no place in a model card")
        return "LicenseRef-" + (re.sub(r"[^A-Za-z0-9.]+", "-", name).strip("-") or "other")
    for key in ("license_name", "license_link"):
        if key in front:
            lost.append(f"/{key}: no place in a model card beside an SPDX license")
    if license_ == "unknown":
        return "NOASSERTION"
    return _HF_TO_SPDX.get(license_) or "LicenseRef-" + (re.sub(r"[^A-Za-z0-9.]+", "-", license_).strip("-") or "hf")


def _read(front: dict[str, Any], body: str, *, source: str, version: str = "0.0.0") -> tuple[dict[str, Any], list[str]]:
    """The card that the Hugging Face fields and body give, without the ``aifabric`` key."""
    lost = [f"{pointer(key)}: no place in a model card" for key in front if key not in _READ_FIELDS]
    title, sections = _sections(body)
    index = front.get("model-index") or []
    name = (index[0].get("name") if index else None) or front.get("model_name") or title
    if not name:
        raise ValidationError(
            [Problem("/model-index/0/name", "required", "no model name: no model-index, no '# Model Card for' title")],
            source=source,
        )
    model: dict[str, Any] = {"name": name, "version": version}
    description = _prose(sections.get("model description")) or _prose(sections.get("#lead"))
    if description:
        model["description"] = description
    if "pipeline_tag" in front:
        model["task"] = front["pipeline_tag"]
    if "library_name" in front:
        model["framework"] = front["library_name"]
    license_ = _spdx(front, lost)
    if license_:
        model["license"] = license_
    bases = _as_list(front.get("base_model"))
    relation = front.get("base_model_relation")
    if bases:
        if relation not in HF_RELATIONS:
            lost.append(f"/base_model_relation: not stated or not known; {_ASSUMED_RELATION!r} assumed")
        relation = relation if relation in HF_RELATIONS else _ASSUMED_RELATION
        model["baseModel"] = [{"name": b, "version": _UNKNOWN_VERSION, "relation": relation} for b in bases]
        lost.append(f"/base_model: Hugging Face gives no version of a base model; {_UNKNOWN_VERSION!r} set")
    elif relation:
        lost.append("/base_model_relation: no base_model to relate to")
    if "language" in front:
        model["languages"] = _as_list(front["language"])
    if "tags" in front:
        model["tags"] = _as_list(front["tags"])
    card: dict[str, Any] = {"schemaURL": SCHEMA_URL, "producer": PRODUCER, "model": model}
    use = {
        key: items
        for key, heading in (
            ("primaryUses", "direct use"),
            ("outOfScope", "out-of-scope use"),
            ("limitations", "bias, risks, and limitations"),
        )
        if (items := _bullets(sections.get(heading)))
    }
    if "primaryUses" not in use:
        use = {"primaryUses": [_NO_USE], **use}
        lost.append(f"/(Direct Use): the README states no direct use; {_NO_USE!r} set")
    card["intendedUse"] = use
    datasets = _as_list(front.get("datasets"))
    if datasets:
        card["trainingData"] = [{"name": d} for d in datasets]
    evaluation: list[dict[str, Any]] = []
    for i, entry in enumerate(index):
        if i > 0:
            lost.append(f"/model-index/{i}: a second model; the card describes one")
            continue
        for j, result in enumerate(entry.get("results") or []):
            evaluation += _evaluations(result, f"/model-index/{i}/results/{j}", lost)
    if evaluation:
        card["evaluation"] = evaluation
    used = {e["metric"] for e in evaluation}
    lost += [
        f"/metrics/{n}: a metric with no result; the card keeps metrics with their results"
        for n, metric in enumerate(_as_list(front.get("metrics")))
        if metric not in used
    ]
    if "co2_eq_emissions" in front:
        lost.append("/co2_eq_emissions: the card keeps CO2 beside the energy used, which Hugging Face lacks")
    return card, lost


def _evaluations(result: dict[str, Any], at: str, lost: list[str]) -> list[dict[str, Any]]:
    dataset = result["dataset"]
    out_dataset: dict[str, Any] = {"name": str(dataset["type"])}
    if dataset.get("split") is not None:
        out_dataset["split"] = str(dataset["split"])
    lost += [
        f"{at}/dataset/{key}: no place in a model card"
        for key in dataset
        if key not in {"type", "name", "split"} and dataset[key] is not None
    ]
    if dataset.get("name") not in (None, dataset["type"]):
        lost.append(f"{at}/dataset/name: the card names a dataset by its id (dataset.type)")
    if result["task"].get("name"):
        lost.append(f"{at}/task/name: no place in a model card")
    lost += [f"{at}/{key}: no place in a model card" for key in result if key not in {"task", "dataset", "metrics"}]
    out: list[dict[str, Any]] = []
    for k, metric in enumerate(result["metrics"]):
        value = metric["value"]
        if isinstance(value, str):
            try:
                number = Decimal(value.strip().rstrip("%")) / (100 if value.strip().endswith("%") else 1)
                value = float(number)
                if not math.isfinite(value):
                    raise ValueError(value)
            except (ValueError, ArithmeticError):
                lost.append(f"{at}/metrics/{k}: a value that is not a number ({value!r})")
                continue
        entry: dict[str, Any] = {"task": result["task"]["type"], "dataset": dict(out_dataset)}
        entry["metric"] = metric["type"]
        entry["value"] = value
        label = metric.get("name")
        prefix = f"{metric['type']} (slice: "
        if isinstance(label, str) and label.startswith(prefix) and label.endswith(")") and len(label) > len(prefix) + 1:
            entry["slice"] = label[len(prefix) : -1]
        elif label:
            lost.append(f"{at}/metrics/{k}/name: no place in a model card")
        lost += [
            f"{at}/metrics/{k}/{key}: no place in a model card"
            for key in metric
            if key not in {"type", "value", "name"} and metric[key] is not None
        ]
        out.append(entry)
    return out


def _covered(line: str) -> bool:
    """Whether a line of ``lost`` is about a field :func:`to_hf` writes (the ``aifabric`` key then rules)."""
    return line.split(":", 1)[0].split("/")[1] in _WRITTEN


_HEADING: Final = re.compile(r"^(?P<level>#{1,6})\s+(?P<text>.*?)\s*#*\s*$")


def _sections(body: str) -> tuple[str | None, dict[str, list[str]]]:
    """The first level-1 heading, and the body's lines under each heading (lower case, ``[optional]`` dropped).

    The lines between the title and the next heading are the section ``#lead``.
    """
    body = re.sub(r"<!--.*?-->", "", body, flags=re.DOTALL)
    title: str | None = None
    out: dict[str, list[str]] = {}
    current = "#preamble"
    for line in body.splitlines():
        heading = _HEADING.match(line)
        if heading:
            text = heading.group("text").replace("[optional]", "").strip()
            if heading.group("level") == "#" and title is None:
                title = re.sub(r"^Model Card for\s+", "", text) or None
                current = "#lead"
            else:
                current = text.lower()
            out.setdefault(current, [])
            continue
        out.setdefault(current, []).append(line)
    return title, out


def _paragraphs(lines: list[str] | None) -> list[str]:
    if not lines:
        return []
    text = "\n".join(lines)
    return [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip() and p.strip() != _NO_INFO]


def _prose(lines: list[str] | None) -> str | None:
    paragraphs = [p for p in _paragraphs(lines) if not p.startswith(("- ", "* ", "|", "!["))]
    return "\n\n".join(paragraphs) or None


def _bullets(lines: list[str] | None) -> list[str]:
    bullets = [line[2:].strip() for line in lines or [] if line.startswith(("- ", "* "))]
    bullets = [b for b in bullets if b and b != _NO_INFO]
    return bullets or [" ".join(p.split()) for p in _paragraphs(lines) if not p.startswith("|")]
