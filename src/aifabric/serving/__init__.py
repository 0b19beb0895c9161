"""Serving contracts: prove, with evidence, that a model endpoint meets its signed-off SLOs.

The load generator (:mod:`aifabric.serving.load`) sends :class:`Request` objects and records a :class:`Sample`
for each; the checks (:mod:`aifabric.serving.checks`) judge them against a contract.

Examples:
    >>> from aifabric.serving import Request, Sample
    >>> sample = Sample(index=0, label="", scheduled=0.0, sent=0.001, done=0.021, status=200, ok=True)
    >>> round(sample.done - sample.scheduled, 3)
    0.021
    >>> Request("POST", "/v2/models/churn-classifier/infer").method
    'POST'
"""

from aifabric.serving._types import LatencyKind, Mode, Request, Sample

__all__ = ["LatencyKind", "Mode", "Request", "Sample"]
