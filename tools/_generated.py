"""Write or check generated files: the one routine every generator in tools/ ends with."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from pathlib import Path


def sync(root: Path, expected: Mapping[str, str], stale: Iterable[str], *, check: bool, what: str, command: str) -> int:
    """Bring ``root`` to ``expected`` (relative path -> text) and delete ``stale``; with ``check``, only report.

    Returns:
        The exit status: 1 when checking finds a difference, else 0.
    """
    changed = [rel for rel, text in expected.items() if _read(root / rel) != text.encode("utf-8")]
    stale = sorted(stale)
    if check:
        for rel in changed:
            print(f"{rel}: {'missing' if not (root / rel).exists() else 'stale'}", file=sys.stderr)
        for rel in stale:
            print(f"{rel}: stale (not generated any more)", file=sys.stderr)
        if changed or stale:
            print(f"{what} are out of date: run {command}", file=sys.stderr)
            return 1
        return 0
    for rel in changed:
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(expected[rel].encode("utf-8"))
        print(f"wrote {rel}")
    for rel in stale:
        (root / rel).unlink()
        print(f"removed {rel}")
    return 0


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
