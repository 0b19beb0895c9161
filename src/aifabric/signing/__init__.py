"""Sign and verify model artifacts and aifabric documents, offline, in formats other tools verify.

Model directories are signed in the OpenSSF model-signing format (a Sigstore bundle around a DSSE envelope
around an in-toto statement with the ``https://model_signing/signature/v1.0`` predicate); documents with an
aifabric predicate over their RFC 8785 digest. Verification raises, never returns False.

Examples:
    >>> from aifabric.signing import generate_key, sign_document, verify_document
    >>> from aifabric.conformance import run_vectors
    >>> key = generate_key()
    >>> report = run_vectors([]).to_json()
    >>> bundle = sign_document(report, key)
    >>> verify_document(report, bundle, key=key.public_key()).signer.method
    'key'
"""

from aifabric.signing._verify import Signer
from aifabric.signing.bundle import Bundle
from aifabric.signing.documents import VerifiedDocument, attach, sign_document, verify_document
from aifabric.signing.keys import (
    generate_key,
    load_certificates,
    load_private_key,
    load_public_key,
    write_private_key,
)

__all__ = [
    "Bundle",
    "Signer",
    "VerifiedDocument",
    "attach",
    "generate_key",
    "load_certificates",
    "load_private_key",
    "load_public_key",
    "sign_document",
    "verify_document",
    "write_private_key",
]
