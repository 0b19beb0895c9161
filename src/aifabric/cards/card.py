"""Read, sign and verify model cards.

Examples:
    >>> from aifabric.cards import load_card, sign_card, verify_card
    >>> from aifabric.signing.keys import generate_key
    >>> key = generate_key("ed25519")
    >>> signed = sign_card(load_card("examples/model-card.yaml"), key)
    >>> verify_card(signed, key=key.public_key()).model.name
    'acme/churn-classifier'
"""

from __future__ import annotations

import os
from typing import Any

from aifabric.models.cards import ModelCard
from aifabric.signing.documents import attach, sign_document, verify_document
from aifabric.signing.keys import PrivateKey, PublicKey

__all__ = ["load_card", "sign_card", "verify_card"]


def load_card(source: str | os.PathLike[str] | bytes) -> ModelCard:
    """Read a model card from a YAML or JSON file or text, checked against the schema and consistency rules.

    Raises:
        DocumentError: the input cannot be read or holds other than one document.
        ValidationError: the card breaks the schema or a consistency rule; ``problems`` names each pointer.
    """
    return ModelCard.read(source)


def sign_card(card: ModelCard, key: PrivateKey, **options: Any) -> ModelCard:
    """The card with one more embedded signature over its canonical form (``options`` go to ``sign_document``)."""
    doc = card.to_json()
    return ModelCard.parse_document(attach(doc, sign_document(doc, key, **options)))


def verify_card(card: ModelCard | dict[str, Any], *, key: PublicKey | None = None, **options: Any) -> ModelCard:
    """The card, once one of its embedded signatures verifies (``options`` go to ``verify_document``).

    Raises:
        VerificationError: no signature verifies, or the card differs from what was signed.
        ValidationError: the card is not a valid model card.
    """
    doc = card.to_json() if isinstance(card, ModelCard) else card
    verified = verify_document(doc, key=key, **options)
    return ModelCard.parse_document(verified.document)
