"""Run every benchmark, one after another, each in its own process (`make bench`).

Each prints its own table: the measured figure, the target from its issue and the
raw floor measured in the same run, at the sizes the issues name. For a quicker
look, run one benchmark with smaller sizes (each takes --help).
"""

from __future__ import annotations

import subprocess
import sys
import time

BENCHMARKS = (
    "bench.bench_import",
    "bench.bench_study",
    "bench.bench_web",
    "bench.bench_export",
    "bench.bench_stats",
    "bench.bench_load",
)


def main() -> None:
    failed = []
    for module in BENCHMARKS:
        print(f"\n=== {module} ===", flush=True)
        start = time.perf_counter()
        result = subprocess.run([sys.executable, "-m", module], check=False)
        print(f"({module}: {time.perf_counter() - start:.0f} s)", flush=True)
        if result.returncode != 0:
            failed.append(module)
    if failed:
        sys.exit(f"These benchmarks failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
