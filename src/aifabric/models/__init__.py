"""Typed pydantic models of aifabric documents, one module per kind, proven equal to the schemas by tests.

Examples:
    >>> from aifabric.models import Actor
    >>> Actor(type="user", id="alice@example.com").model_dump(exclude_none=True)
    {'type': 'user', 'id': 'alice@example.com'}
"""

from aifabric.models.common import Actor, DigestSet, Document, ResourceRef
from aifabric.models.conformance import (
    ConformanceReport,
    ConformanceVectorFile,
    Implementation,
    Outcome,
    Result,
    Suite,
    Summary,
    VectorCase,
)

__all__ = [
    "Actor",
    "ConformanceReport",
    "ConformanceVectorFile",
    "DigestSet",
    "Document",
    "Implementation",
    "Outcome",
    "ResourceRef",
    "Result",
    "Suite",
    "Summary",
    "VectorCase",
]
