r"""RFC 8785 JSON Canonicalization Scheme (JCS) and digests over canonical bytes.

The common case (no integral or exponent floats, no nulls, ASCII-ish keys) is serialised by orjson with sorted
keys, which is byte-identical to JCS for such documents; anything else takes an exact pure-Python path. Both paths are
proven identical to the ``rfc8785`` reference package by property tests.

Examples:
    >>> from aifabric.canonical import canonicalize, digest
    >>> canonicalize({"b": 1.0, "a": [True, None, "é"]})
    b'{"a":[true,null,"\xc3\xa9"],"b":1}'
    >>> digest({"a": 1})
    {'sha256': '015abd7f5cc57a2dd94b7590f04ad8084273905ee33ec5cebeae62276a97f862'}
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping
from typing import Any, Final

import orjson

from aifabric._errors import CanonicalizationError

__all__ = ["canonicalize", "digest"]

_MAX_SAFE: Final = 2**53 - 1
_MAX_DEPTH: Final = 500
_OPTS: Final = orjson.OPT_SORT_KEYS | orjson.OPT_STRICT_INTEGER
_HIGH: Final = re.compile(rb"[\xee-\xf4]")  # UTF-8 lead bytes of U+E000 and above: UTF-16 order may differ
_STRUCT: Final = frozenset(b":,[")
_DIGITS: Final = frozenset(b"0123456789.")
_INTEGRAL: Final = re.compile(rb"\.0[,\]}]")  # orjson writes 1.0 where JCS writes 1
_EXPONENT: Final = re.compile(rb"e[+-][0-9]+[,\]}]")
_NULL: Final = re.compile(rb"null[,\]}]")


def canonicalize(value: Any) -> bytes:
    """The RFC 8785 canonical UTF-8 bytes of a JSON value.

    Raises:
        CanonicalizationError: NaN or infinity, an integer beyond ±(2**53 - 1), a non-string key,
            a lone surrogate, or a value that is not JSON.
    """
    try:
        out = orjson.dumps(value, option=_OPTS)
    except (orjson.JSONEncodeError, TypeError):
        return _slow(value)
    if out[0] not in b"{[" or (not out.isascii() and _HIGH.search(out)) or _has_special_token(out):
        return _slow(value)
    return out


def digest(value: Any, algorithm: str = "sha256") -> dict[str, str]:
    """A digest set ``{algorithm: hex}`` over the canonical bytes of a JSON value."""
    try:
        hasher = hashlib.new(algorithm)
    except ValueError:
        raise CanonicalizationError(f"unknown digest algorithm {algorithm!r}") from None
    hasher.update(canonicalize(value))
    return {algorithm: hasher.hexdigest()}


def _has_special_token(out: bytes) -> bool:
    """Whether orjson's output may hold a token JCS writes otherwise: an integral float, an exponent or a null.

    orjson writes other floats with the same shortest round-trip digits as ECMAScript, and NaN as null.
    A number or literal token always sits between one of ``:,[`` and one of ``,]}`` in compact output.
    The same bytes may occur inside a string too, which only sends the document down the exact path.
    """
    if b".0" in out and any(_token_starts(out, m.start()) for m in _INTEGRAL.finditer(out)):
        return True
    if (b"e-" in out or b"e+" in out) and any(_token_starts(out, m.start()) for m in _EXPONENT.finditer(out)):
        return True
    return b"null" in out and any(out[m.start() - 1] in _STRUCT for m in _NULL.finditer(out))


def _token_starts(out: bytes, i: int) -> bool:
    """Whether the digits (and a point) before ``out[i]`` begin a number token (an optional minus after ``:,[``)."""
    start = i
    while out[start - 1] in _DIGITS:
        start -= 1
    if start == i:
        return False
    if out[start - 1] == 0x2D:  # "-"
        start -= 1
    return out[start - 1] in _STRUCT


# --- the exact path ----------------------------------------------------------------------------------------


def _slow(value: Any) -> bytes:
    parts: list[str] = []
    _emit(value, parts, 0)
    try:
        return "".join(parts).encode("utf-8")
    except UnicodeEncodeError:
        raise CanonicalizationError("a string holds a lone surrogate, which is not valid Unicode") from None


def _emit(value: Any, out: list[str], depth: int) -> None:
    if depth > _MAX_DEPTH:
        raise CanonicalizationError(f"nested deeper than {_MAX_DEPTH} levels")
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, str):
        out.append(_string(value))
    elif isinstance(value, int):
        if not -_MAX_SAFE <= value <= _MAX_SAFE:
            raise CanonicalizationError(f"integer {value} is outside the IEEE 754 safe range ±(2**53 - 1)")
        out.append(str(int(value)))
    elif isinstance(value, float):
        out.append(_number(value))
    elif isinstance(value, Mapping):
        items = []
        for key, item in value.items():
            if not isinstance(key, str):
                raise CanonicalizationError(f"object key {key!r} is not a string")
            items.append((key.encode("utf-16-be", "surrogatepass"), key, item))
        items.sort(key=lambda t: t[0])
        out.append("{")
        for n, (_, key, item) in enumerate(items):
            if n:
                out.append(",")
            out.append(_string(key))
            out.append(":")
            _emit(item, out, depth + 1)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for n, item in enumerate(value):
            if n:
                out.append(",")
            _emit(item, out, depth + 1)
        out.append("]")
    else:
        raise CanonicalizationError(f"a {type(value).__name__} is not a JSON value")


def _string(text: str) -> str:
    try:
        return orjson.dumps(text).decode("utf-8")
    except orjson.JSONEncodeError:
        raise CanonicalizationError("a string holds a lone surrogate, which is not valid Unicode") from None


def _number(value: float) -> str:
    """ECMAScript Number.prototype.toString, as RFC 8785 section 3.2.2.3 requires."""
    if not math.isfinite(value):
        raise CanonicalizationError(f"{value} has no JSON representation")
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    mantissa, _, exp_text = repr(abs(value)).partition("e")  # shortest round-trip digits, as ECMAScript
    whole, _, frac = mantissa.partition(".")
    digits = whole + frac
    n = len(whole) + int(exp_text or 0)  # the value is 0.<digits> x 10**n
    stripped = digits.lstrip("0")
    n -= len(digits) - len(stripped)
    digits = stripped.rstrip("0")
    k = len(digits)
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * (-n) + digits
    exp = n - 1
    mant = digits[0] + ("." + digits[1:] if k > 1 else "")
    return f"{sign}{mant}e{'+' if exp > 0 else '-'}{abs(exp)}"
