"""The controlled vocabularies model cards name entries of, read from the package (never from the network).

Each vocabulary is a JSON file ``aifabric/cards/vocabularies/<name>-<version>.json`` holding its ``id``,
``version``, ``title``, ``source`` and ``terms`` (each with an ``id``, a ``kind``, a ``title`` and, below the top
level, a ``parent``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Any, Final

__all__ = ["EVIDENCE_FRAMEWORKS", "RISK_TAXONOMIES", "Term", "Vocabulary", "names", "unknown_term", "vocabulary"]

EVIDENCE_FRAMEWORKS: Final = ("eu-ai-act-annex-iv", "eu-ai-act", "nist-ai-rmf", "iso-iec-42001")
"""The frameworks an evidence entry may name, each a vocabulary."""
RISK_TAXONOMIES: Final = {"nist-ai-rmf": frozenset({"subcategory"}), "mit-ai-risk": frozenset({"domain", "subdomain"})}
"""The taxonomies a risk assessment may name, and the kinds of their terms it may use."""
_EVIDENCE_KINDS: Final = {"iso-iec-42001": frozenset({"control"})}


@dataclass(frozen=True, slots=True)
class Term:
    """One entry of a vocabulary."""

    id: str
    kind: str
    title: str
    parent: str | None = None


@dataclass(frozen=True, slots=True)
class Vocabulary:
    """A versioned list of terms, such as the NIST AI RMF subcategories."""

    id: str
    version: str
    title: str
    source: str
    terms: tuple[Term, ...]

    def __contains__(self, term_id: object) -> bool:
        return any(term.id == term_id for term in self.terms)

    def term(self, term_id: str) -> Term:
        """The term with this ID.

        Raises:
            KeyError: the vocabulary has no such term.
        """
        for term in self.terms:
            if term.id == term_id:
                return term
        raise KeyError(term_id)

    def ids(self, *kinds: str) -> list[str]:
        """The IDs of the terms, of the given kinds only when any are given, in vocabulary order."""
        return [term.id for term in self.terms if not kinds or term.kind in kinds]


def _folder() -> Any:
    return files("aifabric").joinpath("cards", "vocabularies")


@cache
def names() -> tuple[str, ...]:
    """The IDs of every packaged vocabulary, sorted."""
    return tuple(
        sorted(json.loads(f.read_text("utf-8"))["id"] for f in _folder().iterdir() if f.name.endswith(".json"))
    )


@cache
def vocabulary(name: str) -> Vocabulary:
    """The packaged vocabulary with this ID.

    Raises:
        KeyError: no vocabulary has this ID.
    """
    for item in _folder().iterdir():
        if item.name.startswith(f"{name}-") and item.name.endswith(".json"):
            raw = json.loads(item.read_text("utf-8"))
            if raw["id"] == name:
                terms = tuple(
                    Term(t["id"], t["kind"], t["title"], t.get("parent") or t.get("group")) for t in raw["terms"]
                )
                return Vocabulary(raw["id"], raw["version"], raw["title"], raw["source"], terms)
    raise KeyError(f"no vocabulary {name!r}; the packaged ones are {', '.join(names())}")


def unknown_term(framework: str, term_id: str, *, risk: bool = False) -> str | None:
    """Why ``term_id`` is not an entry of ``framework`` that evidence (or, with ``risk``, a risk) may name; or None."""
    kinds = RISK_TAXONOMIES.get(framework, frozenset()) if risk else _EVIDENCE_KINDS.get(framework, frozenset())
    vocab = vocabulary(framework)
    if term_id in vocab and (not kinds or vocab.term(term_id).kind in kinds):
        return None
    what = " or ".join(sorted(kinds)) if kinds else "entry"
    return f"{term_id!r} is not a {what} of {framework} {vocab.version}"
