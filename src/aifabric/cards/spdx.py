"""Model cards to SPDX 3.0.1 with the AI and Dataset profiles, as JSON-LD made by ``spdx-python-model``.

The model is an ``ai_AIPackage`` (name, version, description, type of model, domain, metrics, limitations,
safety risk assessment, energy consumption, hyperparameters, autonomy, explainability, artifact hashes); each
dataset a ``dataset_DatasetPackage``; ``trainedOn`` and ``testedOn`` relationships join them, and
``hasConcludedLicense`` the license expression. What SPDX has no property for is named in ``lost``. It needs
the ``spdx-python-model`` package.

Examples:
    >>> from aifabric.cards.spdx import to_spdx
    >>> card = {"model": {"name": "acme/tiny", "version": "1.0.0", "type": "supervised"},
    ...         "intendedUse": {"primaryUses": ["Sorting reviews."]}, "risks": {"level": "low"}}
    >>> graph = to_spdx(card).document
    >>> [(o["type"], o["name"], o["ai_safetyRiskAssessment"]) for o in graph["@graph"] if o["type"] == "ai_AIPackage"]
    [('ai_AIPackage', 'acme/tiny', 'low')]
"""

from __future__ import annotations

import datetime as dt
import io
import json
import uuid
from typing import Any, Final

from aifabric.cards._mapped import Mapped, card_json

__all__ = ["to_spdx"]

_REASON: Final = "no place in an SPDX 3.0.1 AI package"
_HASHES: Final = {
    "md5": "md5",
    "sha1": "sha1",
    "sha256": "sha256",
    "sha384": "sha384",
    "sha512": "sha512",
    "sha3-256": "sha3_256",
    "sha3-384": "sha3_384",
    "sha3-512": "sha3_512",
    "blake2b-256": "blake2b256",
    "blake2b-384": "blake2b384",
    "blake2b-512": "blake2b512",
    "blake3": "blake3",
}
_LEVELS: Final = {"serious": "serious", "high": "high", "medium": "medium", "low": "low"}
_PHASES: Final = {
    "training": "ai_trainingEnergyConsumption",
    "finetuning": "ai_finetuningEnergyConsumption",
    "inference": "ai_inferenceEnergyConsumption",
}
_UNITS: Final = {"kWh": ("kilowattHour", 1.0), "MWh": ("kilowattHour", 1000.0), "J": ("megajoule", 1e-6)}


def to_spdx(card: Any, *, namespace: str | None = None, created: dt.datetime | None = None) -> Mapped[dict[str, Any]]:
    """The card as an SPDX 3.0.1 JSON-LD document (parsed), built and serialised by ``spdx-python-model``.

    Args:
        card: the card's JSON form, or an object with ``to_json()``.
        namespace: the IRI prefix of the element ids; a fresh ``urn:uuid:`` one by default.
        created: the creation time; now by default.

    Raises:
        ImportError: ``spdx-python-model`` is not installed.
    """
    try:
        from spdx_python_model import v3_0_1 as spdx
    except ImportError as exc:  # pragma: no cover - the tests have it
        raise ImportError("the SPDX export needs spdx-python-model: pip install 'aifabric[spdx]'") from exc
    doc = card_json(card)
    lost: list[str] = []
    base = (namespace or f"{uuid.uuid4().urn}").rstrip("#/") + "#"
    info = spdx.CreationInfo(specVersion="3.0.1", created=created or dt.datetime.now(dt.UTC))
    tool = spdx.Organization(spdxId=base + "aifabric", name="aifabric", creationInfo=info)
    info.createdBy = [tool]
    elements: list[Any] = [tool]
    model = doc.get("model") or {}
    package = spdx.ai_AIPackage(
        spdxId=base + "model",
        name=model.get("name", ""),
        creationInfo=info,
        software_primaryPurpose=spdx.software_SoftwarePurpose.model,
    )
    elements.append(package)
    if model.get("version"):
        package.software_packageVersion = model["version"]
    if model.get("description"):
        package.description = model["description"]
    if model.get("type"):
        package.ai_typeOfModel = [model["type"]]
    if model.get("task"):
        package.ai_domain = [model["task"]]
    artifacts = model.get("artifacts") or []
    package.verifiedUsing = [
        spdx.Hash(algorithm=getattr(spdx.HashAlgorithm, _HASHES[alg]), hashValue=value)
        for artifact in artifacts
        for alg, value in (artifact.get("digest") or {}).items()
        if alg in _HASHES
    ]
    if artifacts and artifacts[0].get("uri"):
        package.software_downloadLocation = artifacts[0]["uri"]
    if model.get("hyperparameters"):
        package.ai_hyperparameter = [
            spdx.DictionaryEntry(key=k, value=str(v)) for k, v in model["hyperparameters"].items()
        ]
    if model.get("autonomyType"):
        package.ai_autonomyType = getattr(spdx.PresenceType, model["autonomyType"])
    if model.get("explainability"):
        package.ai_modelExplainability = [model["explainability"]]
    use = doc.get("intendedUse") or {}
    if use.get("primaryUses"):
        package.ai_informationAboutApplication = " ".join(use["primaryUses"])
    limitations = [*use.get("limitations", []), *(f"Out of scope: {x}" for x in use.get("outOfScope", []))]
    if limitations:
        package.ai_limitation = "\n".join(limitations)
    evaluation = doc.get("evaluation") or []
    package.ai_metric = [
        spdx.DictionaryEntry(key=e["metric"] + (f" ({e['slice']})" if e.get("slice") else ""), value=repr(e["value"]))
        for e in evaluation
    ]
    level = (doc.get("risks") or {}).get("level")
    if level in _LEVELS:
        package.ai_safetyRiskAssessment = getattr(spdx.ai_SafetyRiskAssessmentType, _LEVELS[level])
    energy = doc.get("energy") or {}
    if energy:
        consumption = spdx.ai_EnergyConsumption()
        for phase, attribute in _PHASES.items():
            if phase in energy:
                unit, factor = _UNITS[energy[phase].get("unit", "kWh")]
                setattr(
                    consumption,
                    attribute,
                    [
                        spdx.ai_EnergyConsumptionDescription(
                            ai_energyQuantity=float(energy[phase]["value"]) * factor,
                            ai_energyUnit=getattr(spdx.ai_EnergyUnitType, unit),
                        )
                    ],
                )
        package.ai_energyConsumption = consumption
    preprocessing = [d["preprocessing"] for d in doc.get("trainingData") or [] if d.get("preprocessing")]
    if preprocessing:
        package.ai_modelDataPreprocessing = preprocessing
    if model.get("license"):
        expression = spdx.simplelicensing_LicenseExpression(
            spdxId=base + "license", creationInfo=info, simplelicensing_licenseExpression=model["license"]
        )
        elements += [expression, _relation(spdx, info, base, "license", package, "hasConcludedLicense", [expression])]
    datasets: dict[str, Any] = {}
    trained = [_dataset(spdx, info, base, d, datasets) for d in doc.get("trainingData") or []]
    tested = [_dataset(spdx, info, base, e["dataset"], datasets) for e in evaluation]
    if trained:
        elements.append(_relation(spdx, info, base, "trained", package, "trainedOn", list(dict.fromkeys(trained))))
    if tested:
        elements.append(_relation(spdx, info, base, "tested", package, "testedOn", list(dict.fromkeys(tested))))
    elements += list(datasets.values())
    document = spdx.SpdxDocument(
        spdxId=base + "document",
        creationInfo=info,
        rootElement=[package],
        element=elements,
        profileConformance=[
            spdx.ProfileIdentifierType.core,
            spdx.ProfileIdentifierType.software,
            spdx.ProfileIdentifierType.ai,
            spdx.ProfileIdentifierType.dataset,
        ],
    )
    objects = spdx.SHACLObjectSet()
    for element in (document, *elements):
        objects.add(element)
    buffer = io.BytesIO()
    spdx.JSONLDSerializer().write(objects, buffer)
    lost += [f"/{key}: {_REASON}" for key in ("changeLog", "redTeam", "evidence", "quantitativeAnalysis") if key in doc]
    lost += [f"/model/{key}: {_REASON}" for key in ("authors", "framework", "languages", "tags") if key in model]
    if "assessments" in (doc.get("risks") or {}):
        lost.append(f"/risks/assessments: {_REASON} (the overall level is kept)")
    for i, e in enumerate(evaluation):
        if "confidenceInterval" in e:
            lost.append(f"/evaluation/{i}/confidenceInterval: {_REASON}")
    for phase in ("training", "finetuning", "inference"):
        kept = energy.get(phase, {})
        lost += [f"/energy/{phase}/{key}: {_REASON}" for key in ("per", "hardware", "co2eKg") if key in kept]
    lost += _unmapped(doc)
    parsed: dict[str, Any] = json.loads(buffer.getvalue())
    return Mapped(parsed, lost)


def _unmapped(doc: dict[str, Any]) -> list[str]:
    """The members the mapping above leaves behind that the lines before it do not name."""
    model = doc.get("model") or {}
    lost = [f"/model/{key}: {_REASON}" for key in ("baseModel", "inputs", "outputs", "architecture") if key in model]
    for i, artifact in enumerate(model.get("artifacts") or []):
        kept = ("digest", "uri") if i == 0 else ("digest",)  # the first artifact's uri is the download location
        lost += [f"/model/artifacts/{i}/{key}: {_REASON}" for key in artifact if key not in kept]
    if "primaryUsers" in (doc.get("intendedUse") or {}):
        lost.append(f"/intendedUse/primaryUsers: {_REASON}")
    for i, data in enumerate(doc.get("trainingData") or []):
        lost += [f"/trainingData/{i}/{key}: {_REASON}" for key in ("split", "lineage", "quality") if key in data]
        personal = data.get("personalData") or {}
        lost += [f"/trainingData/{i}/personalData/{key}: {_REASON}" for key in personal if key != "present"]
    for i, result in enumerate(doc.get("evaluation") or []):
        lost += [f"/evaluation/{i}/{key}: {_REASON}" for key in ("task", "decisionThreshold") if key in result]
        lost.append(f"/evaluation/{i}/dataset: {_REASON} (the metric is kept without it; the dataset is testedOn)")
    return lost


def _relation(spdx: Any, info: Any, base: str, name: str, source: Any, kind: str, targets: list[Any]) -> Any:
    return spdx.Relationship(
        spdxId=f"{base}relationship-{name}",
        creationInfo=info,
        from_=source,
        relationshipType=getattr(spdx.RelationshipType, kind),
        to=targets,
    )


def _dataset(spdx: Any, info: Any, base: str, data: dict[str, Any], datasets: dict[str, Any]) -> Any:
    key = f"{data.get('name')}|{data.get('version', '')}|{data.get('split', '')}"
    if key not in datasets:
        package = spdx.dataset_DatasetPackage(
            spdxId=f"{base}dataset-{len(datasets)}",
            name=data.get("name", ""),
            creationInfo=info,
            software_primaryPurpose=spdx.software_SoftwarePurpose.data,
            dataset_datasetType=[spdx.dataset_DatasetType.other],
        )
        if data.get("version"):
            package.software_packageVersion = data["version"]
        if data.get("uri"):
            package.software_downloadLocation = data["uri"]
        package.verifiedUsing = [
            spdx.Hash(algorithm=getattr(spdx.HashAlgorithm, _HASHES[alg]), hashValue=value)
            for alg, value in (data.get("digest") or {}).items()
            if alg in _HASHES
        ]
        if data.get("collection"):
            package.dataset_dataCollectionProcess = data["collection"]
        if data.get("knownBias"):
            package.dataset_knownBias = list(data["knownBias"])
        personal = data.get("personalData")
        if personal:
            package.dataset_hasSensitivePersonalInformation = (
                spdx.PresenceType.yes if personal.get("present") else spdx.PresenceType.no
            )
        datasets[key] = package
    return datasets[key]
