"""The plot-graph linter: problems a designer wants to hear about before anyone plays the story.

A graph that loads is well-formed; the linter looks for what is well-formed but probably wrong:
beats nobody reaches, playthroughs that cannot end, conditions that can never be true, quests
out of order, characters who come back from the dead or know what they never learned. Each
check is a plain function over the graph in a module of its family that declares the rules
(severity, meaning, hint, example) of the codes it emits; `LINT_RULES` is built from them.
"""

from narrative.lint.codes import LintCode
from narrative.lint.context import LintConfig
from narrative.lint.linter import CHECKS, LINT_RULES, RULES, lint_file, lint_graph, lint_text

__all__ = ["CHECKS", "LINT_RULES", "RULES", "LintCode", "LintConfig", "lint_file", "lint_graph", "lint_text"]
