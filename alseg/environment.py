"""The environment record stored with every experiment: versions, device, determinism flags."""

from __future__ import annotations

import functools
import platform
import sys
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import torch

from alseg.precision import FP32, Precision, cpu_has_amx, cpu_supports_bf16

PACKAGES = ("alseg", "torch", "segmentation-models-pytorch", "timm", "numpy", "scikit-learn", "scipy", "pandas")


def package_versions() -> dict[str, str]:
    """Installed versions of the packages that shape the numbers."""
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


@functools.cache
def cpu_model() -> str:
    """The CPU's model name as the kernel reports it ('unknown' where it does not): fp32 results depend on it.

    Read once per process: every round record is stamped with it, and the CPU does not change under a process.
    """
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def computed_on(device: torch.device) -> dict[str, Any]:
    """Where a round was computed: CPU model and torch threads (and the GPU on CUDA).

    The same seed reproduces a run exactly only on the same kind of CPU with the same thread count: oneDNN's
    kernels and their reduction order differ between CPUs and thread counts, and training amplifies the last-bit
    differences (docs/protocol.md, "Where a run was computed"). Each round record carries this stamp so that a
    comparison can say which of its runs were computed alike.
    """
    out: dict[str, Any] = {"cpu": cpu_model(), "threads": torch.get_num_threads()}
    if device.type == "cuda":
        out["gpu"] = torch.cuda.get_device_name(device)
    return out


def environment_record(device: torch.device, precision: Precision = FP32) -> dict[str, Any]:
    """Versions, platform, device, precision and the torch settings that affect determinism."""
    dev: dict[str, Any] = {"type": device.type, "name": "cpu", "cpu_model": cpu_model()}
    if device.type == "cuda":
        dev["name"] = torch.cuda.get_device_name(device)
        dev["cuda"] = torch.version.cuda
        dev["cudnn"] = torch.backends.cudnn.version()
    return {
        "versions": package_versions(),
        "platform": platform.platform(),
        "executable": sys.executable,
        "device": dev,
        "precision": {"resolved": precision.protocol, "cpu_capability": torch.backends.cpu.get_cpu_capability(),
                      "cpu_native_bf16": cpu_supports_bf16(), "cpu_amx": cpu_has_amx()},
        "torch": {
            "num_threads": torch.get_num_threads(),
            "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
            "cudnn_deterministic": torch.backends.cudnn.deterministic,
            "cudnn_benchmark": torch.backends.cudnn.benchmark,
        },
    }


def resolve_device(text: str) -> torch.device:
    """'auto' | 'cpu' | 'cuda' | 'cuda:N' → a device that exists here, or a usage error."""
    from alseg.errors import AlsegUsageError

    if text == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if text == "cpu":
        return torch.device("cpu")
    if text == "cuda" or text.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise AlsegUsageError(f"--device {text}: CUDA is not available on this machine; use --device cpu or auto")
        dev = torch.device(text)
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise AlsegUsageError(f"--device {text}: only {torch.cuda.device_count()} CUDA device(s) here")
        return dev
    raise AlsegUsageError(f"unknown device '{text}'; use auto, cpu, cuda or cuda:N")


def configure_torch(device: torch.device, threads: int, deterministic: bool) -> None:
    """Threads and determinism switches, set once per process before any model is built."""
    if threads > 0:
        torch.set_num_threads(threads)
    if device.type == "cuda" and not deterministic:
        torch.backends.cudnn.benchmark = True  # fixed image size: let cuDNN pick the fastest convolutions once
    if deterministic:
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
        if device.type == "cuda":
            import os

            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
