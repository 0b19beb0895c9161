"""The one error tree of aifabric.

```
AifabricError                 every error the SDK raises on purpose
├── DocumentError             input that cannot be read as a document (bad JSON/YAML, too big, too deep)
│   └── ValidationError       a document that does not conform to its schema; ``problems`` lists each
├── SchemaError               an unknown or unsupported schema URL, a bad schema, a remote ``$ref`` refused
├── CanonicalizationError     a value RFC 8785 cannot represent (NaN, huge integers, lone surrogates)
├── EnvelopeError             a CloudEvent that cannot carry, or does not carry, an aifabric document
├── KeyFileError              a key or certificate that cannot be read, generated or written safely
├── TransportError            a batch of lineage events a destination did not (wholly) accept
│   ├── RetryableTransportError   down, slow or busy: try again later
│   └── PermanentTransportError   it will never accept them (a 4xx answer)
├── ToolCallError             a tool call that ended in an error class of spec/tools.md (``error_class``)
│   ├── InvalidInputError, UnauthorizedError, ForbiddenError, RateLimitedError,
│   └── ToolTimeoutError, ConflictError, UnavailableError, ToolFailedError
├── SpoolError                a spool directory that cannot be used
├── StoreError                a lineage store (database) that cannot be opened, read or written
└── VerificationError         a signature that does not verify; verification raises, never returns False
    ├── BundleError           a bundle or envelope that is malformed, truncated or of an unknown version
    ├── SignatureError        a signature that does not match the signed bytes
    ├── KeyMismatchError      a bundle made with another key than the one given
    ├── DigestMismatchError   content that differs from what was signed; ``changed``/``added``/``missing``
    ├── CertificateError      a certificate chain, timestamp or log entry the trust root does not vouch for
    ├── IdentityError         a valid signature by someone other than the expected identity or issuer
    ├── ProofError            a Merkle proof or checkpoint that is malformed or does not lead to its root hash
    └── DivergenceError       an audit log that differs from a checkpoint; ``index`` is the first entry that does
```

Each class has a stable ``code`` that tools may match on; messages are for people.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "AifabricError",
    "BundleError",
    "CanonicalizationError",
    "CertificateError",
    "ConflictError",
    "DigestMismatchError",
    "DivergenceError",
    "DocumentError",
    "EnvelopeError",
    "ForbiddenError",
    "IdentityError",
    "InvalidInputError",
    "KeyFileError",
    "KeyMismatchError",
    "PermanentTransportError",
    "Problem",
    "ProofError",
    "RateLimitedError",
    "RetryableTransportError",
    "SchemaError",
    "SignatureError",
    "SpoolError",
    "StoreError",
    "ToolCallError",
    "ToolFailedError",
    "ToolTimeoutError",
    "TransportError",
    "UnauthorizedError",
    "UnavailableError",
    "ValidationError",
    "VerificationError",
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


class KeyFileError(AifabricError):
    """A key or certificate that cannot be read, generated or written safely."""

    code = "AIF-KEY"


class VerificationError(AifabricError):
    """A signature that does not verify. Verification raises one of the subclasses; it never returns False."""

    code = "AIF-VERIFY"


class BundleError(VerificationError):
    """A bundle or envelope that is malformed, truncated or of an unknown version."""

    code = "AIF-VERIFY-BUNDLE"


class SignatureError(VerificationError):
    """A signature that does not match the signed bytes."""

    code = "AIF-VERIFY-SIGNATURE"


class KeyMismatchError(VerificationError):
    """A bundle made with another key than the one given."""

    code = "AIF-VERIFY-KEY"


class DigestMismatchError(VerificationError):
    """Content that differs from what was signed, with the paths that changed, were added or went missing."""

    code = "AIF-VERIFY-DIGEST"

    def __init__(
        self,
        message: str,
        *,
        changed: list[str] | None = None,
        added: list[str] | None = None,
        missing: list[str] | None = None,
    ) -> None:
        self.changed = sorted(changed or [])
        self.added = sorted(added or [])
        self.missing = sorted(missing or [])
        parts = [
            f"{name}: {', '.join(paths)}"
            for name, paths in (("changed", self.changed), ("added", self.added), ("missing", self.missing))
            if paths
        ]
        super().__init__(f"{message} ({'; '.join(parts)})" if parts else message)


class CertificateError(VerificationError):
    """A certificate chain, timestamp or transparency-log entry that the trust root does not vouch for."""

    code = "AIF-VERIFY-CERTIFICATE"


class IdentityError(VerificationError):
    """A valid signature by someone other than the expected identity or issuer."""

    code = "AIF-VERIFY-IDENTITY"


class ProofError(VerificationError):
    """A Merkle proof or checkpoint that is malformed or does not lead to its root hash."""

    code = "AIF-VERIFY-PROOF"


class DivergenceError(VerificationError):
    """An audit log that differs from a checkpoint; ``index`` is the first entry where it does."""

    code = "AIF-VERIFY-DIVERGENCE"

    def __init__(self, message: str, *, index: int) -> None:
        self.index = index
        super().__init__(message)


class ToolCallError(AifabricError):
    """A tool call that ended in an error class of spec/tools.md or of the tool's contract.

    A tool function raises it (or a subclass) to end with a class its contract declares, such as
    ``ToolCallError("no funds", error_class="INSUFFICIENT_FUNDS")``; ``retry_after`` is a ``Retry-After`` in
    seconds. Subclasses name the spec's classes.
    """

    code = "AIF-TOOL"
    error_class = "TOOL_ERROR"

    def __init__(self, message: str, *, error_class: str | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        if error_class is not None:
            self.error_class = error_class
        self.retry_after = retry_after


class InvalidInputError(ToolCallError):
    """``INVALID_INPUT``: arguments not valid against ``inputSchema``, a missing or reused idempotency key."""

    code = "AIF-TOOL-INVALID-INPUT"
    error_class = "INVALID_INPUT"

    def __init__(self, message: str, *, problems: list[Problem] | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.problems = problems or []
        self.status = status


class UnauthorizedError(ToolCallError):
    """``UNAUTHORIZED``: the tool needs an authenticated caller and has none."""

    code = "AIF-TOOL-UNAUTHORIZED"
    error_class = "UNAUTHORIZED"


class ForbiddenError(ToolCallError):
    """``FORBIDDEN``: the caller lacks a scope or consent, or the policy refused; ``reasons`` says why."""

    code = "AIF-TOOL-FORBIDDEN"
    error_class = "FORBIDDEN"

    def __init__(self, message: str, *, reasons: list[str] | None = None) -> None:
        super().__init__(message)
        self.reasons = reasons or [message]


class RateLimitedError(ToolCallError):
    """``RATE_LIMITED``: a rate-limit policy's quota is spent; ``retry_after`` says when to try again."""

    code = "AIF-TOOL-RATE-LIMITED"
    error_class = "RATE_LIMITED"


class ToolTimeoutError(ToolCallError):
    """``TIMEOUT``: the call did not end within the contract's ``timeoutS``."""

    code = "AIF-TOOL-TIMEOUT"
    error_class = "TIMEOUT"


class ConflictError(ToolCallError):
    """``CONFLICT``: a call with the same idempotency key is in flight."""

    code = "AIF-TOOL-CONFLICT"
    error_class = "CONFLICT"


class UnavailableError(ToolCallError):
    """``UNAVAILABLE``: the tool cannot take calls now (its circuit breaker is open, or it said so)."""

    code = "AIF-TOOL-UNAVAILABLE"
    error_class = "UNAVAILABLE"


class ToolFailedError(ToolCallError):
    """``TOOL_ERROR``: any other failure, a result not valid against ``outputSchema`` among them."""

    code = "AIF-TOOL-FAILED"
    error_class = "TOOL_ERROR"


class TransportError(AifabricError):
    """A batch the destination did not (wholly) accept.

    Attributes:
        delivered: how many events at the start of the batch did arrive.
        retry_after: seconds the destination asked to wait before retrying, when it said.
        detail: more for the log (a response body excerpt), when there is any.
    """

    code = "AIF-TRANSPORT"
    retryable = False

    def __init__(
        self, message: str, *, delivered: int = 0, retry_after: float | None = None, detail: str | None = None
    ) -> None:
        super().__init__(message)
        self.delivered = delivered
        self.retry_after = retry_after
        self.detail = detail


class RetryableTransportError(TransportError):
    """The destination is down, slow or busy: try the rest of the batch again later."""

    code = "AIF-TRANSPORT-RETRY"
    retryable = True


class PermanentTransportError(TransportError):
    """The destination will never accept the rest of the batch (a 4xx answer, an event it cannot carry)."""

    code = "AIF-TRANSPORT-PERMANENT"


class SpoolError(AifabricError):
    """A spool directory that cannot be used (no free lane, not writable)."""

    code = "AIF-SPOOL"


class StoreError(AifabricError):
    """The lineage store cannot be opened, read or written (the database, not the input, is at fault)."""

    code = "AIF-STORE"
