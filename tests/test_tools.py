"""The generator routine the tools share: write, check, and remove what is no longer generated."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_spec import load_tool

generated = load_tool("_generated")


def test_sync_writes_then_checks_clean_then_finds_drift(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "old.md").write_text("gone")
    expected = {"a/b.md": "hello\n", "c.md": "é\n"}
    assert generated.sync(tmp_path, expected, ["old.md"], check=True, what="docs", command="make") == 1
    assert "old.md: stale" in capsys.readouterr().err
    assert generated.sync(tmp_path, expected, ["old.md"], check=False, what="docs", command="make") == 0
    assert (tmp_path / "a" / "b.md").read_text() == "hello\n"
    assert not (tmp_path / "old.md").exists()
    assert generated.sync(tmp_path, expected, [], check=True, what="docs", command="make") == 0
    (tmp_path / "c.md").write_text("edited")
    assert generated.sync(tmp_path, expected, [], check=True, what="docs", command="make") == 1
    assert "c.md: stale" in capsys.readouterr().err
