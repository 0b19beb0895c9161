"""Lineage: OpenLineage 2-0-2 events, emitted durably, with aifabric's facets.

The emitter lives in :mod:`aifabric.lineage.emitter`, its transports in :mod:`aifabric.lineage.transports` and
its configuration in :mod:`aifabric.lineage.config`.

Examples:
    >>> from aifabric.lineage.emitter import RUN_EVENT_SCHEMA_URL, run_event
    >>> event = run_event("START", "my-namespace", "my-job")
    >>> event["schemaURL"] == RUN_EVENT_SCHEMA_URL, event["run"]["runId"][14]
    (True, '7')
"""

__all__: list[str] = []
