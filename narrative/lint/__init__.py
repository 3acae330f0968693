"""The plot-graph linter: problems a designer wants to hear about before anyone plays the story.

A graph that loads is well-formed; the linter looks for what is well-formed but probably wrong:
beats nobody reaches, playthroughs that cannot end, conditions that can never be true, quests
out of order, characters who come back from the dead or know what they never learned. Each
check is a plain function over the graph in a module of its family; `codes.LINT_RULES` lists
every code with its severity and a hint.
"""

from narrative.lint.codes import LINT_RULES, LintCode, Rule
from narrative.lint.context import LintConfig
from narrative.lint.linter import CHECKS, lint_file, lint_graph, lint_text

__all__ = ["CHECKS", "LINT_RULES", "LintCode", "LintConfig", "Rule", "lint_file", "lint_graph", "lint_text"]
