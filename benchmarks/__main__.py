"""Runs every benchmark module in turn (`python -m benchmarks [NAME...]`)."""

import importlib
import sys

# The story model's benchmarks come last: they need its bundle (samples/models/story) and skip, saying so, without it.
BENCHMARKS = [
    "startup",
    "emotion_server",
    "export_bench",
    "narrative_bench",
    "story_quality",
    "generation_speed",
    "grounded_lines",
    "load_test",
]

for name in sys.argv[1:] or BENCHMARKS:
    print(f"\n== {name} ==", flush=True)
    importlib.import_module(f"benchmarks.{name}").main()
