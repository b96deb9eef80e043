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


def report(unit: str, target_rate: float, target_p99_ms: float,
           measured: list[tuple[str, float, list[float]]]) -> bool:
    """Print each (label, rate, sorted latencies in ms) line and whether the first meets the targets."""
    for label, rate, values in measured:
        print(f"{label:>20}: {rate:8,.0f} {unit}/s  p50 {percentile(values, 50):.3f} ms  "
              f"p99 {percentile(values, 99):.3f} ms  max {values[-1]:.3f} ms")
    _, rate, values = measured[0]
    met = rate >= target_rate and percentile(values, 99) <= target_p99_ms
    print(f"target >= {target_rate:,} {unit}/s and p99 <= {target_p99_ms} ms: {'met' if met else 'NOT met'}")
    return met


ADMIN_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")


async def throwaway_database(name: str, drop: bool = False) -> str:
    """Create (or with `drop`, remove) a PostgreSQL database beside BENCH_DATABASE_URL's; its URL."""
    import asyncpg
    from sqlalchemy.engine import make_url

    admin = await asyncpg.connect(ADMIN_URL)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)' if drop else f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
