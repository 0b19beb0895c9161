"""Emitter configuration: explicit, typed objects and a loader with the OpenLineage client's precedence.

:meth:`EmitterConfig.load` takes the first of these that exists, as users of the OpenLineage client expect:

1. the path passed to it;
2. the file named by ``AIFABRIC_CONFIG``;
3. ``./aifabric.yml``;
4. ``~/.aifabric/aifabric.yml``;
5. the environment variables in :data:`ENV_VARS` (a file, once found, is used alone: variables do not mix in);
6. the defaults: the console transport, a spool under ``~/.aifabric/spool``.

A file's ``transport:`` block has the shape of the OpenLineage client's; ``spool:`` and ``emitter:`` are
aifabric's. Other top-level sections are left to other parts of aifabric. A mistake names the file, the JSON
pointer of the offending key and the rule broken (:class:`aifabric.DocumentError`, rule ``config``)::

    transport:
      type: http                 # console | file | http | composite
      url: https://lineage.example.com
      endpoint: api/v1/lineage   # the default; api/v1/lineage/batch in openlineage-batch mode
      mode: openlineage          # openlineage-batch | cloudevents-structured | cloudevents-binary | cloudevents-batch
      auth: {type: api_key, apiKey: "..."}   # sent as "Authorization: Bearer ..."; add header: X-API-Key to change
      compression: gzip
      timeout: 5.0
    spool:
      dir: /var/lib/myapp/lineage-spool
      fsync: batch               # always | batch | never
    emitter:
      queueSize: 10000
      maxEventBytes: 1048576

Examples:
    >>> from aifabric.lineage.config import EmitterConfig
    >>> config = EmitterConfig.from_mapping(
    ...     {"transport": {"type": "http", "url": "http://localhost:5000", "compression": "gzip",
    ...                    "auth": {"type": "api_key", "apiKey": "s3cret"}},
    ...      "spool": {"fsync": "always"}},
    ...     source="aifabric.yml",
    ... )
    >>> config.transport.url, config.transport.compression, config.fsync
    ('http://localhost:5000', 'gzip', 'always')
    >>> "s3cret" in repr(config)
    False
    >>> EmitterConfig.from_mapping({"transport": {"type": "http"}}, source="aifabric.yml")
    Traceback (most recent call last):
    ...
    aifabric._errors.DocumentError: aifabric.yml: /transport/url: is required for the http transport
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Final, Literal, Self, get_args

from aifabric._errors import DocumentError

__all__ = [
    "CONFIG_ENV",
    "ENV_VARS",
    "CompositeConfig",
    "ConsoleConfig",
    "EmitterConfig",
    "FileConfig",
    "FsyncPolicy",
    "HttpConfig",
    "HttpMode",
    "KafkaConfig",
    "NatsConfig",
    "TransportConfig",
    "default_spool_dir",
    "transport_config",
]

FsyncPolicy = Literal["always", "batch", "never"]
"""When spooled events reach stable storage: before ``emit`` returns, on an interval, or when the OS decides."""

HttpMode = Literal[
    "openlineage", "openlineage-batch", "cloudevents-structured", "cloudevents-binary", "cloudevents-batch"
]
"""How the HTTP transport sends: one OpenLineage event per POST, the OpenLineage batch endpoint, or CloudEvents."""

CONFIG_ENV: Final = "AIFABRIC_CONFIG"
"""The environment variable naming a configuration file."""

ENV_VARS: Final = {
    "AIFABRIC_LINEAGE_TRANSPORT": "console, file or http (http when a URL is set, else console)",
    "AIFABRIC_LINEAGE_URL": "the HTTP transport's base URL",
    "AIFABRIC_LINEAGE_ENDPOINT": "the path under the URL (default api/v1/lineage)",
    "AIFABRIC_LINEAGE_API_KEY": "sent as 'Authorization: Bearer <key>'",
    "AIFABRIC_LINEAGE_MODE": "the HTTP mode (see HttpMode)",
    "AIFABRIC_LINEAGE_COMPRESSION": "gzip, or unset",
    "AIFABRIC_LINEAGE_TIMEOUT": "the HTTP timeout in seconds",
    "AIFABRIC_LINEAGE_FILE": "the file transport's path",
    "AIFABRIC_SPOOL_DIR": "the spool directory, or 'off' for an in-memory queue only",
    "AIFABRIC_SPOOL_FSYNC": "always, batch or never",
}
"""The environment variables read when no configuration file is found, with what each sets."""

_FILE_NAME: Final = "aifabric.yml"
_TYPES: Final = ("console", "file", "http", "composite", "nats", "kafka")


def default_spool_dir() -> Path:
    """Where events are spooled unless configured: ``~/.aifabric/spool``."""
    return Path.home() / ".aifabric" / "spool"


@dataclass(frozen=True, kw_only=True, slots=True)
class ConsoleConfig:
    """Write each event as a JSON line to standard error (or output)."""

    stream: Literal["stdout", "stderr"] = "stderr"


@dataclass(frozen=True, kw_only=True, slots=True)
class FileConfig:
    """Append events as JSON lines to a file, rotated by size with numbered backups."""

    path: Path
    max_bytes: int = 100 << 20
    backups: int = 5
    fsync: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class HttpConfig:
    """POST events to an OpenLineage HTTP API (or a CloudEvents receiver)."""

    url: str
    endpoint: str | None = None
    mode: HttpMode = "openlineage"
    compression: Literal["gzip"] | None = None
    timeout: float = 5.0
    api_key: str | None = field(default=None, repr=False)
    api_key_header: str = "Authorization"
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    verify: bool | str = True


@dataclass(frozen=True, kw_only=True, slots=True)
class CompositeConfig:
    """Several transports: ``all`` must accept each batch, or the ``first`` that accepts it is enough."""

    transports: tuple[TransportConfig, ...]
    mode: Literal["all", "first"] = "all"


@dataclass(frozen=True, kw_only=True, slots=True)
class NatsConfig:
    """Publish events to NATS JetStream as CloudEvents (the ``nats`` extra)."""

    servers: tuple[str, ...]
    subject: str
    stream: str | None = None
    mode: Literal["structured", "binary"] = "structured"
    timeout: float = 5.0
    credentials: str | None = None
    token: str | None = field(default=None, repr=False)
    user: str | None = None
    password: str | None = field(default=None, repr=False)


@dataclass(frozen=True, kw_only=True, slots=True)
class KafkaConfig:
    """Produce events to a Kafka topic as CloudEvents (the ``kafka`` extra)."""

    bootstrap_servers: str
    topic: str
    mode: Literal["structured", "binary"] = "structured"
    timeout: float = 10.0
    properties: Mapping[str, str] = field(default_factory=dict, repr=False)


TransportConfig = ConsoleConfig | FileConfig | HttpConfig | CompositeConfig | NatsConfig | KafkaConfig
"""Any transport's configuration."""


@dataclass(frozen=True, kw_only=True, slots=True)
class EmitterConfig:
    """Everything an :class:`~aifabric.lineage.emitter.Emitter` needs to know.

    Attributes:
        transport: where events go.
        spool_dir: the durable spool's directory; ``None`` keeps undelivered events in memory only.
        fsync: ``always``: ``emit`` writes and fsyncs the event before it returns, so nothing ``emit`` returned
            for is lost, even to a power cut (about 0.1-10 ms per event, by disk). ``batch``: a background
            thread writes events as they come and fsyncs every ``fsync_interval`` seconds, so a killed process
            loses at most what was not yet written (microseconds' worth) and a power cut at most one interval.
            ``never``: as ``batch`` without fsync; the OS writes back when it likes (tens of seconds).
        fsync_interval: seconds between fsyncs under ``batch``.
        max_spool_bytes: the spool's size cap; events past it are dropped and counted.
        segment_bytes: the size at which a new spool segment file is started.
        queue_size: events the in-memory queue holds; when full, ``emit`` writes to the spool itself (or,
            with no spool, drops the event and says so).
        batch_size: most events handed to the transport at once.
        max_event_bytes: the largest event accepted, in bytes of canonical JSON.
        validate: check each event against its schema in ``emit``.
        backoff_initial: the first retry delay in seconds; it doubles per failure, with jitter.
        backoff_max: the longest retry delay in seconds.
        max_retry_after: the longest ``Retry-After`` honoured, in seconds.
        close_timeout: how long ``close()`` (and interpreter exit) keeps trying to deliver, in seconds.
        source: where this configuration came from, for error messages.
    """

    transport: TransportConfig = field(default_factory=ConsoleConfig)
    spool_dir: Path | None = field(default_factory=default_spool_dir)
    fsync: FsyncPolicy = "batch"
    fsync_interval: float = 0.2
    max_spool_bytes: int = 1 << 30
    segment_bytes: int = 16 << 20
    queue_size: int = 10_000
    batch_size: int = 100
    max_event_bytes: int = 1 << 20
    validate: bool = True
    backoff_initial: float = 0.1
    backoff_max: float = 30.0
    max_retry_after: float = 300.0
    close_timeout: float = 5.0
    source: str | None = None

    def __post_init__(self) -> None:
        if self.fsync not in get_args(FsyncPolicy):
            raise self._error("fsync", f"must be one of always, batch, never, not {self.fsync!r}")
        for item in fields(self):
            value = getattr(self, item.name)
            if item.type in ("int", "float") and (isinstance(value, bool) or not value > 0):
                raise self._error(item.name, f"must be a positive number, not {value!r}")

    def _error(self, name: str, message: str) -> DocumentError:
        return DocumentError(f"{name}: {message}", source=self.source or "EmitterConfig", rule="config")

    # --- loading -----------------------------------------------------------------------------------------

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None, *, environ: Mapping[str, str] | None = None) -> Self:
        """The configuration from the first source that exists, in the precedence above."""
        env = os.environ if environ is None else environ
        if path is not None:
            return cls.from_file(path)
        named = env.get(CONFIG_ENV)
        if named:
            return cls.from_file(named)
        home = Path(env["HOME"]) if "HOME" in env else Path.home()
        for candidate in (Path.cwd() / _FILE_NAME, home / ".aifabric" / _FILE_NAME):
            if candidate.is_file():
                return cls.from_file(candidate)
        return cls.from_env(env)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> Self:
        """The configuration in a YAML (or JSON) file.

        Raises:
            DocumentError: the file cannot be read or parsed, or a key or value is wrong.
        """
        from aifabric.validation import load_documents

        source = os.fspath(path)
        try:
            data = Path(source).read_bytes()
        except OSError as exc:
            raise DocumentError(f"cannot read: {exc.strerror or exc}", source=source, rule="read") from None
        docs = load_documents(data, source=source, fmt="yaml")
        if len(docs) > 1:
            raise DocumentError("holds more than one YAML document", source=source, rule="config")
        return cls.from_mapping(docs[0] if docs else {}, source=source)

    @classmethod
    def from_mapping(cls, data: Any, *, source: str = "<config>") -> Self:
        """The configuration in a parsed mapping shaped like ``aifabric.yml``."""
        top = _Section(data, source, "")
        transport_block = top.get("transport")
        spool = top.section("spool")
        emitter = top.section("emitter")
        # other top-level sections belong to other parts of aifabric, so only ours are checked key by key
        options: dict[str, Any] = {"source": source}
        if transport_block is not None:
            options["transport"] = transport_config(transport_block, source=source, pointer="/transport")
        if spool is not None:
            if spool.boolean("enabled", True):
                where = spool.string("dir", None)
                if where is not None:
                    options["spool_dir"] = Path(where).expanduser()
            else:
                spool.get("dir")
                options["spool_dir"] = None
            options["fsync"] = spool.choice("fsync", "batch", get_args(FsyncPolicy))
            options["fsync_interval"] = spool.number("fsyncInterval", 0.2)
            options["max_spool_bytes"] = spool.integer("maxBytes", 1 << 30)
            options["segment_bytes"] = spool.integer("segmentBytes", 16 << 20)
            spool.done()
        if emitter is not None:
            options["queue_size"] = emitter.integer("queueSize", 10_000)
            options["batch_size"] = emitter.integer("batchSize", 100)
            options["max_event_bytes"] = emitter.integer("maxEventBytes", 1 << 20)
            options["validate"] = emitter.boolean("validate", True)
            options["close_timeout"] = emitter.number("closeTimeout", 5.0)
            retry = emitter.section("retry")
            if retry is not None:
                options["backoff_initial"] = retry.number("initial", 0.1)
                options["backoff_max"] = retry.number("max", 30.0)
                options["max_retry_after"] = retry.number("maxRetryAfter", 300.0)
                retry.done()
            emitter.done()
        return cls(**options)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Self:
        """The configuration the environment variables in :data:`ENV_VARS` describe (defaults elsewhere)."""
        env = os.environ if environ is None else environ

        def value(name: str) -> str | None:
            found = env.get(name, "").strip()
            return found or None

        options: dict[str, Any] = {"source": "environment"}
        url = value("AIFABRIC_LINEAGE_URL")
        kind = value("AIFABRIC_LINEAGE_TRANSPORT") or ("http" if url else None)
        if kind is not None:
            block: dict[str, Any] = {"type": kind}
            pointer_of = {"type": "AIFABRIC_LINEAGE_TRANSPORT", "auth": "AIFABRIC_LINEAGE_API_KEY"}
            for key, name in (
                ("url", "AIFABRIC_LINEAGE_URL"),
                ("endpoint", "AIFABRIC_LINEAGE_ENDPOINT"),
                ("mode", "AIFABRIC_LINEAGE_MODE"),
                ("compression", "AIFABRIC_LINEAGE_COMPRESSION"),
                ("timeout", "AIFABRIC_LINEAGE_TIMEOUT"),
                ("path", "AIFABRIC_LINEAGE_FILE"),
            ):
                found = value(name)
                if found is not None:
                    block[key] = _env_number(found) if key == "timeout" else found
                    pointer_of[key] = name
            key_value = value("AIFABRIC_LINEAGE_API_KEY")
            if key_value is not None:
                block["auth"] = {"type": "api_key", "apiKey": key_value}
            try:
                options["transport"] = transport_config(block, source="environment", pointer="")
            except DocumentError as exc:
                name = pointer_of.get(exc.pointer.strip("/").split("/", 1)[0], "AIFABRIC_LINEAGE_TRANSPORT")
                raise DocumentError(exc.reason.partition(": ")[2] or exc.reason, source=name, rule="config") from None
        spool_dir = value("AIFABRIC_SPOOL_DIR")
        if spool_dir is not None:
            options["spool_dir"] = None if spool_dir.lower() == "off" else Path(spool_dir).expanduser()
        fsync = value("AIFABRIC_SPOOL_FSYNC")
        if fsync is not None:
            if fsync not in get_args(FsyncPolicy):
                raise DocumentError(
                    f"must be one of always, batch, never, not {fsync!r}", source="AIFABRIC_SPOOL_FSYNC", rule="config"
                )
            options["fsync"] = fsync
        return cls(**options)


def _env_number(text: str) -> Any:
    try:
        return float(text)
    except ValueError:
        return text


def transport_config(block: Any, *, source: str = "<config>", pointer: str = "/transport") -> TransportConfig:
    """Parse a ``transport:`` block (the OpenLineage client's shape) into a typed transport configuration.

    Raises:
        DocumentError: an unknown type or key, a missing URL or path, or a value of the wrong kind.
    """
    section = _Section(block, source, pointer)
    kind = section.choice("type", None, _TYPES)
    result: TransportConfig
    if kind == "console":
        result = ConsoleConfig(stream=section.choice("stream", "stderr", ("stdout", "stderr")))
    elif kind == "file":
        path = section.string("path", None)
        if path is None:
            raise section.error("path", "is required for the file transport")
        result = FileConfig(
            path=Path(path).expanduser(),
            max_bytes=section.integer("maxBytes", 100 << 20),
            backups=section.integer("backups", 5, minimum=0),
            fsync=section.boolean("fsync", False),
        )
    elif kind == "http":
        result = _http_config(section)
    elif kind in ("nats", "kafka"):
        result = _stream_config(section, kind)
    else:
        children = section.get("transports")
        if isinstance(children, Mapping):
            items = [(f"{pointer}/transports/{_escape(str(k))}", v) for k, v in children.items()]
        elif isinstance(children, list):
            items = [(f"{pointer}/transports/{n}", v) for n, v in enumerate(children)]
        else:
            raise section.error("transports", "must list the transports (a list, or a mapping of names to blocks)")
        if not items:
            raise section.error("transports", "must name at least one transport")
        result = CompositeConfig(
            transports=tuple(transport_config(v, source=source, pointer=p) for p, v in items),
            mode=section.choice("mode", "all", ("all", "first")),
        )
    section.done()
    return result


def _http_config(section: _Section) -> HttpConfig:
    url = section.string("url", None)
    if url is None:
        raise section.error("url", "is required for the http transport")
    if not url.startswith(("http://", "https://")):
        raise section.error("url", f"must start with http:// or https://, not {url!r}")
    api_key: str | None = None
    header = "Authorization"
    auth = section.section("auth")
    if auth is not None:
        auth_type = auth.choice("type", None, ("api_key", "bearer", "none"))
        if auth_type == "api_key":
            api_key = auth.string("apiKey", None)
            if api_key is None:
                raise auth.error("apiKey", "is required for api_key auth")
            header = auth.string("header", "Authorization") or "Authorization"
        elif auth_type == "bearer":
            api_key = auth.string("token", None)
            if api_key is None:
                raise auth.error("token", "is required for bearer auth")
        auth.done()
    headers_section = section.section("headers")
    headers: dict[str, str] = {}
    if headers_section is not None:
        for name in list(headers_section.data):
            found = headers_section.string(name, None)
            if found is not None:
                headers[name] = found
    verify_value = section.get("verify")
    if verify_value is None:
        verify: bool | str = True
    elif isinstance(verify_value, bool | str):
        verify = verify_value
    else:
        raise section.error("verify", "must be true, false or the path of a CA bundle")
    compression = section.choice("compression", "none", ("gzip", "none"))
    return HttpConfig(
        url=url,
        endpoint=section.string("endpoint", None),
        mode=section.choice("mode", "openlineage", get_args(HttpMode)),
        compression="gzip" if compression == "gzip" else None,
        timeout=section.number("timeout", 5.0),
        api_key=api_key,
        api_key_header=header,
        headers=headers,
        verify=verify,
    )


def _stream_config(section: _Section, kind: str) -> NatsConfig | KafkaConfig:
    mode = section.choice("mode", "structured", ("structured", "binary"))
    if kind == "kafka":
        servers, topic = section.string("bootstrapServers", None), section.string("topic", None)
        if servers is None or topic is None:
            raise section.error("topic" if servers else "bootstrapServers", "is required for the kafka transport")
        extra = section.section("properties")
        properties = {k: v for k in list(extra.data) if (v := extra.string(k, None)) is not None} if extra else {}
        return KafkaConfig(
            bootstrap_servers=servers,
            topic=topic,
            mode=mode,
            timeout=section.number("timeout", 10.0),
            properties=properties,
        )
    found = section.get("servers")
    names = [found] if isinstance(found, str) else found
    if not isinstance(names, list) or not names or not all(isinstance(n, str) and n for n in names):
        raise section.error("servers", "is required for the nats transport: a URL or a list of URLs")
    subject = section.string("subject", None)
    if subject is None:
        raise section.error("subject", "is required for the nats transport")
    return NatsConfig(
        servers=tuple(names),
        subject=subject,
        stream=section.string("stream", None),
        mode=mode,
        timeout=section.number("timeout", 5.0),
        credentials=section.string("credentials", None),
        token=section.string("token", None),
        user=section.string("user", None),
        password=section.string("password", None),
    )


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


_MISSING: Final = object()


class _Section:
    """One mapping of a configuration, read key by key so that an unknown key is reported."""

    def __init__(self, data: Any, source: str, pointer: str) -> None:
        self.source = source
        self.pointer = pointer
        if not isinstance(data, Mapping):
            raise self.error(None, f"must be a mapping, not {_kind(data)}")
        self.data: dict[str, Any] = dict(data)
        self.used: set[str] = set()

    def error(self, key: str | None, message: str) -> DocumentError:
        where = self.pointer + (f"/{_escape(key)}" if key is not None else "")
        return DocumentError(f"{where or '/'}: {message}", source=self.source, rule="config", pointer=where)

    def get(self, key: str) -> Any:
        self.used.add(key)
        return self.data.get(key)

    def section(self, key: str) -> _Section | None:
        value = self.get(key)
        return None if value is None else _Section(value, self.source, f"{self.pointer}/{_escape(key)}")

    def string(self, key: str, default: str | None) -> str | None:
        value = self.get(key)
        if value is None:
            return default
        if not isinstance(value, str):
            raise self.error(key, f"must be a string, not {_kind(value)}")
        return value

    def choice(self, key: str, default: str | None, choices: tuple[str, ...]) -> Any:
        value = self.get(key)
        if value is None:
            if default is None:
                raise self.error(key, f"is required: one of {', '.join(choices)}")
            return default
        if value not in choices:
            raise self.error(key, f"must be one of {', '.join(choices)}, not {value!r}")
        return value

    def boolean(self, key: str, default: bool) -> bool:
        value = self.get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self.error(key, f"must be true or false, not {value!r}")
        return value

    def number(self, key: str, default: float) -> float:
        value = self.get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            raise self.error(key, f"must be a positive number, not {value!r}")
        return float(value)

    def integer(self, key: str, default: int, *, minimum: int = 1) -> int:
        value = self.get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.error(key, f"must be an integer of at least {minimum}, not {value!r}")
        return value

    def done(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            known = ", ".join(sorted(self.used))
            raise self.error(unknown[0], f"unknown key (known here: {known})")


def _kind(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), type(value).__name__
    )
