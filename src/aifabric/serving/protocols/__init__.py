"""The wire protocols a serving contract names: the Open Inference Protocol v2 and the OpenAI-compatible API.

Each module builds :class:`~aifabric.serving.Request` objects, parses answers, and has a ``check_protocol`` probe.

Examples:
    >>> from aifabric.serving.protocols import oip_v2, openai
    >>> oip_v2.model_path("churn", "2")
    '/v2/models/churn/versions/2'
    >>> openai.models_request().path
    '/v1/models'
"""

from aifabric.serving.protocols import oip_v2, openai

__all__ = ["oip_v2", "openai"]
