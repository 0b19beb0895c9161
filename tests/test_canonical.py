"""RFC 8785 canonical JSON: byte-identical to the ``rfc8785`` reference package, on every input."""

from __future__ import annotations

import hashlib
import math
from typing import Any

import pytest
import rfc8785
from hypothesis import given
from hypothesis import strategies as st

from aifabric import CanonicalizationError, canonicalize, digest

# Keys and strings across the whole code space: non-BMP, U+E000..U+FFFF, controls, lone surrogates.
TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=12)
KEYS = st.one_of(
    TEXT,
    st.sampled_from(["a", "b", "\ue000", "\U0001f600", "\uffff", "\U00010000", "é", "\x1f", ""]),
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**64), max_value=2**64),
    st.integers(min_value=-(2**53) - 2, max_value=2**53 + 2),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-1e-5, max_value=1e-5),
    st.sampled_from([1e21, 1e-7, 1e-6, 0.1, -0.0, 5e-324, 1.7976931348623157e308, 123456789012345680.0, 1.0]),
    TEXT,
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(KEYS, inner, max_size=5),
    max_leaves=25,
)


def _reference(value: Any) -> bytes | None:
    try:
        return bytes(rfc8785.dumps(value))
    except Exception:  # noqa: BLE001 - any refusal by the reference counts as "not canonicalizable"
        return None


def _ours(value: Any) -> bytes | None:
    try:
        return canonicalize(value)
    except CanonicalizationError:
        return None


@given(JSON)
def test_identical_to_rfc8785_on_arbitrary_json(value: Any) -> None:
    """[CORE-060] The canonical form is RFC 8785's, byte for byte; what the reference refuses, we refuse."""
    assert _ours(value) == _reference(value)


@given(
    st.dictionaries(KEYS, st.integers(-1000, 1000), max_size=8),
    st.lists(st.floats(allow_nan=False), max_size=6),
)
def test_identical_inside_documents(obj: dict[str, int], floats: list[float]) -> None:
    doc = {"schemaURL": "https://aifabric.dev/schemas/common/1.0.0.json", "obj": obj, "floats": floats}
    assert _ours(doc) == _reference(doc)


def test_identical_on_the_benchmark_event(bench_event: dict[str, Any]) -> None:
    assert canonicalize(bench_event) == rfc8785.dumps(bench_event)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"b": 1.0, "a": [True, None]}, b'{"a":[true,null],"b":1}'),
        (1e21, b"1e+21"),
        (1e-7, b"1e-7"),
        (1e-6, b"0.000001"),
        (-0.0, b"0"),
        (123456789012345680.0, b"123456789012345680"),
        ("\x1f\u2028/é", '"\\u001f\u2028/é"'.encode()),
        ({"\ue000": 1, "\U0001f600": 2}, '{"\U0001f600":2,"\ue000":1}'.encode()),  # UTF-16 order
        ([{"a": "1.5,"}, {"x": ":2.5]"}], b'[{"a":"1.5,"},{"x":":2.5]"}]'),  # float-like text stays text
        ({"n": "null]", "e": "1e+5,"}, b'{"e":"1e+5,","n":"null]"}'),
    ],
)
def test_known_forms(value: Any, expected: bytes) -> None:
    assert canonicalize(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        math.nan,
        math.inf,
        [-math.inf],
        {"x": math.nan},
        2**53,
        -(2**53),
        {1: "x"},
        "\ud800",
        {"\udc00": 1},
        object(),
        b"x",
    ],
)
def test_unrepresentable_values_are_refused(value: Any) -> None:
    """[CORE-061] NaN, infinities, unsafe integers, non-string keys and lone surrogates are refused."""
    with pytest.raises(CanonicalizationError):
        canonicalize(value)


def test_nan_hidden_in_a_document_is_found() -> None:
    """orjson writes NaN as null; the fast path must notice and refuse."""
    with pytest.raises(CanonicalizationError):
        canonicalize({"a": [1, 2, {"b": math.nan}]})


def test_digest_is_sha256_over_canonical_bytes() -> None:
    """[CORE-062] [CORE-028] The document digest is sha256 (the default) over the canonical bytes, as a digest set."""
    doc = {"b": [1.0, 2], "a": "x"}
    assert digest(doc) == {"sha256": hashlib.sha256(b'{"a":"x","b":[1,2]}').hexdigest()}
    assert digest(doc, "sha512") == {"sha512": hashlib.sha512(b'{"a":"x","b":[1,2]}').hexdigest()}
    with pytest.raises(CanonicalizationError, match="unknown digest algorithm"):
        digest(doc, "md42")


def test_deep_nesting_is_refused_not_crashed() -> None:
    value: Any = []
    for _ in range(5000):
        value = [value]
    with pytest.raises(CanonicalizationError):
        canonicalize(value)
