"""Runs every benchmark module in turn (`python -m benchmarks [NAME...]`)."""

import importlib
import sys

BENCHMARKS = ["startup", "emotion_server", "export_bench", "narrative_bench"]

for name in sys.argv[1:] or BENCHMARKS:
    print(f"\n== {name} ==", flush=True)
    importlib.import_module(f"benchmarks.{name}").main()
