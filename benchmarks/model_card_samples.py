"""Unpicked samples of a story bundle for its model card: narrations and NPC lines per style, seeds 1..10.

    python -m benchmarks.model_card_samples [--bundle DIR] [--seeds 10] [--out FILE]

Nothing is chosen by hand or by score: seed n narrates the n-th non-ending beat of the sample
graphs (in file order, wrapping around) and gives a line to the n-th present character of the
n-th beat, with the n-th intent; every style sees the same beats, so what changes between styles
is the style alone. Each text is the one the server would return (Narrate and NpcLine's writing
step, the shipped sampling defaults, the emotion model in the loop), printed as Markdown.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.grounded_lines import EMOTION, GRAPHS, INTENTS, STORY, _slots

NARRATION_TOKENS = 80
LINE_TOKENS = 48


@dataclass(frozen=True)
class Sample:
    style: str
    kind: str  # "narration" or "line"
    seed: int
    where: str  # story/beat, and the speaker and intent of a line
    text: str


def _beats() -> list[tuple[Any, Any]]:
    from narrative.loader import load_graph
    from narrative.session import state_at

    found = []
    for path in GRAPHS:
        graph = load_graph(path)
        found += [(graph, state_at(graph, beat.id)) for beat in graph.beats if not beat.ending]
    return found


async def write_samples(bundle: Path, seeds: int, threads: int = 2) -> list[Sample]:
    from server.generation.local import open_local
    from server.generation.sampling import SamplingConfig
    from server.generation.types import GenerationParams
    from server.writing.grounded import LineAsk, Written, line_in_state, narration_in_state

    models = await open_local(bundle, EMOTION, threads=threads)
    story = models.story
    beats, lines = _beats(), list(_slots())
    sampling = SamplingConfig()  # the server's defaults: what a game gets when it names none

    async def text_of(items: Any) -> str:
        async for item in items:
            if isinstance(item, Written):
                return item.result.text.strip()
        raise RuntimeError("the generator finished without a result")

    async def narration(style: str, seed: int) -> Sample:
        graph, state = beats[(seed - 1) % len(beats)]
        params = GenerationParams(prompt="", sampling=sampling, max_new_tokens=NARRATION_TOKENS, seed=seed, style=style)
        text = await text_of(narration_in_state(story, graph, state, params))
        return Sample(style, "narration", seed, f"{graph.story.id}/{state.current_beat}", text)

    async def line(style: str, seed: int) -> Sample:
        graph, state, character = lines[(seed - 1) % len(lines)]
        intent = INTENTS[(seed - 1) % len(INTENTS)]
        ask = LineAsk("", character, intent=intent, style=style)
        params = GenerationParams(prompt="", sampling=sampling, max_new_tokens=LINE_TOKENS, seed=seed)
        text = await text_of(line_in_state(story, graph, state, ask, params))
        name = graph.character(character).name
        return Sample(style, "line", seed, f"{name}, {intent} ({graph.story.id}/{state.current_beat})", text)

    try:
        jobs = [
            job(style, seed)
            for style in sorted(story.prompt.styles) or [""]
            for job in (narration, line)
            for seed in range(1, seeds + 1)
        ]
        return list(await asyncio.gather(*jobs))
    finally:
        await models.close()


def markdown(samples: list[Sample]) -> str:
    out = ["## Samples (seeds 1..N, not picked: `python -m benchmarks.model_card_samples`)", ""]
    for style in dict.fromkeys(s.style for s in samples):
        out += [f"### {style or 'no style'}", ""]
        for kind, title in (("narration", "Narration"), ("line", "NPC lines")):
            out += [f"{title}:", ""]
            for s in (s for s in samples if s.style == style and s.kind == kind):
                text = " ".join(s.text.split()) or "(empty)"
                out.append(f"{s.seed}. *{s.where}*: {text}")
            out.append("")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundle", type=Path, default=STORY, help="story bundle (default: the shipped one)")
    parser.add_argument("--seeds", type=int, default=10, help="samples per style and kind, seeds 1..N")
    parser.add_argument("--threads", type=int, default=2, help="onnxruntime threads")
    parser.add_argument("--out", type=Path, help="write the Markdown here (default: print it)")
    args = parser.parse_args(argv if argv is not None else [])
    text = markdown(asyncio.run(write_samples(args.bundle, args.seeds, args.threads)))
    if args.out:
        args.out.write_text(text + "\n")
    else:
        print(text)


if __name__ == "__main__":
    main(sys.argv[1:])
