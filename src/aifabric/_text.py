"""Text that must survive UTF-8: strings with lone surrogates or undecodable bytes, anywhere in a JSON value."""

from __future__ import annotations

from typing import Any

__all__ = ["encodable"]


def encodable(value: Any, errors: str = "replace") -> Any:
    """``value`` with every string made UTF-8 encodable by the codec error handler ``errors``."""
    if isinstance(value, str):
        return value.encode("utf-8", errors).decode("utf-8")
    if isinstance(value, list):
        return [encodable(v, errors) for v in value]
    if isinstance(value, dict):
        return {encodable(k, errors): encodable(v, errors) for k, v in value.items()}
    return value
