"""A broken Signature Verifier that checks the signature over the DSSE envelope but never the subject digest.

It opens the bundle as aifabric does (the key, or the certificate chain up to the given roots; the DSSE
signature over the PAE of the in-toto statement; the statement's predicate type, predicate and subject name) and
stops there: it never computes the digest of the document or of the model's files and never compares it with the
subject's. So it accepts a document changed after signing, a signature over another document of the same kind,
and a model whose files were changed, renamed, added or removed. A suite MUST fail it on SIG-032 (a verifier
computes the document's digest and rejects a difference), SIG-061 (the model's subject digest over its resources)
and SIG-070 (the model on disk hashed and compared with the signed manifest), with the ``signing/documents.json``
and ``signing/models.json`` cases that alter what was signed.
Run it with ``python conformance/fakes/no_digest_check.py``; it speaks the adapter protocol on stdin/stdout.
"""

from __future__ import annotations

import sys
from typing import Any

from _protocol import serve

from aifabric._errors import AifabricError, BundleError, DigestMismatchError
from aifabric.signing._verify import open_bundle
from aifabric.signing.artifacts import MODEL_PREDICATE
from aifabric.signing.digests import Manifest
from aifabric.signing.documents import DOCUMENT_PREDICATE, SIGNATURES
from aifabric.signing.keys import load_certificates, load_public_key


def _document(doc: Any, bundle: Any, opened: Any) -> None:
    if not isinstance(doc, dict):
        raise DigestMismatchError("only a JSON object can be a signed document")
    candidates = [bundle] if bundle is not None else doc.get(SIGNATURES)
    if not isinstance(candidates, list) or not candidates:
        raise BundleError("the document carries no signatures and no bundle was given")
    failure: AifabricError | None = None
    for candidate in candidates:
        try:
            found, _ = opened(candidate)
            predicate = {"schemaURL": doc.get("schemaURL"), "canonicalization": "RFC8785", "excluded": [SIGNATURES]}
            if found.get("predicateType") != DOCUMENT_PREDICATE or found.get("predicate") != predicate:
                raise BundleError("not a document statement for this document's kind")
            if len(found["subject"]) != 1 or found["subject"][0]["name"] != doc.get("schemaURL"):
                raise BundleError("not exactly one subject named by the document's schemaURL")
            # BROKEN ON PURPOSE: the subject's digest is never compared with the document's (SIG-032).
            return
        except AifabricError as exc:
            failure = failure or exc
    assert failure is not None
    raise failure


def _model(bundle: Any, opened: Any) -> None:
    found, _ = opened(bundle)
    if found.get("predicateType") != MODEL_PREDICATE or len(found["subject"]) != 1:
        raise BundleError("not a model statement with one subject")
    subject, predicate = found["subject"][0], found.get("predicate")
    if not isinstance(predicate, dict) or not isinstance(subject.get("name"), str):
        raise BundleError("the model signature's statement has no predicate or subject name")
    Manifest.from_predicate(subject["name"], predicate)
    # BROKEN ON PURPOSE: neither the subject digest (SIG-061) nor the files on disk are checked.


def verify(case: dict[str, Any]) -> tuple[bool, str | None]:
    """Verify the signature only."""
    data = case["data"]
    key = load_public_key(data["publicKey"].encode("utf-8"))
    roots = load_certificates(data["roots"].encode("utf-8")) if data.get("roots") else []

    def opened(bundle: Any) -> Any:
        return open_bundle(bundle, key=key, roots=roots)

    try:
        if "document" in data:
            _document(data["document"], data["bundle"], opened)
        else:
            _model(data["bundle"], opened)
    except AifabricError as exc:
        return False, str(exc)
    return True, "the signature verifies (the digest was not checked)"


if __name__ == "__main__":
    sys.exit(serve("fake-no-digest-check", {"verify": verify}))
