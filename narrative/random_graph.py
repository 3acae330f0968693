"""Random plot graphs that load: for property tests, fuzzing and benchmarks.

`random_graph_data` draws everything from the `random.Random` it is given, so a seed gives the
same graph, and hypothesis can drive it (`st.randoms()`) and shrink what it draws. The graph
has the shape of a written story: a tree of choices from the start (so most beats are reachable)
plus extra choices forward and back (branches and loops), endings, conditions on int and bool
variables and on knowledge, effects of every kind, target emotions and quests along paths.
"""

from __future__ import annotations

import random
from typing import Any

from narrative.emotions import EKMAN_AXES
from narrative.schema import PlotGraphSpec

INT_MAX = 10
ENDING_RATE = 0.1
CONDITION_RATE = 0.3
"""Share of the extra choices with a condition; a tenth of that on the choices of the tree, so
that conditions branch the story without closing most of it."""
EFFECT_RATE = 0.3
REMOVALS_PER_GRAPH = 1.0
"""Expected leave/die effects per graph: enough for small graphs to exercise them, few enough
that a large graph is not mostly characters listed after they died."""


def random_graph_data(rng: random.Random, beats: int) -> dict[str, Any]:
    """A plot graph of `beats` beats as the plain data a YAML file holds (`from` spelled as such)."""
    if beats < 1:
        raise ValueError(f"a plot graph needs at least one beat, got {beats}")
    ints = [f"n{i}" for i in range(3)]
    flags = [f"f{i}" for i in range(2)]
    characters = [f"c{i}" for i in range(min(8, 1 + beats // 100))]
    facts = [f"fact{i}" for i in range(min(20, 1 + beats // 50))]
    beat_ids = [f"b{i}" for i in range(beats)]
    endings = {b for b in beat_ids[1:] if rng.random() < ENDING_RATE}
    if beats > 1:
        endings.add(beat_ids[-1])
    draw = _Drawer(rng, ints, flags, characters, facts, beat_ids)

    parent: dict[str, str] = {}
    open_beats = [beat_ids[0]]  # beats a choice may leave: the non-endings seen so far
    choices: list[dict[str, Any]] = []
    for beat_id in beat_ids[1:]:
        parent[beat_id] = rng.choice(open_beats)
        choices.append(draw.choice(f"x{len(choices)}", parent[beat_id], beat_id, CONDITION_RATE / 10))
        if beat_id not in endings:
            open_beats.append(beat_id)
    for beat_id in open_beats:
        for _ in range(rng.randint(0, 2)):
            choices.append(draw.choice(f"x{len(choices)}", beat_id, rng.choice(beat_ids), CONDITION_RATE))
    leaving = {choice["from"] for choice in choices}
    ending_list = sorted(endings)
    for beat_id in open_beats:
        if beat_id not in leaving and ending_list:
            choices.append(draw.choice(f"x{len(choices)}", beat_id, rng.choice(ending_list), 0.0))

    return {
        "story": {"id": "random_story", "title": "Random story", "style": "mystery", "start": beat_ids[0]},
        "characters": [
            {"id": c, "name": c.upper(), "knows": rng.sample(facts, rng.randint(0, 1))} for c in characters
        ],
        "variables": [
            *({"id": v, "type": "int", "default": 0, "min": 0, "max": INT_MAX} for v in ints),
            *({"id": f, "type": "bool", "default": False} for f in flags),
        ],
        "facts": [{"id": f, "text": f"Fact {f}."} for f in facts],
        "beats": [draw.beat(b, ending=b in endings) for b in beat_ids],
        "choices": choices,
        "quests": _quests(rng, beat_ids, parent),
    }


def random_spec(rng: random.Random, beats: int) -> PlotGraphSpec:
    return PlotGraphSpec.model_validate(random_graph_data(rng, beats))


class _Drawer:
    def __init__(
        self, rng: random.Random, ints: list[str], flags: list[str], characters: list[str], facts: list[str], beats: list[str]
    ) -> None:
        self.rng, self.ints, self.flags, self.characters, self.facts, self.beats = rng, ints, flags, characters, facts, beats

    def beat(self, beat_id: str, *, ending: bool) -> dict[str, Any]:
        rng = self.rng
        data: dict[str, Any] = {"id": beat_id, "summary": f"Beat {beat_id}."}
        present = rng.sample(self.characters, rng.randint(0, min(2, len(self.characters))))
        if present:
            data["characters"] = present
            if rng.random() < 0.3:
                data["target_emotion"] = {rng.choice(present): rng.choice(EKMAN_AXES)}
        if rng.random() < EFFECT_RATE:
            data["effects"] = [self.effect() for _ in range(rng.randint(1, 2))]
        if ending:
            data["ending"] = True
        return data

    def choice(self, choice_id: str, source: str, target: str, condition_rate: float) -> dict[str, Any]:
        rng = self.rng
        data: dict[str, Any] = {"id": choice_id, "from": source, "to": target, "text": f"Go to {target}."}
        if rng.random() < condition_rate:
            data["condition"] = self.condition()
        if rng.random() < EFFECT_RATE:
            data["effects"] = [self.effect()]
        return data

    def condition(self) -> str:
        rng = self.rng
        atoms = [
            lambda: f"{rng.choice(self.ints)} {rng.choice(('<', '<=', '>', '>=', '==', '!='))} {rng.randint(0, INT_MAX)}",
            lambda: f"{'not ' if rng.random() < 0.5 else ''}{rng.choice(self.flags)}",
            lambda: f"knows({rng.choice(('player', *self.characters))}, {rng.choice(self.facts)})",
            lambda: f"visited({rng.choice(self.beats)})",
        ]
        text = rng.choice(atoms)()
        if rng.random() < 0.3:
            text += f" {rng.choice(('and', 'or'))} {rng.choice(atoms)()}"
        return text

    def effect(self) -> dict[str, Any]:
        rng = self.rng
        roll = rng.random()
        if roll < min(0.02, REMOVALS_PER_GRAPH / len(self.beats)):
            return {"do": rng.choice(("leave", "die")), "character": rng.choice(self.characters)}
        if roll < 0.35:
            return {"do": "add", "variable": rng.choice(self.ints), "amount": rng.choice((-2, -1, 1, 1, 2, 3))}
        if roll < 0.5:
            return {"do": "set", "variable": rng.choice(self.ints), "value": rng.randint(0, INT_MAX)}
        if roll < 0.65:
            return {"do": "set", "variable": rng.choice(self.flags), "value": rng.random() < 0.5}
        if roll < 0.8:
            return {"do": "learn", "character": rng.choice(("player", *self.characters)), "fact": rng.choice(self.facts)}
        return {
            "do": "shift_emotion",
            "character": rng.choice(self.characters),
            "axis": rng.choice(EKMAN_AXES),
            "amount": round(rng.uniform(-0.5, 0.5), 2),
        }


def _quests(rng: random.Random, beats: list[str], parent: dict[str, str]) -> list[dict[str, Any]]:
    """Quests whose steps lie along the tree path to a random beat (in order, mostly sound)."""
    quests = []
    for q in range(min(5, len(beats) // 50)):
        path = [rng.choice(beats)]
        while path[-1] in parent and len(path) < 8:
            path.append(parent[path[-1]])
        path.reverse()
        steps = sorted(rng.sample(range(len(path)), min(len(path), rng.randint(2, 4))))
        quests.append({"id": f"q{q}", "title": f"Quest {q}", "steps": [{"beat": path[i]} for i in steps]})
    return quests
