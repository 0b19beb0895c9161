"""Telemetry: the Prometheus path against a real loopback server serving a DCGM-exporter-like page; the NVML path
with a fake ``pynvml`` module, the one mock here, because NVML cannot run on a machine without an NVIDIA GPU."""

from __future__ import annotations

import sys
import time
import types
from typing import Any

import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st

from aifabric.serving.telemetry import DCGM_UNITS, TelemetrySampler, parse_prometheus
from tests.test_serving_checks import serve

PAGE = """\
# HELP DCGM_FI_DEV_SM_CLOCK SM clock frequency (in MHz).
# TYPE DCGM_FI_DEV_SM_CLOCK gauge
DCGM_FI_DEV_SM_CLOCK{gpu="0",UUID="GPU-aaaa",device="nvidia0",modelName="NVIDIA H100 80GB HBM3",Hostname="node-1"} 1980
DCGM_FI_DEV_SM_CLOCK{gpu="1",UUID="GPU-bbbb",device="nvidia1",modelName="NVIDIA H100 80GB HBM3",Hostname="node-1"} 1755
# HELP DCGM_FI_DEV_GPU_TEMP GPU temperature (in C).
# TYPE DCGM_FI_DEV_GPU_TEMP gauge
DCGM_FI_DEV_GPU_TEMP{gpu="0",UUID="GPU-aaaa",device="nvidia0"} 44
DCGM_FI_DEV_GPU_TEMP{gpu="1",UUID="GPU-bbbb",device="nvidia1"} 61
# TYPE DCGM_FI_DEV_POWER_USAGE gauge
DCGM_FI_DEV_POWER_USAGE{gpu="0",UUID="GPU-aaaa"} 312.5
DCGM_FI_DEV_POWER_USAGE{gpu="1",UUID="GPU-bbbb"} 98.25
# TYPE DCGM_FI_DEV_FB_USED gauge
DCGM_FI_DEV_FB_USED{gpu="0",UUID="GPU-aaaa"} 40960
DCGM_FI_DEV_FB_USED{gpu="1",UUID="GPU-bbbb"} 512
# TYPE DCGM_FI_DEV_GPU_UTIL gauge
DCGM_FI_DEV_GPU_UTIL{gpu="0",UUID="GPU-aaaa"} 97
DCGM_FI_DEV_GPU_UTIL{gpu="1",UUID="GPU-bbbb"} 3
# TYPE process_start_time_seconds gauge
process_start_time_seconds 1.7e+09
"""


async def metrics(_: web.Request) -> web.Response:
    return web.Response(text=PAGE, content_type="text/plain")


def test_a_dcgm_exporter_page_is_scraped_and_summarised() -> None:
    with serve([("GET", "/metrics", metrics)]) as url, TelemetrySampler(prometheus_url=f"{url}/metrics", interval=0.05):
        time.sleep(0.3)
    # the context manager has stopped the sampler; a summary after the fact is what a report uses
    sampler = TelemetrySampler(prometheus_url=f"{url}/metrics")
    assert sampler.summary()["available"] is False


def test_the_prometheus_summary_has_min_mean_max_and_units() -> None:
    """[SRV-049] Given a Prometheus URL, telemetry is scraped from it throughout the run: min, mean and max of each
    metric."""
    with serve([("GET", "/metrics", metrics)]) as url:
        sampler = TelemetrySampler(prometheus_url=f"{url}/metrics", interval=0.05)
        with sampler:
            time.sleep(0.3)
    summary = sampler.summary()
    assert summary["available"] and summary["source"] == "prometheus" and summary["reason"] is None
    assert summary["gpus"] == ["GPU-aaaa", "GPU-bbbb"]
    temp = summary["metrics"]["DCGM_FI_DEV_GPU_TEMP"]
    assert (temp["min"], temp["max"], temp["unit"]) == (44.0, 61.0, "C")
    assert temp["mean"] == pytest.approx(52.5)
    assert summary["metrics"]["DCGM_FI_DEV_FB_USED"]["unit"] == "MiB"
    assert "process_start_time_seconds" not in summary["metrics"]


def test_an_unreachable_exporter_is_a_reason_not_an_exception() -> None:
    sampler = TelemetrySampler(prometheus_url="http://127.0.0.1:9/metrics", interval=0.05)
    with sampler:
        time.sleep(0.1)
    summary = sampler.summary()
    assert summary["available"] is False
    assert summary["reason"].startswith("no GPU telemetry: http://127.0.0.1:9/metrics could not be scraped")


def test_without_a_driver_nvml_gives_a_reason() -> None:
    """The real ``pynvml`` where installed (no NVIDIA driver on this machine), or none at all."""
    sampler = TelemetrySampler(source="nvml")
    with sampler:
        pass
    summary = sampler.summary()
    assert summary["available"] is False and summary["source"] == "none"
    assert summary["reason"].startswith("no GPU telemetry: ")


def fake_pynvml(gpus: int) -> types.ModuleType:
    """A stand-in for NVML with ``gpus`` devices: the values the real library returns, in its units."""
    module = types.ModuleType("pynvml")
    calls = {"shutdown": 0}

    class NVMLError(Exception):
        pass

    def handle(i: int) -> dict[str, int]:
        return {"index": i}

    module.__dict__.update(
        NVMLError=NVMLError,
        NVML_CLOCK_SM=1,
        NVML_TEMPERATURE_GPU=0,
        calls=calls,
        nvmlInit=lambda: None,
        nvmlShutdown=lambda: calls.__setitem__("shutdown", calls["shutdown"] + 1),
        nvmlDeviceGetCount=lambda: gpus,
        nvmlDeviceGetHandleByIndex=handle,
        nvmlDeviceGetUUID=lambda h: f"GPU-{h['index']}",
        nvmlDeviceGetUtilizationRates=lambda h: types.SimpleNamespace(gpu=50 + h["index"], memory=10),
        nvmlDeviceGetMemoryInfo=lambda h: types.SimpleNamespace(
            used=2 * 1024**3, free=78 * 1024**3, total=80 * 1024**3
        ),
        nvmlDeviceGetPowerUsage=lambda h: 250_000,  # milliwatts
        nvmlDeviceGetTotalEnergyConsumption=lambda h: 1_000_000,  # millijoules
        nvmlDeviceGetClockInfo=lambda h, clock: 1980,
        nvmlDeviceGetTemperature=lambda h, sensor: 55,
    )

    def not_supported(h: Any) -> int:
        raise NVMLError("Not Supported")

    module.__dict__["nvmlDeviceGetCurrentClocksThrottleReasons"] = not_supported
    return module


def test_nvml_sampling_names_metrics_as_dcgm_does(monkeypatch: pytest.MonkeyPatch) -> None:
    """[SRV-049] Without a Prometheus URL, telemetry is sampled from NVML, named as the DCGM exporter names it."""
    fake = fake_pynvml(2)
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    sampler = TelemetrySampler(interval=0.02)
    with sampler:
        time.sleep(0.1)
    summary = sampler.summary()
    assert summary["available"] and summary["source"] == "nvml"
    assert summary["gpus"] == ["GPU-0", "GPU-1"]
    m = summary["metrics"]
    assert m["DCGM_FI_DEV_POWER_USAGE"]["max"] == 250.0 and m["DCGM_FI_DEV_POWER_USAGE"]["unit"] == "W"
    assert m["DCGM_FI_DEV_FB_USED"]["max"] == 2048.0 and m["DCGM_FI_DEV_FB_FREE"]["min"] == 78 * 1024
    assert (m["DCGM_FI_DEV_GPU_UTIL"]["min"], m["DCGM_FI_DEV_GPU_UTIL"]["max"]) == (50.0, 51.0)
    assert "DCGM_FI_DEV_CLOCK_THROTTLE_REASONS" not in m  # not supported: left out, not an error
    assert set(m) < set(DCGM_UNITS)
    assert fake.calls["shutdown"] == 1


def test_nvml_with_no_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", fake_pynvml(0))
    sampler = TelemetrySampler()
    sampler.start()
    sampler.stop()
    assert sampler.summary()["reason"] == "no GPU telemetry: NVML found no GPU"


@given(
    st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,20}", fullmatch=True),
    st.dictionaries(st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,8}", fullmatch=True), st.text(max_size=10), max_size=3),
    st.floats(allow_nan=False),
)
def test_prometheus_lines_round_trip(name: str, labels: dict[str, str], value: float) -> None:
    def escape(v: str) -> str:
        return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")

    inner = ",".join(f'{k}="{escape(v)}"' for k, v in labels.items())
    line = f"{name}{{{inner}}} {value!r}".replace("inf", "Inf")
    [sample] = parse_prometheus(line)
    assert (sample.name, dict(sample.labels), sample.value) == (name, labels, value)
