"""Export audit records as OCSF 1.3.0 events, and import them back.

An audit record of class 6003 becomes an OCSF API Activity event, one of class 3002 an Authentication event,
following the mapping of the audit chapter (AUD-116). What OCSF has no attribute for travels in the event's
``unmapped`` under ``aifabric``, and ``attributes`` in ``unmapped`` itself, so that ``from_ocsf(to_ocsf(r))``
gives back ``r`` exactly. ``from_ocsf`` also reads events other producers wrote.

Examples:
    >>> from aifabric.audit.ocsf import from_ocsf, to_ocsf
    >>> record = {
    ...     "schemaURL": "https://aifabric.dev/schemas/audit-record/1.0.0.json",
    ...     "producer": "https://github.com/aifabric/aifabric/tree/v0.1.0",
    ...     "recordId": "01936f2a-8b40-7c11-9a3e-4f5d6c7b8a90",
    ...     "time": "2026-11-23T08:15:42.010Z",
    ...     "classUid": 6003, "activityId": 2, "severityId": 1, "action": "tool.call",
    ...     "actor": {"type": "agent", "id": "triage-agent", "onBehalfOf": {"type": "user", "id": "alice"}},
    ...     "target": {"type": "tool", "name": "lookup_order"},
    ...     "outcome": "success", "source": {"ip": "192.0.2.10"},
    ... }
    >>> event = to_ocsf(record)
    >>> event["type_uid"], event["time"], event["api"]["operation"], event["actor"]["user"]["uid"]
    (600302, 1795421742010, 'tool.call', 'alice')
    >>> from_ocsf(event).to_json() == record
    True
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Final

import pydantic

from aifabric._errors import DocumentError, Problem, ValidationError
from aifabric._ids import uuid7
from aifabric._version import __version__
from aifabric.models.audit import PRODUCER, AuditRecord
from aifabric.validation import validate

__all__ = ["OCSF_VERSION", "from_ocsf", "to_ocsf"]

OCSF_VERSION: Final = "1.3.0"
"""The OCSF schema version the export targets and writes in ``metadata.version``."""
_CLASSES: Final = {
    6003: ("API Activity", 6, "Application Activity"),
    3002: ("Authentication", 3, "Identity & Access Management"),
}
_ACTIVITIES: Final = {
    6003: {0: "Unknown", 1: "Create", 2: "Read", 3: "Update", 4: "Delete", 99: "Other"},
    3002: {
        0: "Unknown",
        1: "Logon",
        2: "Logoff",
        3: "Authentication Ticket",
        4: "Service Ticket Request",
        5: "Service Ticket Renew",
        6: "Preauth",
        99: "Other",
    },
}
_SEVERITIES: Final = {0: "Unknown", 1: "Informational", 2: "Low", 3: "Medium", 4: "High", 5: "Critical", 6: "Fatal"}
_STATUS_IDS: Final = {"unknown": 0, "success": 1, "failure": 2, "denied": 2}
_STATUSES: Final = {0: "Unknown", 1: "Success", 2: "Failure", 99: "Other"}
_OUTCOMES: Final = {1: "success", 2: "failure"}
_PROTOCOLS: Final = {
    "unknown": (0, "Unknown"),
    "ntlm": (1, "NTLM"),
    "kerberos": (2, "Kerberos"),
    "digest": (3, "Digest"),
    "openid": (4, "OpenID"),
    "saml": (5, "SAML"),
    "oauth2": (6, "OAUTH 2.0"),
    "pap": (7, "PAP"),
    "chap": (8, "CHAP"),
    "eap": (9, "EAP"),
    "radius": (10, "RADIUS"),
    "other": (99, "Other"),
}
_LOGON_TYPES: Final = {
    "unknown": (0, "Unknown"),
    "system": (1, "System"),
    "interactive": (2, "Interactive"),
    "network": (3, "Network"),
    "batch": (4, "Batch"),
    "os_service": (5, "OS Service"),
    "unlock": (7, "Unlock"),
    "network_cleartext": (8, "Network Cleartext"),
    "new_credentials": (9, "New Credentials"),
    "remote_interactive": (10, "Remote Interactive"),
    "cached_interactive": (11, "Cached Interactive"),
    "cached_remote_interactive": (12, "Cached Remote Interactive"),
    "cached_unlock": (13, "Cached Unlock"),
    "other": (99, "Other"),
}
_USER_TYPES: Final = {"user": (1, "User"), "organization": (99, "Organization")}
_MAPPED: Final = frozenset(
    {
        *("activity_id", "activity_name", "actor", "api", "category_name", "category_uid", "class_name", "class_uid"),
        *("duration", "http_request", "metadata", "resources", "service", "severity", "severity_id", "src_endpoint"),
        *("status", "status_detail", "status_id", "time", "timezone_offset", "type_name", "type_uid", "unmapped"),
        *("user", "auth_protocol", "auth_protocol_id", "is_mfa", "is_remote", "logon_type", "logon_type_id"),
        "session",
    }
)
_TRACEPARENT: Final = re.compile(r"00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}\Z")
_UUIDV7: Final = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\Z")
_CARRIED: Final = "aifabric"
_RESOURCE_TYPE: Final = re.compile(r"[a-z][a-z0-9_.-]{0,63}\Z")


def to_ocsf(record: AuditRecord | Mapping[str, Any]) -> dict[str, Any]:
    """The OCSF 1.3.0 event of an audit record: API Activity (6003) or Authentication (3002).

    Raises:
        ValidationError: ``record`` is not a valid audit record.
    """
    doc = _record(record).to_json()
    event = _export(doc)
    recovered = _import(event)
    attributes: dict[str, Any] = dict(doc.get("attributes", {}))
    carried = {k: v for k, v in doc.items() if k != "attributes" and recovered.get(k) != v}
    absent = sorted(k for k in recovered if k not in doc)
    if _CARRIED in attributes or (attributes == {} and "attributes" in doc):  # they could not be told apart
        carried["attributes"], attributes = attributes, {}
    if absent:
        carried["absent"] = absent
    unmapped = {**attributes, **({_CARRIED: carried} if carried else {})}
    if unmapped:
        event["unmapped"] = unmapped
    return event


def from_ocsf(event: Mapping[str, Any]) -> AuditRecord:
    """The audit record of an OCSF API Activity or Authentication event, such as ``to_ocsf`` writes.

    Raises:
        DocumentError: ``event`` is not an OCSF event of class 6003 or 3002; its ``pointer`` names the member.
        ValidationError: the record the event gives is not valid; ``problems`` name the record's members.
    """
    if not isinstance(event, Mapping):
        raise DocumentError("an OCSF event is a JSON object", rule="type")
    doc = _import(event)
    unmapped = event.get("unmapped", {})
    if not isinstance(unmapped, Mapping):
        raise DocumentError("unmapped is an object", rule="type", pointer="/unmapped")
    carried = unmapped.get(_CARRIED, {})
    if not isinstance(carried, Mapping):
        raise DocumentError("unmapped.aifabric is an object", rule="type", pointer="/unmapped/aifabric")
    attributes = {k: v for k, v in unmapped.items() if k != _CARRIED}
    if attributes:
        doc["attributes"] = attributes
    absent = carried.get("absent", [])
    if not isinstance(absent, list):
        raise DocumentError("unmapped.aifabric.absent is an array", rule="type", pointer="/unmapped/aifabric/absent")
    doc.update({k: v for k, v in carried.items() if k != "absent"})
    for name in absent:
        doc.pop(name, None)
    doc.setdefault("recordId", uuid7())
    return _record(doc)


def _record(record: AuditRecord | Mapping[str, Any]) -> AuditRecord:
    if isinstance(record, AuditRecord):
        return record
    validate({"producer": PRODUCER, **record}, schema_url=AuditRecord.SCHEMA_URL)  # problems with their pointers
    try:
        return AuditRecord.model_validate(record)
    except pydantic.ValidationError as error:
        problems = [
            Problem("/" + "/".join(str(p) for p in item["loc"]), item["type"], item["msg"]) for item in error.errors()
        ]
        raise ValidationError(problems, schema_url=AuditRecord.SCHEMA_URL) from None


def _epoch_ms(time: str) -> tuple[int, int | None]:
    moment = datetime.fromisoformat(time.upper().replace("Z", "+00:00"))
    offset = moment.utcoffset() or timedelta(0)
    utc = moment.astimezone(UTC)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    ms = (utc - epoch) // timedelta(milliseconds=1)
    minutes = int(offset.total_seconds() // 60)
    return ms, minutes if -1080 <= minutes <= 1080 else None


def _rfc3339(ms: int, minutes: int) -> str:
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)
    moment = moment.astimezone(timezone(timedelta(minutes=minutes)))
    text = moment.isoformat(timespec="milliseconds" if ms % 1000 else "seconds")
    return text.replace("+00:00", "Z")


def _user(actor: Mapping[str, Any]) -> dict[str, Any]:
    type_id, type_name = _USER_TYPES.get(actor["type"], (99, actor["type"].capitalize()))
    user: dict[str, Any] = {"uid": actor["id"], "type_id": type_id, "type": type_name}
    if "displayName" in actor:
        user["name"] = actor["displayName"]
    if "email" in actor:
        user["email_addr"] = actor["email"]
    return user


def _export(doc: Mapping[str, Any]) -> dict[str, Any]:
    class_uid, activity_id = doc["classUid"], doc["activityId"]
    class_name, category_uid, category_name = _CLASSES[class_uid]
    activity = _ACTIVITIES[class_uid][activity_id]
    ms, minutes = _epoch_ms(doc["time"])
    status_id = _STATUS_IDS[doc["outcome"]]
    metadata: dict[str, Any] = {
        "version": OCSF_VERSION,
        "product": {"name": "aifabric", "vendor_name": "aifabric", "version": __version__},
        "uid": doc["recordId"],
    }
    event: dict[str, Any] = {
        "class_uid": class_uid,
        "class_name": class_name,
        "category_uid": category_uid,
        "category_name": category_name,
        "activity_id": activity_id,
        "activity_name": activity,
        "type_uid": class_uid * 100 + activity_id,
        "type_name": f"{class_name}: {activity}",
        "severity_id": doc["severityId"],
        "severity": _SEVERITIES.get(doc["severityId"], "Other"),
        "time": ms,
        "metadata": metadata,
        "status_id": status_id,
        "status": _STATUSES[status_id],
    }
    if minutes is not None:
        event["timezone_offset"] = minutes
    if "outcomeReason" in doc:
        event["status_detail"] = doc["outcomeReason"]
    trace = doc.get("trace", {})
    if "traceparent" in trace:
        metadata["correlation_uid"] = trace["traceparent"]
    if "durationMs" in doc:
        event["duration"] = round(doc["durationMs"])
    source = doc.get("source", {})
    endpoint = {key: source[key] for key in ("ip", "hostname", "port") if key in source}
    if endpoint:
        event["src_endpoint"] = endpoint
    http = {"user_agent": source["userAgent"]} if "userAgent" in source else {}
    if "requestId" in trace:
        http["uid"] = trace["requestId"]
    if http:
        event["http_request"] = http
    actor, target = doc["actor"], doc["target"]
    if class_uid == 6003:
        event["actor"] = _export_actor(actor, doc.get("policy"))
        event["api"] = {"operation": doc["action"]}
        if "requestId" in trace:
            event["api"]["request"] = {"uid": trace["requestId"]}
        resource = {"type": target["type"], "name": target["name"]}
        resource.update({key: target[key] for key in ("namespace", "version") if key in target})
        if "uri" in target:
            resource["uid"] = target["uri"]
        event["resources"] = [resource]
    else:
        event["user"] = _user(actor)
        if "sessionId" in actor:
            event["session"] = {"uid": actor["sessionId"]}
        event["service"] = {"name": target["name"], **({"version": target["version"]} if "version" in target else {})}
        auth = doc["authentication"]
        event["auth_protocol_id"], event["auth_protocol"] = _PROTOCOLS[auth["protocol"]]
        if "mfa" in auth:
            event["is_mfa"] = auth["mfa"]
        if "remote" in auth:
            event["is_remote"] = auth["remote"]
        if "logonType" in auth:
            event["logon_type_id"], event["logon_type"] = _LOGON_TYPES[auth["logonType"]]
    event.update(doc.get("ocsf", {}))
    return event


def _export_actor(actor: Mapping[str, Any], policy: Mapping[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if actor["type"] in _USER_TYPES:
        out["user"] = _user(actor)
    else:
        out["app_uid"] = actor["id"]
        out["app_name"] = actor.get("displayName", actor["id"])
        if "onBehalfOf" in actor:
            out["user"] = _user(actor["onBehalfOf"])
    if "sessionId" in actor:
        out["session"] = {"uid": actor["sessionId"]}
    if policy is not None:
        decided = {"uid": policy["policyId"], **({"version": policy["version"]} if "version" in policy else {})}
        out["authorizations"] = [{"decision": policy["effect"], "policy": decided}]
    return out


def _get(event: Mapping[str, Any], path: str, kind: type | tuple[type, ...], default: Any = None) -> Any:
    """The member at ``path`` (a JSON pointer) if it is there and of ``kind``; ``default`` if it is not there."""
    node: Any = event
    for part in path.strip("/").split("/"):
        if not isinstance(node, Mapping) or part not in node:
            return default
        node = node[part]
    if not isinstance(node, kind) or (isinstance(node, bool) and kind is int):
        raise DocumentError(f"{path} is not of the type OCSF gives it", rule="type", pointer=path)
    return node


def _import(event: Mapping[str, Any]) -> dict[str, Any]:
    """The record members an event's mapped attributes give (without what ``unmapped`` carries)."""
    class_uid = _get(event, "/class_uid", int)
    if class_uid not in _CLASSES:
        raise DocumentError(
            "class_uid is 6003 (API Activity) or 3002 (Authentication)", rule="enum", pointer="/class_uid"
        )
    for name in ("activity_id", "severity_id", "time"):
        if name not in event:
            raise DocumentError(f"an OCSF event has {name}", rule="required", pointer=f"/{name}")
    activity_id = _get(event, "/activity_id", int)
    ms = _get(event, "/time", int)
    minutes = _get(event, "/timezone_offset", int, 0)
    doc: dict[str, Any] = {
        "schemaURL": AuditRecord.SCHEMA_URL,
        "classUid": class_uid,
        "activityId": activity_id,
        "severityId": _get(event, "/severity_id", int),
        "time": _rfc3339(ms, minutes if -1080 <= minutes <= 1080 else 0),
        "outcome": _OUTCOMES.get(_get(event, "/status_id", int, 0), "unknown"),
    }
    uid = _get(event, "/metadata/uid", str)
    if uid is not None and _UUIDV7.match(uid):
        doc["recordId"] = uid
    detail = _get(event, "/status_detail", str)
    if detail:
        doc["outcomeReason"] = detail
    trace: dict[str, Any] = {}
    correlation = _get(event, "/metadata/correlation_uid", str)
    if correlation is not None and _TRACEPARENT.match(correlation):
        trace["traceparent"] = correlation
    request = _get(event, "/api/request/uid", str) or _get(event, "/http_request/uid", str)
    if request:
        trace["requestId"] = request
    if trace:
        doc["trace"] = trace
    duration = _get(event, "/duration", int)
    if duration is not None:
        doc["durationMs"] = duration
    endpoint = _get(event, "/src_endpoint", Mapping, {})
    source = {key: endpoint[key] for key in ("ip", "hostname", "port") if endpoint.get(key) not in (None, "")}
    agent = _get(event, "/http_request/user_agent", str)
    if agent:
        source["userAgent"] = agent
    if source:
        doc["source"] = source
    if class_uid == 6003:
        doc["action"] = _get(event, "/api/operation", str, "api.call")
        doc["actor"] = _import_actor(event)
        resources = _get(event, "/resources", list, [])
        first = resources[0] if resources and isinstance(resources[0], Mapping) else {}
        kind = first.get("type")
        kind = kind if isinstance(kind, str) and _RESOURCE_TYPE.match(kind) else "resource"
        target = {"type": kind, "name": first.get("name") or first.get("uid") or "unknown"}
        target.update({key: first[key] for key in ("namespace", "version") if key in first})
        if "uid" in first and "name" in first:
            target["uri"] = first["uid"]
        doc["target"] = target
        authorization = _get(event, "/actor/authorizations", list, [{}])
        first_decision = authorization[0] if authorization and isinstance(authorization[0], Mapping) else {}
        policy = first_decision.get("policy", {})
        if first_decision.get("decision") in ("allow", "deny") and isinstance(policy, Mapping) and "uid" in policy:
            doc["policy"] = {"policyId": policy["uid"], "effect": first_decision["decision"]}
            if "version" in policy:
                doc["policy"]["version"] = policy["version"]
    else:
        activity = _ACTIVITIES[3002].get(activity_id, "other").lower().replace(" ", "_")
        doc["action"] = f"authentication.{activity}"
        doc["actor"] = _import_user(_get(event, "/user", Mapping, {}), "/user")
        session = _get(event, "/session/uid", str)
        if session:
            doc["actor"]["sessionId"] = session
        service = _get(event, "/service", Mapping, {})
        doc["target"] = {"type": "service", "name": service.get("name") or service.get("uid") or "unknown"}
        if "version" in service:
            doc["target"]["version"] = service["version"]
        protocol_id = _get(event, "/auth_protocol_id", int, 0)
        auth: dict[str, Any] = {
            "protocol": next((name for name, (uid, _) in _PROTOCOLS.items() if uid == protocol_id), "other")
        }
        for name, member in (("is_mfa", "mfa"), ("is_remote", "remote")):
            if name in event:
                auth[member] = _get(event, f"/{name}", bool)
        if "logon_type_id" in event:
            logon = _get(event, "/logon_type_id", int)
            auth["logonType"] = next((name for name, (uid, _) in _LOGON_TYPES.items() if uid == logon), "other")
        doc["authentication"] = auth
    extra = {key: value for key, value in event.items() if key not in _MAPPED}
    if extra:
        doc["ocsf"] = extra
    return doc


def _import_user(user: Mapping[str, Any], pointer: str) -> dict[str, Any]:
    uid = user.get("uid") or user.get("name")
    if not isinstance(uid, str) or not uid:
        raise DocumentError("a user has a uid or a name", rule="required", pointer=f"{pointer}/uid")
    actor: dict[str, Any] = {"type": "organization" if user.get("type") == "Organization" else "user", "id": uid}
    if isinstance(user.get("name"), str) and user.get("uid") and user["name"]:
        actor["displayName"] = user["name"]
    if isinstance(user.get("email_addr"), str):
        actor["email"] = user["email_addr"]
    return actor


def _import_actor(event: Mapping[str, Any]) -> dict[str, Any]:
    actor = _get(event, "/actor", Mapping, {})
    user = _get(event, "/actor/user", Mapping)
    app = actor.get("app_uid") or actor.get("app_name")
    if isinstance(app, str) and app:
        out: dict[str, Any] = {"type": "service", "id": app}
        if isinstance(actor.get("app_name"), str) and actor["app_name"] != app:
            out["displayName"] = actor["app_name"]
        if user is not None:
            out["onBehalfOf"] = _import_user(user, "/actor/user")
    elif user is not None:
        out = _import_user(user, "/actor/user")
    else:
        raise DocumentError("an API Activity actor has a user or an app", rule="required", pointer="/actor")
    session = _get(event, "/actor/session/uid", str)
    if session:
        out["sessionId"] = session
    return out
