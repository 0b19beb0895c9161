r"""GPU telemetry during a load run, named as NVIDIA's DCGM exporter names it.

:class:`TelemetrySampler` samples each GPU through NVML (the ``gpu`` extra, ``nvidia-ml-py``) in a thread per GPU,
or scrapes a Prometheus text endpoint (a DCGM exporter's ``/metrics``) when given its URL. Without a GPU, a driver
or ``pynvml``, :meth:`TelemetrySampler.summary` says so (``available: False`` and a reason); it never raises.

Examples:
    >>> from aifabric.serving.telemetry import parse_prometheus
    >>> page = 'DCGM_FI_DEV_GPU_TEMP{gpu="0",UUID="GPU-1"} 41\n# HELP x y\nup 1\n'
    >>> [(s.name, s.labels["gpu"], s.value) for s in parse_prometheus(page) if s.name.startswith("DCGM")]
    [('DCGM_FI_DEV_GPU_TEMP', '0', 41.0)]
    >>> TelemetrySampler(source="none").summary()["available"]
    False
"""

from __future__ import annotations

import contextlib
import importlib
import math
import re
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from types import ModuleType, TracebackType
from typing import Any, Literal

__all__ = [
    "DCGM_UNITS",
    "PromSample",
    "TelemetrySampler",
    "parse_prometheus",
]

DCGM_UNITS: Mapping[str, str] = {
    "DCGM_FI_DEV_GPU_UTIL": "%",
    "DCGM_FI_DEV_FB_USED": "MiB",
    "DCGM_FI_DEV_FB_FREE": "MiB",
    "DCGM_FI_DEV_POWER_USAGE": "W",
    "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION": "mJ",
    "DCGM_FI_DEV_SM_CLOCK": "MHz",
    "DCGM_FI_DEV_GPU_TEMP": "C",
    "DCGM_FI_DEV_CLOCK_THROTTLE_REASONS": "bitmask",
}
"""The metrics sampled, with the units the DCGM exporter gives them in."""

Source = Literal["auto", "nvml", "prometheus", "none"]
_MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class PromSample:
    """One sample of a Prometheus text exposition: metric name, labels, value."""

    name: str
    labels: Mapping[str, str]
    value: float


_LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+-?\d+)?\s*$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?\s*')
_UNESCAPE = {"\\\\": "\\", '\\"': '"', "\\n": "\n"}


def _labels(text: str) -> dict[str, str]:
    labels: dict[str, str] = {}
    for match in _LABEL.finditer(text):
        labels[match.group(1)] = re.sub(r"\\[\\\"n]", lambda m: _UNESCAPE[m.group(0)], match.group(2))
    return labels


def _value(text: str) -> float:
    special = {"+Inf": math.inf, "-Inf": -math.inf, "NaN": math.nan}
    return special[text] if text in special else float(text)


def parse_prometheus(text: str) -> list[PromSample]:
    """The samples of a Prometheus text exposition (version 0.0.4); comments and unreadable lines are skipped."""
    samples = []
    for raw in text.split("\n"):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(line)
        if not match:
            continue
        try:
            value = _value(match.group(3))
        except ValueError:
            continue
        samples.append(PromSample(match.group(1), _labels(match.group(2) or ""), value))
    return samples


class _Series:
    """Running min, mean and max of one metric (all GPUs together)."""

    __slots__ = ("count", "maximum", "minimum", "total")

    def __init__(self) -> None:
        self.count = 0
        self.total = 0.0
        self.minimum = math.inf
        self.maximum = -math.inf

    def add(self, value: float) -> None:
        if not math.isfinite(value):
            return
        self.count += 1
        self.total += value
        self.minimum = min(self.minimum, value)
        self.maximum = max(self.maximum, value)


class TelemetrySampler:
    """Samples GPU telemetry in the background between :meth:`start` and :meth:`stop` (or as a context manager).

    Args:
        source: ``nvml``, ``prometheus``, ``none``, or ``auto`` (Prometheus when ``prometheus_url`` is given,
            otherwise NVML).
        prometheus_url: the text endpoint to scrape, such as a DCGM exporter's ``http://host:9400/metrics``.
        interval: seconds between samples.
        gpus: the GPU indices (NVML) or ``gpu`` label values (Prometheus) to keep; all when None.
    """

    def __init__(
        self,
        *,
        source: Source = "auto",
        prometheus_url: str | None = None,
        interval: float = 0.5,
        gpus: tuple[int, ...] | None = None,
    ) -> None:
        if source == "auto":
            source = "prometheus" if prometheus_url else "nvml"
        self.source: Source = source
        self.prometheus_url = prometheus_url
        self.interval = interval
        self.gpus = gpus
        self._series: dict[str, _Series] = {}
        self._devices: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._reason: str | None = "no GPU telemetry: the sampler was not started" if source != "none" else None
        self._nvml: ModuleType | None = None
        if source == "none":
            self._reason = "no GPU telemetry: none was asked for"

    def __enter__(self) -> TelemetrySampler:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Start sampling; a missing GPU, driver or library is recorded as the reason, never raised."""
        if self.source == "none" or self._threads:
            return
        self._stop.clear()
        if self.source == "prometheus":
            if not self.prometheus_url or not self.prometheus_url.startswith(("http://", "https://")):
                self._reason = f"no GPU telemetry: {self.prometheus_url!r} is not an http(s) URL"
                return
            self._reason = None
            self._spawn(self._scrape_loop, "prometheus")
            return
        self._start_nvml()

    def stop(self) -> None:
        """Stop sampling and wait for the threads (one last sample each)."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=max(5.0, self.interval * 4))
        self._threads = []
        if self._nvml is not None:
            with contextlib.suppress(Exception):  # NVMLError and its subclasses; shutting down is best effort
                self._nvml.nvmlShutdown()
            self._nvml = None

    def summary(self) -> dict[str, Any]:
        """``{available, source, reason, gpus, metrics: {name: {min, mean, max, unit, samples}}}``."""
        with self._lock:
            metrics = {
                name: {
                    "min": series.minimum,
                    "mean": series.total / series.count,
                    "max": series.maximum,
                    "unit": DCGM_UNITS.get(name, ""),
                    "samples": series.count,
                }
                for name, series in sorted(self._series.items())
                if series.count
            }
            devices = sorted(self._devices)
            reason = self._reason
        available = bool(metrics)
        if not available and reason is None:
            reason = f"no GPU telemetry: {self.source} gave no DCGM metric"
        return {
            "available": available,
            "source": self.source if available else "none",
            "reason": None if available else reason,
            "gpus": devices,
            "metrics": metrics,
        }

    # --- workers ---------------------------------------------------------------------------------------------

    def _spawn(self, target: Callable[..., None], name: str, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, name=f"aifabric-telemetry-{name}", daemon=True)
        self._threads.append(thread)
        thread.start()

    def _record(self, device: str, values: Iterator[tuple[str, float]]) -> None:
        with self._lock:
            self._devices.add(device)
            for name, value in values:
                self._series.setdefault(name, _Series()).add(value)

    def _scrape_loop(self) -> None:
        assert self.prometheus_url is not None
        while True:
            try:
                with urllib.request.urlopen(self.prometheus_url, timeout=max(1.0, self.interval * 2)) as response:  # noqa: S310  # scheme checked in start()
                    page = response.read().decode("utf-8", "replace")
            except (urllib.error.URLError, OSError, ValueError) as exc:
                with self._lock:
                    self._reason = f"no GPU telemetry: {self.prometheus_url} could not be scraped ({exc})"
            else:
                by_gpu: dict[str, list[tuple[str, float]]] = {}
                for sample in parse_prometheus(page):
                    if sample.name not in DCGM_UNITS:
                        continue
                    gpu = sample.labels.get("gpu", "")
                    if self.gpus is not None and gpu not in {str(g) for g in self.gpus}:
                        continue
                    device = sample.labels.get("UUID") or sample.labels.get("uuid") or gpu
                    by_gpu.setdefault(device, []).append((sample.name, sample.value))
                for device, values in by_gpu.items():
                    self._record(device, iter(values))
            if self._stop.wait(self.interval):
                return

    def _start_nvml(self) -> None:
        try:
            nvml = importlib.import_module("pynvml")
        except ImportError:
            self._reason = "no GPU telemetry: pynvml is not installed (pip install 'aifabric[gpu]')"
            return
        try:
            nvml.nvmlInit()
        except Exception as exc:  # noqa: BLE001  # pynvml raises NVMLError subclasses made at import time
            self._reason = f"no GPU telemetry: NVML could not start ({exc})"
            return
        self._nvml = nvml
        try:
            count = int(nvml.nvmlDeviceGetCount())
            indices = [i for i in range(count) if self.gpus is None or i in self.gpus]
            handles = [(i, nvml.nvmlDeviceGetHandleByIndex(i)) for i in indices]
        except Exception as exc:  # noqa: BLE001  # as above
            self._reason = f"no GPU telemetry: NVML could not list the GPUs ({exc})"
            return
        if not handles:
            self._reason = "no GPU telemetry: NVML found no GPU"
            return
        self._reason = None
        for index, handle in handles:
            self._spawn(self._nvml_loop, str(index), nvml, index, handle)

    def _nvml_loop(self, nvml: Any, index: int, handle: Any) -> None:
        try:
            uuid = nvml.nvmlDeviceGetUUID(handle)
            device = uuid.decode() if isinstance(uuid, bytes) else str(uuid)
        except Exception:  # noqa: BLE001  # as above
            device = str(index)
        readers: list[tuple[str, Callable[[], float]]] = [
            ("DCGM_FI_DEV_GPU_UTIL", lambda: float(nvml.nvmlDeviceGetUtilizationRates(handle).gpu)),
            ("DCGM_FI_DEV_FB_USED", lambda: nvml.nvmlDeviceGetMemoryInfo(handle).used / _MIB),
            ("DCGM_FI_DEV_FB_FREE", lambda: nvml.nvmlDeviceGetMemoryInfo(handle).free / _MIB),
            ("DCGM_FI_DEV_POWER_USAGE", lambda: nvml.nvmlDeviceGetPowerUsage(handle) / 1000.0),
            ("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", lambda: float(nvml.nvmlDeviceGetTotalEnergyConsumption(handle))),
            ("DCGM_FI_DEV_SM_CLOCK", lambda: float(nvml.nvmlDeviceGetClockInfo(handle, nvml.NVML_CLOCK_SM))),
            ("DCGM_FI_DEV_GPU_TEMP", lambda: float(nvml.nvmlDeviceGetTemperature(handle, nvml.NVML_TEMPERATURE_GPU))),
            ("DCGM_FI_DEV_CLOCK_THROTTLE_REASONS", lambda: float(_throttle_reasons(nvml, handle))),
        ]
        broken: set[str] = set()
        while True:
            values: list[tuple[str, float]] = []
            for name, read in readers:
                if name in broken:
                    continue
                try:
                    values.append((name, read()))
                except Exception:  # noqa: BLE001  # an unsupported field (NVMLError_NotSupported): stop asking
                    broken.add(name)
            self._record(device, iter(values))
            if self._stop.wait(self.interval):
                return


def _throttle_reasons(nvml: Any, handle: Any) -> int:
    reader = (
        getattr(nvml, "nvmlDeviceGetCurrentClocksEventReasons", None) or nvml.nvmlDeviceGetCurrentClocksThrottleReasons
    )
    return int(reader(handle))
