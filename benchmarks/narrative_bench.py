"""Linter and simulator on random plot graphs of 1k, 10k and 100k beats, side by side.

Graphs come from `narrative.random_graph` (the generator the property tests use), built in
memory without YAML. Times are wall clock of one untraced pass; peak memory is what tracemalloc
sees during a second, traced pass (on top of the graph itself). Goal: lint of 10k beats < 1 s,
1,000 simulated runs on 1k beats in seconds.
"""

from __future__ import annotations

import random
import time
import tracemalloc
from collections.abc import Callable
from functools import partial
from typing import TypeVar

from narrative.lint import lint_graph
from narrative.loader import graph_from_spec
from narrative.random_graph import random_spec
from narrative.simulate import simulate

SIZES = (1_000, 10_000, 100_000)
RUNS = 1_000
SEED = 20240601
T = TypeVar("T")


def timed(work: Callable[[], T]) -> tuple[T, float]:
    """What `work` returns, and the seconds it took."""
    started = time.perf_counter()
    result = work()
    return result, time.perf_counter() - started


def peak_mib(work: Callable[[], object]) -> float:
    tracemalloc.start()
    try:
        work()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def main() -> None:
    header = ("beats", "choices", "build s", "lint s", "findings", f"sim {RUNS} runs s", "steps/run", "lint peak MiB", "sim peak MiB")
    print(" | ".join(f"{h:>13}" for h in header))
    for size in SIZES:
        build_started = time.perf_counter()
        graph = graph_from_spec(random_spec(random.Random(SEED), size))
        build = time.perf_counter() - build_started
        findings, lint_s = timed(partial(lint_graph, graph))
        report, sim_s = timed(partial(simulate, graph, RUNS, SEED, "random"))
        lint_mem = peak_mib(partial(lint_graph, graph))
        sim_mem = peak_mib(partial(simulate, graph, RUNS, SEED, "random"))
        row = (
            f"{size:,}",
            f"{len(graph.choices):,}",
            f"{build:.2f}",
            f"{lint_s:.3f}",
            f"{len(findings):,}",
            f"{sim_s:.2f}",
            f"{report.mean_steps:.1f}",
            f"{lint_mem:.1f}",
            f"{sim_mem:.1f}",
        )
        print(" | ".join(f"{cell:>13}" for cell in row), flush=True)


if __name__ == "__main__":
    main()
