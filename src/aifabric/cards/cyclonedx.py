"""Model cards to CycloneDX 1.6 JSON: a ``machine-learning-model`` component with its ``modelCard``.

The JSON is written here, not through ``cyclonedx-python-lib``, which drops ``modelCard`` on a round trip. The
model is ``metadata.component``; each dataset (training and evaluation) is a ``data`` component in
``components`` that ``modelParameters.datasets`` refers to. Artifact digests become component hashes, base
models ``pedigree.ancestors``, evaluation results ``performanceMetrics``, intended use, limitations, risk
assessments, red-team findings and known biases ``considerations``, and energy use
``environmentalConsiderations.energyConsumptions`` (in kWh, CO2 in tonnes). Whatever else the card says is
named in ``lost``.

Examples:
    >>> from aifabric.cards.cyclonedx import to_cyclonedx
    >>> card = {
    ...     "model": {"name": "acme/tiny", "version": "1.0.0", "task": "text-classification", "type": "supervised",
    ...               "artifacts": [{"name": "model.bin", "digest": {"sha256": "ab" * 32}}]},
    ...     "intendedUse": {"primaryUses": ["Sorting reviews."]},
    ...     "evaluation": [{"task": "text-classification", "dataset": {"name": "imdb"}, "metric": "accuracy",
    ...                     "value": 0.93, "confidenceInterval": {"lower": 0.92, "upper": 0.94, "level": 0.95}}],
    ... }
    >>> bom = to_cyclonedx(card).document
    >>> model = bom["metadata"]["component"]
    >>> model["type"], model["hashes"][0]["alg"], model["modelCard"]["modelParameters"]["approach"]
    ('machine-learning-model', 'SHA-256', {'type': 'supervised'})
    >>> model["modelCard"]["quantitativeAnalysis"]["performanceMetrics"]
    [{'type': 'accuracy', 'value': '0.93', 'confidenceInterval': {'lowerBound': '0.92', 'upperBound': '0.94'}}]
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Final

from aifabric._version import __version__
from aifabric.cards._mapped import Mapped, card_json, pointer

__all__ = ["HASH_ALGORITHMS", "to_cyclonedx"]

HASH_ALGORITHMS: Final = {
    "md5": "MD5",
    "sha1": "SHA-1",
    "sha256": "SHA-256",
    "sha384": "SHA-384",
    "sha512": "SHA-512",
    "sha3-256": "SHA3-256",
    "sha3-384": "SHA3-384",
    "sha3-512": "SHA3-512",
    "blake2b-256": "BLAKE2b-256",
    "blake2b-384": "BLAKE2b-384",
    "blake2b-512": "BLAKE2b-512",
    "blake3": "BLAKE3",
}
"""Card digest algorithm names and the CycloneDX ``hash-alg`` each is."""

_APPROACHES: Final = ("supervised", "unsupervised", "reinforcement-learning", "semi-supervised", "self-supervised")
_ACTIVITIES: Final = {"training": "training", "finetuning": "fine-tuning", "inference": "inference"}
_TO_KWH: Final = {"kWh": 1.0, "MWh": 1000.0, "J": 1 / 3.6e6}
_WHOLE_LOST: Final = ("changeLog", "evidence", "signatures")
_REASON: Final = "no place in a CycloneDX 1.6 model card"


def to_cyclonedx(
    card: Any, *, serial_number: str | None = None, timestamp: dt.datetime | None = None
) -> Mapped[dict[str, Any]]:
    """The card as a CycloneDX 1.6 BOM (JSON form) whose subject is the model.

    Args:
        card: the card's JSON form, or an object with ``to_json()``.
        serial_number: the BOM's ``urn:uuid:`` serial number; a random one by default.
        timestamp: when the BOM was made; now by default.
    """
    doc = card_json(card)
    lost: list[str] = []
    model = doc.get("model") or {}
    model_ref = f"model:{model.get('name', 'model')}@{model.get('version', '')}"
    datasets: dict[str, dict[str, Any]] = {}
    for i, data in enumerate(doc.get("trainingData") or []):
        _dataset(data, datasets, pointer("trainingData", i), lost, training=True)
    component = _model_component(doc, model_ref, datasets, lost)
    for i, result in enumerate(doc.get("evaluation") or []):
        _dataset(result.get("dataset") or {}, datasets, pointer("evaluation", i, "dataset"), lost, training=False)
    for data_component in datasets.values():
        data_component.pop("_training", None)
    lost += [f"/{key}: {_REASON}" for key in _WHOLE_LOST if key in doc]
    when = (timestamp or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    bom: dict[str, Any] = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": serial_number or uuid.uuid4().urn,
        "version": 1,
        "metadata": {
            "timestamp": when,
            "tools": {"components": [{"type": "application", "name": "aifabric", "version": __version__}]},
            "component": component,
        },
    }
    if datasets:
        bom["components"] = list(datasets.values())
    return Mapped(bom, lost)


def _hashes(digest: Any, at: str, lost: list[str]) -> list[dict[str, str]]:
    out = []
    for algorithm, value in (digest or {}).items():
        if algorithm in HASH_ALGORITHMS:
            out.append({"alg": HASH_ALGORITHMS[algorithm], "content": value})
        else:
            lost.append(f"{at}/{pointer(algorithm)[1:]}: CycloneDX has no hash algorithm {algorithm!r}")
    return out


def _model_component(
    doc: dict[str, Any], ref: str, datasets: dict[str, dict[str, Any]], lost: list[str]
) -> dict[str, Any]:
    model = doc.get("model") or {}
    out: dict[str, Any] = {"type": "machine-learning-model", "bom-ref": ref, "name": model.get("name", "")}
    for key in ("version", "description"):
        if model.get(key):
            out[key] = model[key]
    artifacts = model.get("artifacts") or []
    if len(artifacts) == 1:
        out["hashes"] = _hashes(artifacts[0].get("digest"), "/model/artifacts/0/digest", lost)
    elif artifacts:
        out["components"] = [
            {
                "type": "file",
                "name": a["name"],
                "hashes": _hashes(a.get("digest"), f"/model/artifacts/{i}/digest", lost),
                **({"mime-type": a["mediaType"]} if a.get("mediaType") else {}),
            }
            for i, a in enumerate(artifacts)
        ]
    if model.get("license"):
        out["licenses"] = [{"expression": model["license"]}]
    authors = [
        {"name": a.get("displayName") or a.get("id", ""), **({"email": a["email"]} if a.get("email") else {})}
        for a in model.get("authors") or []
    ]
    if authors:
        out["authors"] = authors
    references = [
        {"type": "distribution", "url": a["uri"], "comment": a["name"], "hashes": _hashes(a.get("digest"), "", [])}
        for a in artifacts
        if a.get("uri")
    ]
    if references:
        out["externalReferences"] = references
    ancestors = []
    for i, base in enumerate(model.get("baseModel") or []):
        ancestor: dict[str, Any] = {"type": "machine-learning-model", "name": base["name"], "version": base["version"]}
        if base.get("digest"):
            ancestor["hashes"] = _hashes(base["digest"], f"/model/baseModel/{i}/digest", lost)
        if base.get("uri"):
            ancestor["externalReferences"] = [{"type": "distribution", "url": base["uri"]}]
        if base.get("relation"):
            ancestor["properties"] = [{"name": "aifabric:relation", "value": base["relation"]}]
        ancestors.append(ancestor)
    if ancestors:
        out["pedigree"] = {"ancestors": ancestors}
    if model.get("tags"):
        out["tags"] = list(dict.fromkeys(model["tags"]))
    lost += [
        f"/model/{key}: {_REASON}"
        for key in ("framework", "languages", "hyperparameters", "autonomyType", "explainability")
        if key in model
    ]
    if "mediaType" in (artifacts[0] if len(artifacts) == 1 else {}):
        lost.append(f"/model/artifacts/0/mediaType: {_REASON}")
    if len(artifacts) == 1 and "uri" not in artifacts[0]:
        lost.append(f"/model/artifacts/0/name: {_REASON} (one artifact is the model's own hashes)")
    for i, author in enumerate(model.get("authors") or []):
        kept = ("displayName", "email") if author.get("displayName") else ("id", "email")
        lost += [f"/model/authors/{i}/{key}: {_REASON}" for key in author if key not in kept]
    out["modelCard"] = _model_card(doc, datasets, lost)
    return out


def _model_card(doc: dict[str, Any], datasets: dict[str, dict[str, Any]], lost: list[str]) -> dict[str, Any]:
    model = doc.get("model") or {}
    parameters: dict[str, Any] = {}
    if model.get("type") in _APPROACHES:
        parameters["approach"] = {"type": model["type"]}
    elif model.get("type"):
        lost.append(f"/model/type: not a CycloneDX learning approach ({', '.join(_APPROACHES)})")
    if model.get("task"):
        parameters["task"] = model["task"]
    if model.get("architecture"):
        parameters["modelArchitecture"] = model["architecture"]
    refs = [{"ref": ref} for ref, component in datasets.items() if component.get("_training")]
    if refs:
        parameters["datasets"] = refs
    for key in ("inputs", "outputs"):
        if model.get(key):
            parameters[key] = [{"format": io["format"]} for io in model[key]]
            lost += [
                f"/model/{key}/{i}/description: {_REASON}" for i, io in enumerate(model[key]) if "description" in io
            ]
    card: dict[str, Any] = {}
    if parameters:
        card["modelParameters"] = parameters
    metrics = []
    for i, result in enumerate(doc.get("evaluation") or []):
        metric: dict[str, Any] = {"type": result["metric"], "value": _number(result["value"])}
        if result.get("slice"):
            metric["slice"] = result["slice"]
        interval = result.get("confidenceInterval")
        if interval:
            metric["confidenceInterval"] = {
                "lowerBound": _number(interval["lower"]),
                "upperBound": _number(interval["upper"]),
            }
            lost.append(f"/evaluation/{i}/confidenceInterval/level: {_REASON}")
        lost.append(f"/evaluation/{i}/task: {_REASON} (a performance metric names no task)")
        lost.append(f"/evaluation/{i}/dataset: {_REASON} (a performance metric names no dataset)")
        if "decisionThreshold" in result:
            lost.append(f"/evaluation/{i}/decisionThreshold: {_REASON}")
        metrics.append(metric)
    if metrics:
        card["quantitativeAnalysis"] = {"performanceMetrics": metrics}
    lost += [
        f"/quantitativeAnalysis/{key}: {_REASON} (it holds metrics and graphics)"
        for key in doc.get("quantitativeAnalysis") or {}
    ]
    considerations = _considerations(doc, lost)
    if considerations:
        card["considerations"] = considerations
    return card


def _considerations(doc: dict[str, Any], lost: list[str]) -> dict[str, Any]:
    use = doc.get("intendedUse") or {}
    out: dict[str, Any] = {}
    if use.get("primaryUsers"):
        out["users"] = list(use["primaryUsers"])
    if use.get("primaryUses"):
        out["useCases"] = list(use["primaryUses"])
    limitations = [*use.get("limitations", []), *(f"Out of scope: {item}" for item in use.get("outOfScope", []))]
    if limitations:
        out["technicalLimitations"] = limitations
    risks = doc.get("risks") or {}
    ethical = []
    for assessment in risks.get("assessments") or []:
        risk = {
            "name": f"{assessment['taxonomy']} {assessment['id']} ({assessment['level']}): {assessment['description']}"
        }
        if assessment.get("mitigations"):
            risk["mitigationStrategy"] = " ".join(assessment["mitigations"])
        ethical.append(risk)
    if "level" in risks:
        lost.append(f"/risks/level: {_REASON} (kept per assessment in each risk's name)")
    for i, run in enumerate(doc.get("redTeam") or []):
        for finding in run.get("findings") or []:
            risk = {"name": f"Red team ({finding['severity']}, {finding['status']}): {finding['description']}"}
            if finding.get("mitigation"):
                risk["mitigationStrategy"] = finding["mitigation"]
            ethical.append(risk)
        lost += [f"/redTeam/{i}/{key}: {_REASON}" for key in ("protocol", "date") if key in run]
    if ethical:
        out["ethicalConsiderations"] = ethical
    fairness = [{"harms": bias} for data in doc.get("trainingData") or [] for bias in data.get("knownBias") or []]
    if fairness:
        out["fairnessAssessments"] = fairness
    energy = []
    for phase, activity in _ACTIVITIES.items():
        use_ = (doc.get("energy") or {}).get(phase)
        if not use_:
            continue
        item: dict[str, Any] = {
            "activity": activity,
            "energyProviders": [],
            "activityEnergyCost": {"value": use_["value"] * _TO_KWH[use_.get("unit", "kWh")], "unit": "kWh"},
        }
        if "co2eKg" in use_:
            item["co2CostEquivalent"] = {"value": use_["co2eKg"] / 1000, "unit": "tCO2eq"}
        properties = [
            {"name": f"aifabric:{key}", "value": str(use_[key])} for key in ("per", "hardware") if key in use_
        ]
        if properties:
            item["properties"] = properties
        energy.append(item)
    if energy:
        out["environmentalConsiderations"] = {"energyConsumptions": energy}
    return out


def _dataset(
    data: dict[str, Any], datasets: dict[str, dict[str, Any]], at: str, lost: list[str], *, training: bool
) -> None:
    """Add a ``data`` component for a dataset, or mark the one already there as used in training."""
    name = data.get("name", "")
    ref = (
        f"dataset:{name}"
        + (f"@{data['version']}" if data.get("version") else "")
        + (f"#{data['split']}" if data.get("split") else "")
    )
    if ref in datasets:
        datasets[ref]["_training"] = datasets[ref].get("_training") or training
        return
    component: dict[str, Any] = {"type": "data", "bom-ref": ref, "name": name, "_training": training}
    if data.get("version"):
        component["version"] = data["version"]
    if data.get("digest"):
        component["hashes"] = _hashes(data["digest"], f"{at}/digest", lost)
    described: dict[str, Any] = {"type": "dataset", "name": name}
    if data.get("uri"):
        described["contents"] = {"url": data["uri"]}
    text = "\n\n".join(data[key] for key in ("collection", "preprocessing") if data.get(key))
    if data.get("split"):
        text = f"Split: {data['split']}." + (f"\n\n{text}" if text else "")
    if text:
        described["description"] = text
    personal = data.get("personalData") or {}
    if personal.get("present"):
        described["sensitiveData"] = [f"personal data: {c}" for c in personal.get("categories", [])] or [
            "personal data"
        ]
    component["data"] = [described]
    datasets[ref] = component
    lost += [f"{at}/{key}: {_REASON}" for key in ("lineage", "quality") if key in data]
    lost += [
        f"{at}/personalData/{key}: {_REASON}" for key in ("sensitive", "legalBasis", "measures") if key in personal
    ]
    if personal and not personal.get("present"):
        lost.append(f"{at}/personalData/present: {_REASON} (only personal data that is present is named)")


def _number(value: Any) -> str:
    return repr(value) if isinstance(value, float) else str(value)
