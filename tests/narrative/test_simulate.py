"""Simulated playthroughs: determinism, strategies, how runs end, the report, the CLI, and
properties on random graphs (no closed choice is ever taken; load -> dump -> load is identity)."""

from __future__ import annotations

import argparse
import itertools
import json
import random
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from narrative.expressions import evaluate
from narrative.loader import dump_graph, graph_from_spec, load_graph_text
from narrative.random_graph import random_graph_data, random_spec
from narrative.schema import PlotGraphSpec
from narrative.simulate import play, simulate
from narrative.simulate_cli import add_simulate_command
from tests.narrative.strategies import graph_data, load_data, property_settings

HEADER = "story: {id: s, title: S, style: mystery, start: a}\n"

FAN = HEADER + "beats:\n  - {id: a, summary: A}\n" + "".join(
    f"  - {{id: e{i}, summary: E, ending: true}}\n" for i in range(10)
) + "choices:\n" + "".join(f"  - {{id: c{i}, from: a, to: e{i}, text: t}}\n" for i in range(10))

STORY = HEADER + """
characters:
  - {id: tom, name: Tom, initial: {fear: 0.8}, baseline: {neutral: 0.5}}
variables: [{id: n, type: int, default: 0, min: 0, max: 3}]
beats:
  - {id: a, summary: A, effects: [{do: add, variable: n, amount: 1}]}
  - {id: win, summary: W, ending: true}
  - {id: lose, summary: L, ending: true}
choices:
  - {id: again, from: a, to: a, text: t}
  - {id: won, from: a, to: win, text: t, condition: "n >= 3"}
  - {id: lost, from: a, to: lose, text: t, condition: "n == 1"}
"""


def test_same_seed_same_report_and_seeds_differ():
    graph = load_graph_text(STORY)
    first = simulate(graph, runs=200, seed=3)
    assert first == simulate(graph, runs=200, seed=3)
    assert first.to_json() != simulate(graph, runs=200, seed=4).to_json()


def test_counts_add_up_and_honour_conditions():
    graph = load_graph_text(STORY)
    report = simulate(graph, runs=300, seed=1, max_steps=50)
    assert sum(report.endings.values()) + sum(report.stuck.values()) + report.capped == 300
    assert set(report.endings) == {"win", "lose"}
    assert report.choice_counts["won"] == report.endings["win"]
    assert report.beat_visits["a"] == 300 + report.choice_counts["again"]
    assert (report.beats.covered, report.beats.total) == (3, 3)
    assert report.transitions.fraction == 1.0


def test_coverage_strategy_reaches_rare_branches_sooner():
    graph = load_graph_text(FAN)
    assert len(simulate(graph, runs=10, seed=0, strategy="coverage").endings) == 10
    assert len(simulate(graph, runs=10, seed=0, strategy="random").endings) < 10


def test_runs_in_a_loop_stop_at_the_step_cap():
    graph = load_graph_text(HEADER + """
beats: [{id: a, summary: A}, {id: b, summary: B}]
choices:
  - {id: ab, from: a, to: b, text: t}
  - {id: ba, from: b, to: a, text: t}
""")
    report = simulate(graph, runs=5, seed=0, max_steps=7)
    assert (report.capped, report.endings, report.stuck, report.mean_steps) == (5, {}, {}, 7.0)


def test_runs_where_no_choice_is_open_are_stuck():
    graph = load_graph_text(HEADER + """
variables: [{id: key, type: bool}]
beats: [{id: a, summary: A}, {id: e, summary: E, ending: true}]
choices: [{id: ae, from: a, to: e, text: t, condition: key}]
""")
    report = simulate(graph, runs=4, seed=0)
    assert (report.stuck, report.capped, report.endings) == ({"a": 4}, 0, {})


def test_emotion_trajectory_starts_at_initial_and_decays():
    graph = load_graph_text(STORY)
    points = simulate(graph, runs=100, seed=2, max_steps=20).emotions["tom"]
    assert points[0].runs == 100 and points[0].mean.fear == pytest.approx(0.8)
    assert points[1].mean.fear < points[0].mean.fear
    assert [p.step for p in points] == list(range(len(points))) and len(points) <= 21
    assert all(a.runs >= b.runs for a, b in itertools.pairwise(points))


def test_bad_arguments_are_rejected():
    graph = load_graph_text(STORY)
    with pytest.raises(ValueError, match="runs"):
        simulate(graph, runs=0, seed=0)
    with pytest.raises(ValueError, match="unknown strategy"):
        simulate(graph, runs=1, seed=0, strategy="greedy")  # type: ignore[arg-type]


def run_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    add_simulate_command(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["simulate", *argv])
    return args.func(args)


def test_cli_text_and_json(tmp_path: Path, capsys):
    path = tmp_path / "g.yaml"
    path.write_text(STORY, encoding="utf-8")
    assert run_cli(str(path), "--runs", "50", "--seed", "1", "--strategy", "coverage") == 0
    text = capsys.readouterr().out
    assert "beats visited:  3/3 (100.0%)" in text and "endings:" in text and "tom:" in text
    assert run_cli(str(path), "--runs", "50", "--seed", "1", "--format", "json") == 0
    data = json.loads(capsys.readouterr().out)
    assert data["runs"] == 50 and data["beats"]["covered"] == 3 and set(data["emotions"]) == {"tom"}
    path.write_text(HEADER + "beats: []\n", encoding="utf-8")
    assert run_cli(str(path)) == 1
    assert "E005" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        run_cli(str(path), "--runs", "0")


@property_settings
@given(graph_data, st.integers(0, 2**32))
def test_play_never_takes_a_closed_choice(data, seed):
    graph = load_data(data)
    rng = random.Random(seed)
    steps = list(play(graph, rng.choice, max_steps=30))
    for before, after in itertools.pairwise(steps):
        choice = after.choice
        assert choice is not None and choice.from_ == before.state.current_beat
        condition = graph.condition(choice.id)
        assert condition is None or evaluate(condition, before.state) is True
        assert after.state.current_beat == choice.to


@property_settings
@given(graph_data)
def test_load_dump_load_is_identity(data):
    graph = load_data(data)
    assert graph.spec == PlotGraphSpec.model_validate(data)
    again = load_graph_text(dump_graph(graph))
    assert again.spec == graph.spec
    assert dump_graph(again) == dump_graph(graph)


def test_generated_yaml_and_in_memory_graphs_agree():
    data_graph = load_graph_text(yaml.safe_dump(random_graph_data(random.Random(5), 60)))
    memory_graph = graph_from_spec(random_spec(random.Random(5), 60))
    assert data_graph.spec == memory_graph.spec


def test_a_thousand_runs_on_a_thousand_beats_take_seconds():
    graph = graph_from_spec(random_spec(random.Random(11), 1000))
    started = time.perf_counter()
    report = simulate(graph, runs=1000, seed=0, strategy="coverage")
    assert time.perf_counter() - started < 30.0  # ~1 s here
    assert report.beats.covered > 100
