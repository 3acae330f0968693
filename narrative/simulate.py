"""Simulated playthroughs: what players will actually see of a plot graph.

Each run plays the graph through the session functions a real playthrough uses
(`start_session`, `available_choices`, `choose`), so conditions, effects and emotion decay
behave exactly as in the game; a strategy picks among the choices on offer. The report says how
much of the graph the runs covered, which endings they reached, where they got stuck, and how
each character's emotions moved on average. A seed makes every run reproducible: all randomness
comes from one `random.Random(seed)`.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from narrative.emotions import EKMAN_AXES, EkmanLabel, EmotionVector
from narrative.graph import PlotGraph
from narrative.schema import Choice
from narrative.session import available_choices, choose, start_session
from narrative.state import SessionState

Strategy = Literal["random", "coverage"]
STRATEGIES: tuple[Strategy, ...] = get_args(Strategy)

DEFAULT_MAX_STEPS = 200
"""Choices per run before it is cut off, so that runs through loops end."""

Picker = Callable[[Sequence[Choice]], Choice]


@dataclass(frozen=True)
class Step:
    """A state of a run, and the choice that led to it (None for the start)."""

    state: SessionState
    choice: Choice | None


def play(graph: PlotGraph, pick: Picker, max_steps: int = DEFAULT_MAX_STEPS) -> Iterator[Step]:
    """One playthrough, step by step: the start, then the state after each choice `pick` takes
    among those available, until an ending, a beat with no choice available, or `max_steps`."""
    state = start_session(graph)
    yield Step(state, None)
    for _ in range(max_steps):
        options = available_choices(graph, state)
        if not options:
            return
        choice = pick(options)
        state = choose(graph, state, choice.id)
        yield Step(state, choice)


@dataclass(frozen=True)
class Coverage:
    covered: int
    total: int

    @property
    def fraction(self) -> float:
        return self.covered / self.total if self.total else 1.0


@dataclass(frozen=True)
class EmotionPoint:
    """Mean emotion of a character over the `runs` that lasted at least `step` choices."""

    step: int
    runs: int
    mean: EmotionVector


@dataclass(frozen=True)
class SimulationReport:
    story_id: str
    runs: int
    seed: int
    strategy: Strategy
    max_steps: int
    beat_visits: dict[str, int]
    """Times each beat was entered, every beat of the graph listed (0 for never), in file order."""
    choice_counts: dict[str, int]
    """Times each choice was taken, every choice listed, in file order."""
    endings: dict[str, int]
    """Runs that finished in each ending beat reached."""
    stuck: dict[str, int]
    """Runs that stopped in a non-ending beat because no choice was available there, by beat."""
    capped: int
    """Runs cut off at `max_steps`."""
    mean_steps: float
    emotions: dict[str, list[EmotionPoint]]
    """Per character, the mean emotion at each step index (bounded by `max_steps` + 1 points)."""

    @property
    def beats(self) -> Coverage:
        return Coverage(sum(1 for n in self.beat_visits.values() if n), len(self.beat_visits))

    @property
    def transitions(self) -> Coverage:
        return Coverage(sum(1 for n in self.choice_counts.values() if n), len(self.choice_counts))

    def to_json(self) -> dict[str, Any]:
        beats, transitions = self.beats, self.transitions
        return {
            "story": self.story_id,
            "runs": self.runs,
            "seed": self.seed,
            "strategy": self.strategy,
            "max_steps": self.max_steps,
            "beats": {"covered": beats.covered, "total": beats.total, "fraction": beats.fraction},
            "transitions": {"covered": transitions.covered, "total": transitions.total, "fraction": transitions.fraction},
            "beat_visits": self.beat_visits,
            "choice_counts": self.choice_counts,
            "endings": self.endings,
            "stuck": self.stuck,
            "capped": self.capped,
            "mean_steps": self.mean_steps,
            "emotions": {
                character: [{"step": p.step, "runs": p.runs, "mean": p.mean.as_dict()} for p in points]
                for character, points in self.emotions.items()
            },
        }


def simulate(
    graph: PlotGraph,
    runs: int,
    seed: int,
    strategy: Strategy = "random",
    max_steps: int = DEFAULT_MAX_STEPS,
) -> SimulationReport:
    """Play `runs` playthroughs of `graph` and report what they covered.

    "random" picks uniformly among the available choices; "coverage" prefers the choices taken
    least so far across all runs, then those into the beats entered least, breaking ties at
    random, which reaches rare branches with far fewer runs.
    """
    if runs < 1 or max_steps < 0:
        raise ValueError(f"runs must be at least 1 and max_steps at least 0, got {runs} and {max_steps}")
    rng = random.Random(seed)
    tally = _Tally(graph)
    pick = _picker(strategy, rng, tally)
    for _ in range(runs):
        last = None
        for step in play(graph, pick, max_steps):
            tally.record(step)
            last = step
        assert last is not None
        tally.finish(graph, last)
    return tally.report(graph, runs, seed, strategy, max_steps)


def _picker(strategy: Strategy, rng: random.Random, tally: _Tally) -> Picker:
    if strategy == "random":
        return rng.choice
    if strategy == "coverage":

        def least_covered(options: Sequence[Choice]) -> Choice:
            def key(choice: Choice) -> tuple[int, int]:
                return tally.choice_counts[choice.id], tally.beat_visits[choice.to]

            lowest = min(map(key, options))
            return rng.choice([choice for choice in options if key(choice) == lowest])

        return least_covered
    raise ValueError(f"unknown strategy {strategy!r}; expected one of {', '.join(STRATEGIES)}")


@dataclass
class _Tally:
    """Running counts over all runs; the coverage strategy reads them to decide."""

    graph: PlotGraph
    beat_visits: Counter[str] = field(default_factory=Counter)
    choice_counts: Counter[str] = field(default_factory=Counter)
    endings: Counter[str] = field(default_factory=Counter)
    stuck: Counter[str] = field(default_factory=Counter)
    capped: int = 0
    steps: int = 0
    emotion_sums: dict[str, list[list[float]]] = field(default_factory=dict)
    runs_per_step: list[int] = field(default_factory=list)

    def record(self, step: Step) -> None:
        state = step.state
        self.beat_visits[state.current_beat] += 1
        if step.choice is not None:
            self.choice_counts[step.choice.id] += 1
        index = state.step
        if index == len(self.runs_per_step):
            self.runs_per_step.append(0)
        self.runs_per_step[index] += 1
        for character, emotion in state.emotions.items():
            sums = self.emotion_sums.setdefault(character, [])
            if index == len(sums):
                sums.append([0.0] * len(EKMAN_AXES))
            totals = sums[index]
            for i, value in enumerate(emotion.as_dict().values()):
                totals[i] += value

    def finish(self, graph: PlotGraph, last: Step) -> None:
        state = last.state
        self.steps += state.step
        if graph.beat(state.current_beat).ending:
            self.endings[state.current_beat] += 1
        elif available_choices(graph, state):
            self.capped += 1
        else:
            self.stuck[state.current_beat] += 1

    def report(self, graph: PlotGraph, runs: int, seed: int, strategy: Strategy, max_steps: int) -> SimulationReport:
        emotions = {
            character: [
                EmotionPoint(i, self.runs_per_step[i], _mean(totals, self.runs_per_step[i]))
                for i, totals in enumerate(sums)
            ]
            for character, sums in self.emotion_sums.items()
        }
        return SimulationReport(
            story_id=graph.story.id,
            runs=runs,
            seed=seed,
            strategy=strategy,
            max_steps=max_steps,
            beat_visits={beat.id: self.beat_visits[beat.id] for beat in graph.beats},
            choice_counts={choice.id: self.choice_counts[choice.id] for choice in graph.choices},
            endings={beat.id: self.endings[beat.id] for beat in graph.endings if self.endings[beat.id]},
            stuck={beat.id: self.stuck[beat.id] for beat in graph.beats if self.stuck[beat.id]},
            capped=self.capped,
            mean_steps=self.steps / runs,
            emotions=emotions,
        )


def _mean(totals: list[float], runs: int) -> EmotionVector:
    axes: tuple[EkmanLabel, ...] = EKMAN_AXES
    return EmotionVector.of({axis: total / runs for axis, total in zip(axes, totals)})
