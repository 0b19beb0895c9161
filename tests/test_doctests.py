"""Each public module's docstring example runs and prints what it says (STYLE.md)."""

from __future__ import annotations

import doctest
import importlib

import pytest

from tests.test_exports import PUBLIC_MODULES


@pytest.mark.parametrize("name", ["aifabric", *PUBLIC_MODULES])
def test_docstring_example_runs(name: str) -> None:
    module = importlib.import_module(name)
    assert module.__doc__ and "Examples:" in module.__doc__, f"{name} has no example in its docstring"
    result = doctest.testmod(module, verbose=False, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
