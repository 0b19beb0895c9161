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
from aifabric.models.lineage import (
    AICall,
    AICallsRunFacet,
    ConsentPurpose,
    DataResidency,
    Dataset,
    DatasetEvent,
    DatasetFacets,
    DeploymentFacet,
    Framework,
    InputDataset,
    Job,
    JobEvent,
    JobFacets,
    Link,
    ModelFacet,
    OutputDataset,
    PolicyDecision,
    PolicyRunFacet,
    Run,
    RunEvent,
    RunFacets,
    TrustDatasetFacet,
)

__all__ = [
    "AICall",
    "AICallsRunFacet",
    "Actor",
    "ConformanceReport",
    "ConformanceVectorFile",
    "ConsentPurpose",
    "DataResidency",
    "Dataset",
    "DatasetEvent",
    "DatasetFacets",
    "DeploymentFacet",
    "DigestSet",
    "Document",
    "Framework",
    "Implementation",
    "InputDataset",
    "Job",
    "JobEvent",
    "JobFacets",
    "Link",
    "ModelFacet",
    "Outcome",
    "OutputDataset",
    "PolicyDecision",
    "PolicyRunFacet",
    "ResourceRef",
    "Result",
    "Run",
    "RunEvent",
    "RunFacets",
    "Suite",
    "Summary",
    "TrustDatasetFacet",
    "VectorCase",
]
