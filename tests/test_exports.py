"""The public API is exactly the sorted ``__all__`` of each public module; nothing internal leaks."""

from __future__ import annotations

import importlib
import pkgutil
import sys
import types

import pytest

import aifabric

PUBLIC_MODULES = sorted(
    name
    for _, name, _ in pkgutil.walk_packages(aifabric.__path__, "aifabric.")
    if not any(part.startswith("_") for part in name.split("."))
)


def _isort_style(name: str) -> tuple[int, str]:
    """Constants, then classes, then the rest: the order ruff's RUF022 keeps ``__all__`` in."""
    return (0 if name.isupper() else 1 if name[:1].isupper() else 2, name)


def test_the_public_modules_are_the_expected_ones() -> None:
    assert set(PUBLIC_MODULES) >= {
        "aifabric.canonical",
        "aifabric.conformance",
        "aifabric.envelope",
        "aifabric.models",
        "aifabric.schemas",
        "aifabric.validation",
    }


@pytest.mark.parametrize("name", ["aifabric", *PUBLIC_MODULES])
def test_all_is_sorted_and_complete(name: str) -> None:
    module = importlib.import_module(name)
    exported = module.__all__
    assert exported == sorted(exported, key=_isort_style), f"{name}.__all__ is not sorted"
    assert len(set(exported)) == len(exported)
    for attr in exported:
        assert hasattr(module, attr), f"{name}.{attr} is in __all__ but missing"


@pytest.mark.parametrize("name", ["aifabric", *PUBLIC_MODULES])
def test_no_public_name_outside_all(name: str) -> None:
    module = importlib.import_module(name)
    for attr in dir(module):
        if attr.startswith("_") or attr in module.__all__:
            continue
        value = getattr(module, attr)
        if isinstance(value, types.ModuleType) or attr in {"annotations", "TYPE_CHECKING"}:
            continue
        if value is getattr(sys.modules.get(type(value).__module__), attr, None) or _exported_elsewhere(name, attr):
            continue  # a constant imported from elsewhere, such as datetime.UTC or another module's constant
        defined_in = getattr(value, "__module__", name)
        assert not str(defined_in).startswith(name), f"{name}.{attr} is public but not in __all__"


def _exported_elsewhere(name: str, attr: str) -> bool:
    value = getattr(importlib.import_module(name), attr)
    return any(
        attr in getattr(module, "__all__", ()) and getattr(module, attr) is value
        for other, module in list(sys.modules.items())
        if other.startswith("aifabric") and other != name and module is not None
    )


def test_every_error_derives_from_the_one_root() -> None:
    for attr in aifabric.__all__:
        value = getattr(aifabric, attr)
        if isinstance(value, type) and issubclass(value, Exception):
            assert issubclass(value, aifabric.AifabricError)
            assert value.code.startswith("AIF-")


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute"):
        _ = aifabric.nope
