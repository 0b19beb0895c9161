"""What the card exports share: the card's plain JSON form, JSON pointers, remainders and digests."""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Mapping
from typing import Any, Final

from aifabric._errors import DocumentError
from aifabric._version import __version__
from aifabric.tools.mapping import Mapped

__all__ = [
    "PRODUCER",
    "SCHEMA_URL",
    "Mapped",
    "card_json",
    "diff",
    "merge",
    "pointer",
    "remainder_pointers",
    "validated",
]

SCHEMA_URL: Final = "https://aifabric.dev/schemas/model-card/1.0.0.json"
PRODUCER: Final = f"https://github.com/aifabric/aifabric/tree/v{__version__}"


def card_json(card: Any) -> dict[str, Any]:
    """A deep copy of the card's JSON form, from a mapping or an object with ``to_json()``.

    Dates and times that a YAML loader made are written back as RFC 3339 text.

    Raises:
        DocumentError: the card is neither.
    """
    if hasattr(card, "to_json") and not isinstance(card, Mapping):
        card = card.to_json()
    if not isinstance(card, Mapping):
        raise DocumentError(f"a model card is a JSON object, not {type(card).__name__}", rule="type")
    plain = _plain(card)
    assert isinstance(plain, dict)
    return plain


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return copy.deepcopy(value)


def pointer(*parts: str | int) -> str:
    """The RFC 6901 JSON pointer of ``parts``."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in parts)


def _elementwise(full: Any, base: Any) -> bool:
    return (
        isinstance(full, list)
        and isinstance(base, list)
        and len(full) == len(base)
        and all(isinstance(item, dict) for item in (*full, *base))
    )


def diff(full: Any, base: Any) -> Any:
    """What ``merge(base, ...)`` needs to give ``full``: changed members only; ``None`` deletes one.

    Objects are compared member by member; lists of objects as long as each other item by item (an item
    left unchanged is ``{}``); anything else is replaced whole. A value equal to ``base`` has no remainder
    (``{}``).
    """
    if isinstance(full, dict) and isinstance(base, dict):
        out: dict[str, Any] = {}
        for key, value in full.items():
            if key not in base:
                out[key] = copy.deepcopy(value)
            elif value != base[key] or type(value) is not type(base[key]):
                out[key] = diff(value, base[key])
        out.update({key: None for key in base if key not in full})
        return out
    if _elementwise(full, base):
        items = [diff(item, other) for item, other in zip(full, base, strict=True)]
        return items if any(items) else {}
    return copy.deepcopy(full)


def merge(base: Any, remainder: Any) -> Any:
    """``base`` with ``remainder`` (from :func:`diff`) applied; the inverse of :func:`diff`."""
    if isinstance(remainder, dict) and isinstance(base, dict):
        out = copy.deepcopy(base)
        for key, value in remainder.items():
            if value is None:
                out.pop(key, None)
            else:
                out[key] = merge(base.get(key), value)
        return out
    if isinstance(remainder, dict) and not remainder:
        return copy.deepcopy(base)
    if _elementwise(remainder, base):
        return [merge(item, patch) for item, patch in zip(base, remainder, strict=True)]
    return copy.deepcopy(remainder)


def remainder_pointers(remainder: Any, base: Any, *path: str | int) -> list[tuple[str, bool]]:
    """Each member of a remainder as ``(pointer, True when the base had it in another form)``."""
    found: list[tuple[str, bool]] = []
    if isinstance(remainder, dict) and isinstance(base, dict):
        for key, value in remainder.items():
            if value is not None:
                found.extend(remainder_pointers(value, base.get(key), *path, key))
    elif _elementwise(remainder, base):
        for n, (item, other) in enumerate(zip(remainder, base, strict=True)):
            if item:
                found.extend(remainder_pointers(item, other, *path, n))
    else:
        found.append((pointer(*path), base is not None))
    return found


def validated(card: dict[str, Any], *, source: str) -> dict[str, Any]:
    """The card checked against the schema and the model-card consistency rules, in its JSON form.

    Raises:
        ValidationError: the card is not valid.
    """
    from aifabric.models.cards import ModelCard

    return ModelCard.parse_document(card, source=source).to_json()
