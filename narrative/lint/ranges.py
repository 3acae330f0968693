"""What each variable can hold at each beat, over every path the conditions allow.

An abstract interpretation: numbers as intervals, bools and strings as sets of values, starting
from the declared defaults, pushed through effects exactly as `narrative.session` applies them
(`add` clamps to min/max), narrowed by the condition of each choice taken, joined where paths
merge, and widened toward the declared min/max on loops so that the fixpoint is reached.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from narrative.expressions import Expr
from narrative.graph import PlotGraph
from narrative.lint.abstract import CallOracle, assume, unknown_call
from narrative.lint.domain import Interval, State, declared_range, join_states, point, widen_states
from narrative.lint.flow import solve_forward
from narrative.schema import AddVariable, Beat, Choice, Effect, SetVariable


def default_state(graph: PlotGraph, tracked: Iterable[str]) -> State:
    """The `tracked` variables at their declared defaults, as a playthrough starts."""
    return {name: point(graph.variable(name), graph.variable(name).default) for name in tracked}


def declared_state(graph: PlotGraph, tracked: Iterable[str]) -> State:
    """The `tracked` variables anywhere in their declared ranges: what one condition alone may see."""
    return {name: declared_range(graph.variable(name)) for name in tracked}


def apply_effects(graph: PlotGraph, effects: Iterable[Effect], state: State) -> State:
    """`state` after `effects`; effects on untracked variables (and non-variable effects) do nothing."""
    changed: State | None = None
    for effect in effects:
        if not isinstance(effect, SetVariable | AddVariable) or effect.variable not in state:
            continue
        changed = dict(state) if changed is None else changed
        variable = graph.variable(effect.variable)
        if isinstance(effect, SetVariable):
            changed[effect.variable] = point(variable, effect.value)
        else:
            current = changed[effect.variable]
            assert isinstance(current, Interval)
            limits = declared_range(variable)
            assert isinstance(limits, Interval)
            shifted = current.add(Interval(effect.amount, effect.amount, isinstance(effect.amount, int)))
            changed[effect.variable] = shifted.clamp(limits.lo, limits.hi)
    return state if changed is None else changed


def variable_ranges(
    graph: PlotGraph,
    conditions: Mapping[str, Expr],
    tracked: Iterable[str],
    oracle_in: Callable[[Beat], CallOracle] = lambda beat: unknown_call,
) -> dict[str, State]:
    """For each beat some allowed path reaches: the tracked variables' values once its effects
    applied, which is what the conditions of the choices leaving it see; `oracle_in(beat)`
    answers the calls (`present`, `knows`, ...) of conditions asked in `beat`."""
    tracked = sorted(tracked)
    limits = {name: value for name, value in declared_state(graph, tracked).items() if isinstance(value, Interval)}

    def through_choice(choice: Choice, state: State) -> State | None:
        condition = conditions.get(choice.id)
        allowed = state if condition is None else assume(condition, state, True, oracle_in(graph.beat(choice.from_)))
        return None if allowed is None else apply_effects(graph, choice.effects, allowed)

    entering = solve_forward(
        graph,
        default_state(graph, tracked),
        through_beat=lambda beat, state: apply_effects(graph, beat.effects, state),
        through_choice=through_choice,
        join=join_states,
        widen=lambda old, new: widen_states(old, new, limits),
    )
    return {beat_id: apply_effects(graph, graph.beat(beat_id).effects, state) for beat_id, state in entering.items()}
