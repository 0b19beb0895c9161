r"""Lint the aifabric specification: key words, requirement IDs, their coverage, and links.

Reads every ``spec/**/*.md`` file, the vector files under ``conformance/vectors/`` and the tests under
``tests/``, prints one line per problem as ``file:line: rule: message`` and exits 1 when there is any, else 0.

Rules:
    lowercase-keyword: ``must``, ``shall`` or ``should`` (and so ``must not``, ``shall not``, ``should not``)
        not written in capitals, anywhere outside code spans, fenced code blocks and HTML comments. ``may``,
        ``required``, ``optional`` and ``recommended`` are deliberately not flagged in lower case: ordinary
        English uses them too often for a lint to tell normative use apart, so reviewers watch those.
    missing-id: a sentence with a key word in capitals (MUST, MUST NOT, REQUIRED, SHALL, SHALL NOT, SHOULD,
        SHOULD NOT, RECOMMENDED, NOT RECOMMENDED, MAY, OPTIONAL) that does not end with a requirement ID in
        square brackets, such as ``[CORE-001]``. The paragraph right after the comment
        ``<!-- lint: conventions -->`` (the one that quotes the key words) is exempt from this rule and the
        one above.
    duplicate-id: a requirement ID defined twice. An ID in square brackets defines it; written bare it is a
        reference.
    uncovered-id: a defined ID that no vector file names (in its ``spec`` or a case's ``spec``) and no test
        contains.
    unknown-id: an ID that a vector file or a test names, or the spec refers to, but the spec does not define.
        In tests and spec prose only IDs whose area prefix the spec uses count, so ``SHA-256`` is not one.
    broken-link: a relative link or link reference whose file does not exist, an ``#anchor`` that no heading
        (GitHub slug) or ``<a id>`` of the target has, or a link reference with no definition.
    bad-vector: a vector file that is not JSON.

Sentences end at ``.``, ``!`` or ``?`` followed by a space and a capital, a digit or an opening bracket; list
items, table cells and headings are blocks of their own. Code spans are read one line at a time, and indented
code blocks are read as prose. A test file containing ``# spec-lint: ignore-file`` is skipped, so the lint's
own tests can hold made-up IDs.

Example:
    >>> for problem in lint_text("spec/x.md", "A producer must sign it.\n\nIt MUST be UTF-8.\n"):
    ...     print(problem)
    spec/x.md:1: lowercase-keyword: "must" is a key word not in capitals; write it in capitals or rephrase
    spec/x.md:3: missing-id: a sentence with "MUST" does not end with a requirement ID like [CORE-001]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import unquote

__all__ = [
    "ID_PATTERN",
    "Problem",
    "Site",
    "coverage_problems",
    "defined_ids",
    "heading_slugs",
    "ids_in_test",
    "ids_in_vector",
    "lint_repo",
    "lint_text",
    "main",
    "referenced_ids",
    "requirement_levels",
    "slugify",
]

ID_PATTERN: Final = r"[A-Z][A-Z0-9]{1,9}-[0-9]{3}"
"""A requirement ID: an area prefix, a hyphen and three digits (CORE-030)."""

IGNORE_FILE: Final = "# spec-lint: ignore-file"
CONVENTIONS_MARKER: Final = "lint: conventions"

_DEFINITION: Final = re.compile(r"\[(" + ID_PATTERN + r")\](?![(\[:])")
_BARE_ID: Final = re.compile(r"(?<![\w-])(" + ID_PATTERN + r")(?![\w-])")
_ENDS_WITH_ID: Final = re.compile(r"\[" + ID_PATTERN + r"\][\s.;:,!?)\"'*_]*$")
_KEYWORDS: Final = "MUST NOT|MUST|SHALL NOT|SHALL|SHOULD NOT|SHOULD|NOT RECOMMENDED|RECOMMENDED|REQUIRED|MAY|OPTIONAL"
_UPPER: Final = re.compile(r"\b(?:" + _KEYWORDS + r")\b")
_LOWER: Final = re.compile(r"\b(must|shall|should)\b", re.IGNORECASE)
_BOUNDARY: Final = re.compile(r"[.!?][)\"'\u201d\u2019*_]*\s+(?=[A-Z0-9\[(\"\u201c*_])")
_ABBREVIATIONS: Final = frozenset({"e.g.", "i.e.", "etc.", "cf.", "vs.", "fig.", "no.", "sec.", "approx."})

_FENCE: Final = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_CODE_SPAN: Final = re.compile(r"(`+)(?!`)(.+?)(?<!`)\1(?!`)")
_HEADING: Final = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT: Final = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_LIST_ITEM: Final = re.compile(r"^\s*(?:[-*+]|\d{1,9}[.)])(?:[ \t]+|$)")
_TABLE_DELIMITER: Final = re.compile(r"^\s*:?-+:?\s*$")
_REF_DEFINITION: Final = re.compile(r"^ {0,3}\[([^\]]+)\]:[ \t]*<?([^\s>]*)>?")
_INLINE_LINK: Final = re.compile(r"\[((?:[^\[\]]|\[[^\]]*\])*)\]\(\s*<?([^)\s>]*)>?(?:\s+[\"'(][^)]*)?\)")
_FULL_REFERENCE: Final = re.compile(r"\[((?:[^\[\]]|\[[^\]]*\])+)\]\[([^\]]*)\]")
_AUTOLINK: Final = re.compile(r"<[a-zA-Z][a-zA-Z0-9+.-]*:[^\s>]*>")
_HTML_ANCHOR: Final = re.compile(r"<a\s[^>]*\b(?:id|name)\s*=\s*[\"']([^\"']+)[\"']", re.IGNORECASE)
_SCHEME: Final = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


@dataclass(frozen=True, slots=True, order=True)
class Problem:
    """One problem found, printed as ``file:line: rule: message``."""

    file: str
    line: int
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.rule}: {self.message}"


@dataclass(frozen=True, slots=True, order=True)
class Site:
    """Where an ID is written: a file (relative to the repository root) and a 1-based line."""

    file: str
    line: int


@dataclass(slots=True)
class _Block:
    """A paragraph, list item, table cell or heading: its text and the line each character came from."""

    exempt: bool
    text: str = ""
    lines: list[tuple[int, int]] = field(default_factory=list)  # (offset in text, line number)

    def add(self, line: int, text: str) -> None:
        if self.text:
            self.text += " "
        self.lines.append((len(self.text), line))
        self.text += text

    def line_at(self, offset: int) -> int:
        found = self.lines[0][1]
        for start, line in self.lines:
            if start > offset:
                break
            found = line
        return found


# --- reading Markdown --------------------------------------------------------------------------------------


def _prose_lines(text: str) -> Iterable[tuple[int, str, bool]]:
    """Yield ``(line number, text, starts_exempt)`` outside fenced code, with HTML comments cut out.

    A line that held only a comment yields ``""`` so that it ends the block before it; ``starts_exempt`` is
    true on the first line after the conventions marker.
    """
    fence: str | None = None
    in_comment = False
    pending_exempt = False
    for number, raw in enumerate(text.splitlines(), 1):
        if fence is not None:
            stripped = raw.strip()
            if stripped.startswith(fence) and set(stripped) == {fence[0]}:
                fence = None
            continue
        match = _FENCE.match(raw)
        if match and not in_comment:
            fence = match.group(1)
            continue
        line, in_comment, marked = _cut_comments(raw, in_comment)
        pending_exempt = pending_exempt or marked
        if pending_exempt and line.strip():
            yield number, line, True
            pending_exempt = False
        else:
            yield number, line, False


def _cut_comments(line: str, in_comment: bool) -> tuple[str, bool, bool]:
    """Remove HTML comments from one line; return the rest, whether a comment stays open, and the marker."""
    out: list[str] = []
    marked = False
    rest = line
    while rest:
        if in_comment:
            end = rest.find("-->")
            if end < 0:
                return "".join(out), True, marked
            in_comment = False
            rest = rest[end + 3 :]
            continue
        start = rest.find("<!--")
        if start < 0:
            out.append(rest)
            break
        out.append(rest[:start])
        end = rest.find("-->", start + 4)
        body = rest[start + 4 : end] if end >= 0 else rest[start + 4 :]
        marked = marked or body.strip() == CONVENTIONS_MARKER
        if end < 0:
            return "".join(out), True, marked
        rest = rest[end + 3 :]
    return "".join(out), in_comment, marked


def _strip_code_spans(line: str) -> str:
    return _CODE_SPAN.sub("CODE", line)


def _blocks(text: str) -> list[_Block]:
    """Split Markdown prose into blocks: paragraphs, list items, table cells and headings."""
    blocks: list[_Block] = []
    current: _Block | None = None
    exempt_next = False

    def close() -> None:
        nonlocal current
        if current is not None and current.text.strip():
            blocks.append(current)
        current = None

    for number, raw, starts_exempt in _prose_lines(text):
        exempt_next = exempt_next or starts_exempt
        if not raw.strip() or _REF_DEFINITION.match(raw):
            close()
            continue
        line = _AUTOLINK.sub("LINK", _strip_code_spans(raw))
        line = _FULL_REFERENCE.sub(lambda m: m.group(1), _INLINE_LINK.sub(lambda m: m.group(1), line))
        if _HEADING.match(line) or (current is not None and _SETEXT.match(line)):
            close()
            if not _SETEXT.match(line):
                blocks.append(_single(number, line, exempt=exempt_next))
                exempt_next = False
            continue
        if line.lstrip().startswith("|"):
            close()
            cells = re.split(r"(?<!\\)\|", line.strip().strip("|"))
            if not all(_TABLE_DELIMITER.match(cell) for cell in cells):
                blocks.extend(_single(number, cell, exempt=exempt_next) for cell in cells if cell.strip())
            exempt_next = False
            continue
        item = _LIST_ITEM.match(line)
        if item:
            close()
            line = line[item.end() :]
        if current is None:
            current = _Block(exempt=exempt_next)
            exempt_next = False
        current.add(number, line.strip())
    close()
    return blocks


def _single(number: int, text: str, *, exempt: bool) -> _Block:
    block = _Block(exempt=exempt)
    block.add(number, text.strip())
    return block


def _sentences(text: str) -> Iterable[tuple[int, str]]:
    """Yield ``(offset, sentence)`` for each sentence of a block's text."""
    start = 0
    for match in _BOUNDARY.finditer(text):
        before = text[start : match.start() + 1].split()
        if before and before[-1].lower() in _ABBREVIATIONS:
            continue
        yield start, text[start : match.end()].rstrip()
        start = match.end()
    if text[start:].strip():
        yield start, text[start:].rstrip()


# --- headings and anchors ----------------------------------------------------------------------------------


def slugify(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = _INLINE_LINK.sub(lambda m: m.group(1), heading)
    text = text.replace("`", "").replace("*", "").strip().lower()
    kept = "".join(ch for ch in text if ch in " -_" or unicodedata.category(ch)[0] in "LMN")
    return kept.replace(" ", "-")


def heading_slugs(text: str) -> set[str]:
    """Every anchor of a Markdown text: heading slugs (repeats get ``-1``, ``-2``) and ``<a id>`` names."""
    slugs: set[str] = set()
    seen: dict[str, int] = {}
    previous = ""
    for _, line, _ in _prose_lines(text):
        heading = _HEADING.match(line)
        title: str | None = None
        if heading:
            title = heading.group(2) or ""
        elif previous.strip() and _SETEXT.match(line) and not _LIST_ITEM.match(previous):
            title = previous.strip()
        if title is not None:
            slug = slugify(title)
            count = seen.get(slug, 0)
            seen[slug] = count + 1
            slugs.add(slug if count == 0 else f"{slug}-{count}")
        slugs.update(match.group(1) for match in _HTML_ANCHOR.finditer(line))
        previous = "" if title is not None else line
    return slugs


# --- IDs ---------------------------------------------------------------------------------------------------


def defined_ids(text: str) -> list[tuple[str, int]]:
    """The requirement IDs a Markdown text defines (written in brackets), with their lines, in order."""
    found: list[tuple[str, int]] = []
    for block in _blocks(text):
        found.extend((m.group(1), block.line_at(m.start())) for m in _DEFINITION.finditer(block.text))
    return found


def requirement_levels(text: str) -> dict[str, str]:
    """The level of each requirement a Markdown text defines: ``MUST``, ``SHOULD`` or ``MAY``.

    The level is the strongest key word of the sentence that ends with the ID: MUST, MUST NOT, SHALL, SHALL NOT
    and REQUIRED are ``MUST``; SHOULD, SHOULD NOT, RECOMMENDED and NOT RECOMMENDED are ``SHOULD``; the rest ``MAY``.

    Example:
        >>> requirement_levels("It SHOULD be short, and it MUST be UTF-8 [X-001]. It MAY be empty [X-002].")
        {'X-001': 'MUST', 'X-002': 'MAY'}
    """
    levels: dict[str, str] = {}
    for block in _blocks(text):
        for _, sentence in _sentences(block.text):
            words = set(_UPPER.findall(sentence))
            if words & {"MUST", "MUST NOT", "SHALL", "SHALL NOT", "REQUIRED"}:
                level = "MUST"
            elif words & {"SHOULD", "SHOULD NOT", "RECOMMENDED", "NOT RECOMMENDED"}:
                level = "SHOULD"
            else:
                level = "MAY"
            for match in _DEFINITION.finditer(sentence):
                levels.setdefault(match.group(1), level)
    return levels


def referenced_ids(text: str) -> list[tuple[str, int]]:
    """The requirement IDs a Markdown text refers to without brackets, with their lines, in order."""
    found: list[tuple[str, int]] = []
    for block in _blocks(text):
        for match in _BARE_ID.finditer(block.text):
            start, end = match.span()
            if block.text[start - 1 : start] == "[" and block.text[end : end + 1] == "]":
                continue  # a definition
            found.append((match.group(1), block.line_at(start)))
    return found


def ids_in_vector(document: Any) -> set[str]:
    """The requirement IDs a vector file names: its ``spec`` and each case's ``spec`` (not their data)."""
    found: set[str] = set()
    if not isinstance(document, dict):
        return found
    found.update(_strings(document.get("spec")))
    cases = document.get("cases")
    if isinstance(cases, list):
        for case in cases:
            if isinstance(case, dict):
                found.update(_strings(case.get("spec")))
    return found


def _strings(value: Any) -> list[str]:
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


def ids_in_test(text: str) -> dict[str, int]:
    """The ID-shaped strings a test file contains, each with the first line it is on; none if it opts out."""
    found: dict[str, int] = {}
    if IGNORE_FILE in text:
        return found
    for number, line in enumerate(text.splitlines(), 1):
        for match in _BARE_ID.finditer(line):
            found.setdefault(match.group(1), number)
    return found


def coverage_problems(
    defined: Mapping[str, Site],
    vectors: Mapping[str, Sequence[Site]],
    tests: Mapping[str, Sequence[Site]],
    references: Mapping[str, Sequence[Site]] | None = None,
) -> list[Problem]:
    """Defined IDs that nothing covers, and IDs named by vectors, tests or spec prose that nothing defines.

    Args:
        defined: each ID the spec defines, with where.
        vectors: each ID named by vector files, with where; every one of them is checked.
        tests: each ID-shaped string in tests, with where; only those with a known area prefix are checked.
        references: each bare ID in the spec's prose, with where; checked as tests are.
    """
    problems: list[Problem] = []
    for rid, site in sorted(defined.items()):
        if rid not in vectors and rid not in tests:
            problems.append(Problem(site.file, site.line, "uncovered-id", f"{rid} has no vector file or test"))
    areas = {rid.split("-", 1)[0] for rid in defined}
    checks: list[tuple[Mapping[str, Sequence[Site]], bool, str]] = [
        (vectors, False, "a vector file names"),
        (tests, True, "a test names"),
        (references or {}, True, "the spec refers to"),
    ]
    for named, only_known_areas, who in checks:
        for rid, sites in sorted(named.items()):
            if rid in defined or (only_known_areas and rid.split("-", 1)[0] not in areas):
                continue
            problems.extend(
                Problem(s.file, s.line, "unknown-id", f"{who} {rid}, which the spec does not define") for s in sites
            )
    return problems


# --- single-file rules -------------------------------------------------------------------------------------


def lint_text(name: str, text: str, *, path: Path | None = None) -> list[Problem]:
    """Lint one Markdown text: key words, missing and duplicate IDs, and links.

    Args:
        name: the file name to report problems under.
        text: the Markdown.
        path: where the file lies; relative links to other files are checked only when it is given.

    Returns:
        The problems, in order of line.
    """
    problems: list[Problem] = []
    for block in _blocks(text):
        if block.exempt:
            continue
        for match in _LOWER.finditer(block.text):
            if not match.group(1).isupper():
                problems.append(
                    Problem(
                        name,
                        block.line_at(match.start()),
                        "lowercase-keyword",
                        f'"{match.group(1)}" is a key word not in capitals; write it in capitals or rephrase',
                    )
                )
        for offset, sentence in _sentences(block.text):
            keyword = _UPPER.search(sentence)
            if keyword and not _ENDS_WITH_ID.search(sentence):
                problems.append(
                    Problem(
                        name,
                        block.line_at(offset + keyword.start()),
                        "missing-id",
                        f'a sentence with "{keyword.group(0)}" does not end with a requirement ID like [CORE-001]',
                    )
                )
    first: dict[str, int] = {}
    for rid, line in defined_ids(text):
        if rid in first:
            problems.append(Problem(name, line, "duplicate-id", f"{rid} is already defined on line {first[rid]}"))
        else:
            first[rid] = line
    problems.extend(_link_problems(name, text, path))
    return sorted(problems, key=lambda p: p.line)


def _link_problems(name: str, text: str, path: Path | None) -> list[Problem]:
    own = heading_slugs(text)
    labels: set[str] = set()
    targets: list[tuple[int, str]] = []
    references: list[tuple[int, str]] = []
    for number, raw, _ in _prose_lines(text):
        definition = _REF_DEFINITION.match(raw)
        if definition:
            labels.add(_label(definition.group(1)))
            targets.append((number, definition.group(2)))
            continue
        line = _strip_code_spans(raw)
        targets.extend((number, m.group(2)) for m in _INLINE_LINK.finditer(line))
        for match in _FULL_REFERENCE.finditer(_INLINE_LINK.sub("", line)):
            references.append((number, match.group(2) or match.group(1)))
    problems = [
        Problem(name, number, "broken-link", f"link reference [{label}] has no definition")
        for number, label in references
        if _label(label) not in labels
    ]
    for number, target in targets:
        reason = _target_problem(target, own, path)
        if reason:
            problems.append(Problem(name, number, "broken-link", reason))
    return problems


def _label(label: str) -> str:
    return " ".join(label.split()).casefold()


def _target_problem(target: str, own: set[str], path: Path | None) -> str | None:
    """Why a link target does not resolve, or None when it does (or is absolute, or cannot be checked)."""
    if _SCHEME.match(target) or target.startswith("//"):
        return None
    if not target:
        return "empty link target"
    file_part, _, anchor = target.partition("#")
    if not file_part:
        return None if unquote(anchor) in own else f"no heading or anchor #{anchor} in this file"
    if path is None:
        return None
    resolved = (path.parent / unquote(file_part)).resolve()
    if not resolved.exists():
        return f"{file_part} does not exist"
    if anchor and resolved.suffix.lower() == ".md" and resolved.is_file():
        slugs = heading_slugs(resolved.read_text(encoding="utf-8"))
        if unquote(anchor) not in slugs:
            return f"no heading or anchor #{anchor} in {file_part}"
    return None


# --- the repository ----------------------------------------------------------------------------------------


def lint_repo(root: Path) -> list[Problem]:
    """Lint ``spec/**/*.md`` under ``root`` against ``conformance/vectors/**/*.json`` and ``tests/**/*.py``.

    Returns:
        Every problem, sorted by file and line.
    """
    problems: list[Problem] = []
    spec_files = sorted((root / "spec").glob("**/*.md"))
    if not spec_files:
        return [Problem("spec", 1, "missing", "no Markdown files under spec/")]
    defined: dict[str, Site] = {}
    references: dict[str, list[Site]] = {}
    for file in spec_files:
        name = file.relative_to(root).as_posix()
        text = file.read_text(encoding="utf-8")
        problems.extend(lint_text(name, text, path=file))
        for rid, line in defined_ids(text):
            earlier = defined.get(rid)
            if earlier is None:
                defined[rid] = Site(name, line)
            elif earlier.file != name:
                problems.append(
                    Problem(
                        name,
                        line,
                        "duplicate-id",
                        f"{rid} is already defined at {earlier.file}:{earlier.line}",
                    )
                )
        for rid, line in referenced_ids(text):
            references.setdefault(rid, []).append(Site(name, line))
    vectors: dict[str, list[Site]] = {}
    for file in sorted((root / "conformance" / "vectors").glob("**/*.json")):
        name = file.relative_to(root).as_posix()
        try:
            text = file.read_text(encoding="utf-8")
            document = json.loads(text)
        except ValueError as exc:
            problems.append(Problem(name, getattr(exc, "lineno", 1), "bad-vector", f"not JSON: {exc}"))
            continue
        for rid in sorted(ids_in_vector(document)):
            vectors.setdefault(rid, []).append(Site(name, _line_of(text, f'"{rid}"')))
    tests: dict[str, list[Site]] = {}
    for file in sorted((root / "tests").glob("**/*.py")):
        name = file.relative_to(root).as_posix()
        for rid, line in ids_in_test(file.read_text(encoding="utf-8")).items():
            tests.setdefault(rid, []).append(Site(name, line))
    problems.extend(coverage_problems(defined, vectors, tests, references))
    return sorted(problems)


def _line_of(text: str, needle: str) -> int:
    where = text.find(needle)
    return text.count("\n", 0, where) + 1 if where >= 0 else 1


def main(argv: Sequence[str] | None = None) -> int:
    """Run the lint from the command line; the exit status is 1 when a problem was found, else 0."""
    parser = argparse.ArgumentParser(prog="spec_lint", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--root",
        type=Path,
        default=Path(__file__).resolve().parents[1],
        help="the repository root (default: ..)",
    )
    args = parser.parse_args(argv)
    problems = lint_repo(args.root)
    for problem in problems:
        print(problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
