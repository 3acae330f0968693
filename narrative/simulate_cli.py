"""`storyteller graph simulate FILE`: simulated playthroughs of a plot graph, as a report.

Kept apart from `narrative.simulate` so that the simulation stays a library function and this
module only parses arguments and prints.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from narrative.errors import GraphLoadError
from narrative.loader import load_graph
from narrative.simulate import DEFAULT_MAX_STEPS, STRATEGIES, SimulationReport, simulate

SHOWN = 10
"""Beats or choices listed by name in the text report before the rest are counted."""


def add_simulate_command(group: Any) -> None:
    """Add `simulate` to an argparse subparsers `group` (e.g. that of `storyteller graph`)."""
    parser = group.add_parser(
        "simulate",
        help="play a plot graph many times and report coverage, endings and emotions",
        description=(
            "Play simulated playthroughs that honour every condition and effect, then report which beats "
            "and choices they covered, which endings they reached, where they got stuck, and how each "
            "character's emotions moved on average. The same --seed gives the same report."
        ),
    )
    parser.add_argument("file", type=Path, help="plot graph (.yaml, .yml or .json)")
    parser.add_argument("--runs", type=_positive, default=1000, help="playthroughs to simulate (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    parser.add_argument(
        "--strategy",
        choices=STRATEGIES,
        default="random",
        help="random: uniform among available choices; coverage: prefer choices and beats not seen yet "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--max-steps", type=_positive, default=DEFAULT_MAX_STEPS, help="choices per run before it is cut off (default: %(default)s)"
    )
    parser.add_argument("--format", choices=("text", "json"), default="text", help="output format (default: text)")
    parser.set_defaults(func=run_simulate)


def run_simulate(args: argparse.Namespace) -> int:
    try:
        graph = load_graph(args.file)
    except GraphLoadError as error:
        print("\n".join(d.format() for d in error.diagnostics), file=sys.stderr)
        return 1
    except (OSError, UnicodeDecodeError) as error:
        print(f"storyteller graph simulate: cannot read {args.file}: {error}", file=sys.stderr)
        return 2
    report = simulate(graph, args.runs, args.seed, args.strategy, args.max_steps)
    print(json.dumps(report.to_json(), indent=2) if args.format == "json" else format_report(report))
    return 0


def format_report(report: SimulationReport) -> str:
    """The report for a terminal: coverage, endings, runs that did not end, emotion arcs."""
    beats, transitions = report.beats, report.transitions
    lines = [
        f"{report.story_id}: {report.runs} runs, seed {report.seed}, {report.strategy} strategy, "
        f"at most {report.max_steps} steps, {report.mean_steps:.1f} steps per run on average",
        f"beats visited:  {beats.covered}/{beats.total} ({beats.fraction:.1%})"
        + _names(" never:", [b for b, n in report.beat_visits.items() if not n]),
        f"choices taken:  {transitions.covered}/{transitions.total} ({transitions.fraction:.1%})"
        + _names(" never:", [c for c, n in report.choice_counts.items() if not n]),
        "endings:        "
        + (", ".join(f"{b} {n} ({n / report.runs:.1%})" for b, n in report.endings.items()) or "none reached"),
        f"stuck:          {sum(report.stuck.values())}" + _names(" in", [f"{b} ({n})" for b, n in report.stuck.items()]),
        f"step cap hit:   {report.capped}",
    ]
    if report.emotions:
        lines.append("emotions (dominant axis of the mean, per step):")
        for character, points in report.emotions.items():
            arc = " ".join(p.mean.dominant() for p in points[:SHOWN])
            more = " ..." if len(points) > SHOWN else ""
            lines.append(f"  {character}: {arc}{more}")
    return "\n".join(lines)


def _names(label: str, names: list[str]) -> str:
    if not names:
        return ""
    more = f" and {len(names) - SHOWN} more" if len(names) > SHOWN else ""
    return f"{label} {', '.join(names[:SHOWN])}{more}"


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value
