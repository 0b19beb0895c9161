"""The one error tree of aifabric.

```
AifabricError                 every error the SDK raises on purpose
├── DocumentError             input that cannot be read as a document (bad JSON/YAML, too big, too deep)
│   └── ValidationError       a document that does not conform to its schema; ``problems`` lists each
├── SchemaError               an unknown or unsupported schema URL, a bad schema, a remote ``$ref`` refused
├── CanonicalizationError     a value RFC 8785 cannot represent (NaN, huge integers, lone surrogates)
└── EnvelopeError             a CloudEvent that cannot carry, or does not carry, an aifabric document
```

Each class has a stable ``code`` that tools may match on; messages are for people.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "AifabricError",
    "CanonicalizationError",
    "DocumentError",
    "EnvelopeError",
    "Problem",
    "SchemaError",
    "ValidationError",
]


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with one document.

    Attributes:
        pointer: RFC 6901 JSON pointer to the offending value ("" is the whole document).
        rule: the rule broken: a JSON Schema keyword (``required``, ``format``...) or an aifabric rule name.
        message: a readable sentence.
        source: the file (or ``<stdin>``) the document came from, when known.
    """

    pointer: str
    rule: str
    message: str
    source: str | None = None

    def __str__(self) -> str:
        where = f"{self.source}: " if self.source else ""
        return f"{where}{self.pointer or '/'}: {self.rule}: {self.message}"


class AifabricError(Exception):
    """Root of every error aifabric raises on purpose."""

    code = "AIF-ERROR"


class DocumentError(AifabricError):
    """Input that cannot be read as a document."""

    code = "AIF-DOCUMENT"

    def __init__(self, message: str, *, source: str | None = None, rule: str = "parse", pointer: str = "") -> None:
        self.source = source
        self.rule = rule
        self.pointer = pointer
        self.reason = message
        super().__init__(f"{source}: {message}" if source else message)


class ValidationError(DocumentError):
    """A document that does not conform to its schema; ``problems`` has every finding."""

    code = "AIF-INVALID"

    def __init__(self, problems: list[Problem], *, source: str | None = None, schema_url: str | None = None) -> None:
        self.problems = problems
        self.schema_url = schema_url
        first = problems[0] if problems else Problem("", "invalid", "document is invalid")
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(
            f"{first.pointer or '/'}: {first.rule}: {first.message}{more}",
            source=source,
            rule=first.rule,
            pointer=first.pointer,
        )


class SchemaError(AifabricError):
    """An unknown or unsupported schema, a schema that does not compile, or a refused remote reference."""

    code = "AIF-SCHEMA"


class CanonicalizationError(AifabricError):
    """A value that RFC 8785 canonical JSON cannot represent."""

    code = "AIF-CANONICAL"


class EnvelopeError(AifabricError):
    """A CloudEvent that cannot carry, or does not carry, a valid aifabric document."""

    code = "AIF-ENVELOPE"
