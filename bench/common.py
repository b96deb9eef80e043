"""What every benchmark prints: the machine it ran on, and latency percentiles."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo, or the platform's processor string."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> str:
    """One line: platform, CPU, cores, Python."""
    return (f"{platform.platform()} | {cpu_model()} | {os.cpu_count()} cores | "
            f"{platform.python_implementation()} {platform.python_version()}")


def percentile(sorted_values: list[float], p: float) -> float:
    """The p-th percentile (0–100) of already sorted values, nearest rank."""
    if not sorted_values:
        return float("nan")
    rank = max(0, min(len(sorted_values) - 1, round(p / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[rank]
