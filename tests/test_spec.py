"""The specification as a whole: it lints clean, its releases are recorded, its vectors sit where it says."""

from __future__ import annotations

import importlib.util
import re
import sys
from types import ModuleType

from aifabric import SPEC_VERSION, Registry
from tests.conftest import ROOT


def load_tool(name: str) -> ModuleType:
    """A module of tools/ (not a package), loaded from its file."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def test_the_specification_lints_clean() -> None:
    """[CORE-034] [CORE-035] [CORE-036] [CORE-037] [CORE-042] IDs on every rule, once each, all covered."""
    problems = load_tool("spec_lint").lint_repo(ROOT)
    assert [str(p) for p in problems] == []


def test_releases_record_the_spec_and_every_schema_version() -> None:
    """[CORE-033] RELEASES.md names the spec version and each packaged schema version."""
    text = (ROOT / "spec" / "RELEASES.md").read_text()
    assert re.search(rf"^\| {re.escape(SPEC_VERSION)} \|", text, re.M)
    for info in Registry.default():
        assert f"`{info.id}`" in text, f"{info.id} is not in spec/RELEASES.md"


def test_vector_files_are_laid_out_by_area() -> None:
    """[CORE-046] Vector files sit at conformance/vectors/<area>/<name>.json."""
    files = sorted((ROOT / "conformance" / "vectors").rglob("*"))
    assert files
    for path in files:
        relative = path.relative_to(ROOT / "conformance" / "vectors").as_posix()
        if path.is_file():
            assert re.fullmatch(r"[a-z0-9-]+/[A-Za-z0-9-]+\.json", relative), relative
