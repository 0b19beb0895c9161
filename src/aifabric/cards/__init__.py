"""Model cards: read, check for completeness against a profile, render for people, sign and verify.

Examples:
    >>> from aifabric.cards import completeness, load_card, render_markdown
    >>> card = load_card("examples/model-card.yaml")
    >>> completeness(card, "minimal").complete
    True
    >>> "| accuracy |" in render_markdown(card)
    True
"""

from aifabric.cards.card import load_card, sign_card, verify_card
from aifabric.cards.completeness import Completeness, Profile, completeness, profile, profiles
from aifabric.cards.render import evaluation_chart, render_html, render_markdown
from aifabric.cards.vocabulary import Term, Vocabulary, vocabulary
from aifabric.models.cards import ModelCard

__all__ = [
    "Completeness",
    "ModelCard",
    "Profile",
    "Term",
    "Vocabulary",
    "completeness",
    "evaluation_chart",
    "load_card",
    "profile",
    "profiles",
    "render_html",
    "render_markdown",
    "sign_card",
    "verify_card",
    "vocabulary",
]
