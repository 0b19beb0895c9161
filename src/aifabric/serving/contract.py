"""Read serving contracts from YAML or JSON, and compute the digest a serving report names them by.

A contract is validated against the ``serving-contract`` schema before it becomes a
:class:`~aifabric.models.serving.ServingContract`; the model fills in the defaults the schema states
(``overload.factor`` 2, ``overload.statuses`` [429, 503], ``validity.confidence`` 0.99,
``caching.maxSpeedup`` 0.10 and the others). Problems raise :class:`~aifabric.ValidationError` (or
:class:`~aifabric.DocumentError` for input that is not a document) naming the file, the JSON pointer and the rule.

Examples:
    >>> from aifabric.serving.contract import contract_digest, load_contract
    >>> contract = load_contract('''
    ... schemaURL: https://aifabric.dev/schemas/serving-contract/1.0.0.json
    ... producer: https://example.com/ml-platform
    ... contractId: 01936f2a-8b40-7c11-9a3e-4f5d6c7b8a92
    ... name: churn-classifier production
    ... owner: ml-platform@example.com
    ... createdAt: "2026-11-23T08:00:00Z"
    ... endpoint: {protocol: oip-v2, model: {name: churn-classifier, version: "1"}}
    ... load: {mode: open, rate: 50, durationS: 20, seed: 7}
    ... latency: [{metric: e2e, percentile: 0.99, maxMs: 100}]
    ... caching: {}
    ... ''')
    >>> contract.load.rate, contract.latency[0].max_ms, contract.caching.max_speedup
    (50, 100, 0.1)
    >>> sorted(contract_digest(contract))
    ['sha256']
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Final

from aifabric.canonical import digest
from aifabric.models.serving import ServingContract

__all__ = ["SIGNATURES", "contract_digest", "load_contract"]

SIGNATURES: Final = "signatures"
"""The member of a contract that holds its embedded signatures; it is left out of the contract's digest."""


def load_contract(source: str | os.PathLike[str] | bytes, *, fmt: str | None = None) -> ServingContract:
    """Read one serving contract from a file, or from YAML or JSON text (``ServingContract.read``).

    Raises:
        DocumentError: the input cannot be read or parsed, or holds other than exactly one document.
        ValidationError: the document is not a valid serving contract; ``problems`` has every finding.
    """
    return ServingContract.read(source, fmt=fmt)


def contract_digest(contract: ServingContract | Mapping[str, Any]) -> dict[str, str]:
    """The SHA-256 of the contract's canonical form (RFC 8785) without its ``signatures``, as a digest set.

    For a :class:`ServingContract` the document is the one it was read from: members the model filled in by
    default are not part of it, so the digest is that of the file as written and signed.
    """
    if isinstance(contract, ServingContract):
        doc = contract.model_dump(mode="json", by_alias=True, exclude_unset=True, exclude_none=True)
    else:
        doc = dict(contract)
    return digest({key: value for key, value in doc.items() if key != SIGNATURES})
