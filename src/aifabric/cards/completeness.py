"""How complete a model card is for a profile: which framework terms lack evidence, which sections lack content.

Profiles ship as JSON in the package (``aifabric/cards/profiles/<id>.json``): ``eu-ai-act-high-risk``,
``nist-ai-rmf`` and ``minimal``.

Examples:
    >>> from aifabric.cards import completeness, load_card
    >>> report = completeness(load_card("examples/model-card.yaml"), "eu-ai-act-high-risk")
    >>> report.complete, report.missing_evidence[:2]
    (False, [('eu-ai-act-annex-iv', '4'), ('eu-ai-act-annex-iv', '5')])
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Any

from aifabric._errors import AifabricError
from aifabric._vocabularies import vocabulary
from aifabric.models.cards import ModelCard

__all__ = ["Completeness", "Profile", "completeness", "profile", "profiles"]


@dataclass(frozen=True, slots=True)
class Profile:
    """The framework terms that need evidence and the sections that need content."""

    id: str
    title: str
    evidence: tuple[tuple[str, str], ...]
    sections: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Completeness:
    """What a card lacks for a profile; ``complete`` when it lacks nothing (CARD-050)."""

    profile: str
    satisfied: list[tuple[str, str]]
    missing_evidence: list[tuple[str, str]]
    missing_sections: list[str]

    @property
    def complete(self) -> bool:
        """Whether every term has evidence and every section has content."""
        return not self.missing_evidence and not self.missing_sections

    def lines(self) -> list[str]:
        """One line per thing missing, for people."""
        out = [f"missing evidence: {framework} {term}" for framework, term in self.missing_evidence]
        return out + [f"missing section: /{section}" for section in self.missing_sections]


def _folder() -> Any:
    return files("aifabric").joinpath("cards", "profiles")


@cache
def profiles() -> tuple[str, ...]:
    """The IDs of the packaged profiles, sorted."""
    return tuple(sorted(f.name.removesuffix(".json") for f in _folder().iterdir() if f.name.endswith(".json")))


@cache
def profile(name: str) -> Profile:
    """The packaged profile with this ID.

    Raises:
        AifabricError: no profile has this ID.
    """
    if name not in profiles():
        raise AifabricError(f"no profile {name!r}; the profiles are {', '.join(profiles())}")
    raw = json.loads(_folder().joinpath(f"{name}.json").read_text("utf-8"))
    pairs = tuple((group["framework"], term) for group in raw["evidence"] for term in group["ids"])
    return Profile(raw["id"], raw["title"], pairs, tuple(raw["sections"]))


def _covered(framework: str, term: str, named: set[tuple[str, str]]) -> bool:
    """A term has evidence when an entry names it or, in a hierarchy, a term below it."""
    if (framework, term) in named:
        return True
    vocab = vocabulary(framework)
    return any(t.parent == term and _covered(framework, t.id, named) for t in vocab.terms)


def completeness(card: ModelCard, profile_id: str) -> Completeness:
    """Which terms of the profile lack evidence in the card, and which sections lack content (CARD-050).

    Raises:
        AifabricError: no profile has this ID.
    """
    wanted = profile(profile_id)
    named: set[tuple[str, str]] = {(item.framework, item.id) for item in card.evidence or []}
    satisfied: list[tuple[str, str]] = []
    missing: list[tuple[str, str]] = []
    for framework, term in wanted.evidence:
        (satisfied if _covered(framework, term, named) else missing).append((framework, term))
    doc = card.model_dump(mode="json", by_alias=True, exclude_none=True)
    empty = [section for section in wanted.sections if doc.get(section) in (None, [], {})]
    return Completeness(wanted.id, satisfied, missing, empty)
