"""NPC lines across the sample graphs: emotion hit rate with and without the classifier in the loop,
and batch throughput in-process, through a server and on a local Ray.

    python -m benchmarks.grounded_lines [--requests 200] [--bundle DIR] [--no-batch]

Hit = the emotion model reads the chosen line's top Ekman group as the requested target. "One line"
= the text is the spoken words alone (narrative.line_brief.is_single_utterance: no narration, no
attribution, no other speaker's turn); "absent/fact" = lines with an absent-character or
unknown-fact coherence warning. "With the
classifier" generates 4 candidates and keeps the most coherent, then closest to the target; without,
one candidate (the control token alone steers). Targets cycle over the Ekman groups; speakers and
beats over every present character of every non-ending beat. Figures, not pass/fail.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GRAPHS = sorted((ROOT / "samples" / "graphs").glob("*.yaml"))
STORY = ROOT / "samples" / "models" / "story"
EMOTION = ROOT / "samples" / "models" / "emotion"
INTENTS = ("greet", "inform", "warn", "ask", "refuse", "comfort")


def _slots():
    from narrative.loader import load_graph
    from narrative.session import state_at

    for path in GRAPHS:
        graph = load_graph(path)
        for beat in graph.beats:
            if beat.ending:
                continue
            state = state_at(graph, beat.id)
            for character in state.present:
                yield graph, state, character


@dataclass(frozen=True)
class Outcome:
    target: str
    read_as: str
    warnings: tuple[str, ...]  # coherence warning codes
    single_utterance: bool


async def hit_rates(requests: int, story: Path = STORY) -> dict[str, dict]:
    from narrative.coherence import ABSENT_CHARACTER, UNKNOWN_FACT
    from narrative.emotions import EKMAN_AXES
    from narrative.line_brief import is_single_utterance
    from server.generation.generator import GenerationResult
    from server.generation.local import open_local
    from server.generation.sampling import SamplingConfig
    from server.generation.types import GenerationParams
    from server.writing.grounded import LineAsk, Written, line_in_state

    models = await open_local(story, EMOTION, threads=2)
    sampling = SamplingConfig(temperature=0.9, top_p=0.95, repetition_penalty=1.1)
    slots = list(itertools.islice(itertools.cycle(list(_slots())), requests))
    figures: dict[str, dict] = {}
    try:
        for label, candidates in (("control token only", 1), ("classifier in the loop (4 candidates)", 4)):
            started = time.perf_counter()

            async def one(i: int, graph, state, character, candidates: int = candidates) -> Outcome:
                target = EKMAN_AXES[i % len(EKMAN_AXES)]
                ask = LineAsk("", character, intent=INTENTS[i % len(INTENTS)], target_emotion=target)
                params = GenerationParams(
                    prompt="", sampling=sampling, max_new_tokens=48, seed=1000 + i, num_candidates=candidates
                )
                async for item in line_in_state(models.story, graph, state, ask, params):
                    if isinstance(item, Written):
                        result: GenerationResult = item.result
                        top = result.detected_emotion.top_ekman if result.detected_emotion else ""
                        codes = tuple(w.code for w in item.warnings)
                        return Outcome(target, top, codes, is_single_utterance(result.text))
                raise AssertionError("no result")

            outcomes = []
            for chunk in range(0, len(slots), 16):  # 16 at a time share decode steps
                batch = slots[chunk : chunk + 16]
                outcomes += await asyncio.gather(*(one(chunk + j, *slot) for j, slot in enumerate(batch)))
            per_target = {
                e: sum(o.read_as == e for o in outcomes if o.target == e) / max(1, sum(o.target == e for o in outcomes))
                for e in EKMAN_AXES
            }
            grounding = (ABSENT_CHARACTER, UNKNOWN_FACT)
            figures[label] = {
                "hit_rate": sum(o.read_as == o.target for o in outcomes) / len(outcomes),
                "per_target": per_target,
                "lines_with_warnings": sum(bool(o.warnings) for o in outcomes) / len(outcomes),
                "absent_or_unknown_fact": sum(any(c in grounding for c in o.warnings) for o in outcomes) / len(outcomes),
                "single_utterance": sum(o.single_utterance for o in outcomes) / len(outcomes),
                "seconds": time.perf_counter() - started,
            }
    finally:
        await models.close()
    return figures


def batch_throughput() -> dict[str, float]:
    """lines/minute of `storyteller batch` on the mystery graph, three ways, 2 workers each."""
    from server.app import StorytellerServer
    from server.config import load_settings

    graph = ROOT / "samples" / "graphs" / "lighthouse_mystery.yaml"
    intents = "greet,inform,warn,ask,refuse,comfort,farewell"
    base = [sys.executable, "-m", "server", "batch", "--graph", str(graph), "--intents", intents, "--workers", "2",
            "--max-tokens", "48", "--no-progress"]  # fmt: skip
    figures = {}
    with tempfile.TemporaryDirectory() as folder:

        def timed(name: str, *extra: str) -> None:
            out = Path(folder) / f"{name.replace(' ', '_')}.jsonl"
            started = time.perf_counter()
            subprocess.run([*base, "--out", str(out), *extra], check=True, stderr=subprocess.DEVNULL)
            written = out.read_text().count("\n")
            figures[name] = 60 * written / (time.perf_counter() - started)
            figures[f"{name} lines"] = written

        timed("in-process")
        timed("ray local", "--ray", "local")

        async def through_server() -> None:
            overrides = {"server.address": "127.0.0.1:0", "narrative.database": ":memory:", "metrics.enabled": False}
            server = StorytellerServer.create(load_settings(None, environ={}, overrides=overrides))
            await server.start()
            try:
                await asyncio.to_thread(timed, "through a server", "--server", f"127.0.0.1:{server.port}")
            finally:
                await server.shutdown()

        asyncio.run(through_server())
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--bundle", type=Path, default=STORY, help="story bundle (default: the shipped one)")
    parser.add_argument("--no-batch", action="store_true", help="skip the batch throughput runs")
    args = parser.parse_args(argv if argv is not None else [])
    if not args.bundle.is_dir():
        print(f"skipped: no story bundle at {args.bundle}")
        return
    rates = asyncio.run(hit_rates(args.requests, args.bundle))
    header = f"{'NPC lines, ' + str(args.requests) + ' requests':<42} {'hit rate':>9} {'one line':>9} {'absent/fact':>12}"
    print(f"{header} {'any warning':>12} {'seconds':>8}")
    for label, f in rates.items():
        print(
            f"{label:<42} {f['hit_rate']:>9.1%} {f['single_utterance']:>9.1%} {f['absent_or_unknown_fact']:>12.1%}"
            f" {f['lines_with_warnings']:>12.1%} {f['seconds']:>8.1f}"
        )
        print("    per target: " + ", ".join(f"{e} {r:.0%}" for e, r in f["per_target"].items()))
    if args.no_batch:
        return
    throughput = batch_throughput()
    print(f"\n{'storyteller batch, lighthouse graph, 2 workers':<46} {'lines/minute':>12}")
    for name in ("in-process", "through a server", "ray local"):
        print(f"{name:<46} {throughput[name]:>12.0f}   ({throughput[name + ' lines']:.0f} lines)")


if __name__ == "__main__":
    main(sys.argv[1:])
