"""The rule registry: one Rule per diagnostic code, built from what the checks declare; each code fires
on its rule's example, and docs/lint-codes.md is generated from the rules."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from narrative.diagnostics import Code
from narrative.lint import RULES, LintCode, lint_text
from narrative.lint.context import LintConfig, LintContext, LintFinding, emits
from narrative.lint.structure import DEAD_END
from narrative.loader import load_graph_text

ROOT = Path(__file__).resolve().parents[2]


def test_every_code_has_one_rule():
    codes = [rule.code for rule in RULES]
    assert len(codes) == len(set(codes))
    assert set(codes) == set(Code) | set(LintCode)  # a check left out of CHECKS leaves its codes out


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: str(rule.code))
def test_every_code_fires_on_its_example(rule):
    _, diagnostics = lint_text(rule.example, "example.yaml")
    found = {d.code: d for d in diagnostics}
    assert rule.code in found, [d.format() for d in diagnostics]
    assert (found[rule.code].severity, found[rule.code].hint) == (rule.severity, rule.hint)


def test_a_check_that_emits_a_code_it_did_not_declare_raises():
    @emits(DEAD_END)
    def wrong(context):
        yield LintFinding(LintCode.TRAP_CYCLE, "a loop", ("beats", 0, "id"))

    context = LintContext(load_graph_text("story: {id: s, title: S, style: mystery, start: a}\nbeats: [{id: a, summary: A}]\n"), LintConfig())
    with pytest.raises(AssertionError, match="L104"):
        list(wrong(context))


def test_the_codes_page_is_up_to_date():
    result = subprocess.run(
        [sys.executable, "docs/generate_lint_codes.py", "--check"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, f"regenerate it with `python docs/generate_lint_codes.py`\n{result.stderr}"
