"""aifabric: the reliability layer of AI systems, as an open standard and its reference SDK.

Validate, canonicalize and envelope every aifabric document kind, offline. Names are imported on first
use, so ``import aifabric`` and the ``aifabric`` command start fast.

Examples:
    >>> import aifabric
    >>> aifabric.canonicalize({"b": 2, "a": 1})
    b'{"a":1,"b":2}'
    >>> aifabric.schema_url("conformance-report")
    'https://aifabric.dev/schemas/conformance-report/1.1.0.json'
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

from aifabric._version import SPEC_VERSION, __version__

if TYPE_CHECKING:
    from aifabric._errors import (
        AifabricError,
        BundleError,
        CanonicalizationError,
        CertificateError,
        DigestMismatchError,
        DivergenceError,
        DocumentError,
        EnvelopeError,
        IdentityError,
        KeyFileError,
        KeyMismatchError,
        Problem,
        ProofError,
        SchemaError,
        SignatureError,
        ValidationError,
        VerificationError,
    )
    from aifabric._ids import utc_now, uuid7
    from aifabric.canonical import canonicalize, digest
    from aifabric.schemas import Registry, schema_url
    from aifabric.validation import Validated, validate

__all__ = [
    "SPEC_VERSION",
    "AifabricError",
    "BundleError",
    "CanonicalizationError",
    "CertificateError",
    "DigestMismatchError",
    "DivergenceError",
    "DocumentError",
    "EnvelopeError",
    "IdentityError",
    "KeyFileError",
    "KeyMismatchError",
    "Problem",
    "ProofError",
    "Registry",
    "SchemaError",
    "SignatureError",
    "Validated",
    "ValidationError",
    "VerificationError",
    "__version__",
    "canonicalize",
    "digest",
    "schema_url",
    "utc_now",
    "uuid7",
    "validate",
]

_LAZY = {
    "VerificationError": "aifabric._errors",
    "SignatureError": "aifabric._errors",
    "KeyMismatchError": "aifabric._errors",
    "KeyFileError": "aifabric._errors",
    "IdentityError": "aifabric._errors",
    "DigestMismatchError": "aifabric._errors",
    "CertificateError": "aifabric._errors",
    "DivergenceError": "aifabric._errors",
    "ProofError": "aifabric._errors",
    "BundleError": "aifabric._errors",
    "AifabricError": "aifabric._errors",
    "CanonicalizationError": "aifabric._errors",
    "DocumentError": "aifabric._errors",
    "EnvelopeError": "aifabric._errors",
    "Problem": "aifabric._errors",
    "SchemaError": "aifabric._errors",
    "ValidationError": "aifabric._errors",
    "utc_now": "aifabric._ids",
    "uuid7": "aifabric._ids",
    "canonicalize": "aifabric.canonical",
    "digest": "aifabric.canonical",
    "Registry": "aifabric.schemas",
    "schema_url": "aifabric.schemas",
    "Validated": "aifabric.validation",
    "validate": "aifabric.validation",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'aifabric' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
