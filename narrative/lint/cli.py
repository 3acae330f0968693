"""`storyteller graph lint FILE...`: the linter as a command, with output like a compiler's.

Exit status: 0 when no file has an error (warnings allowed), 1 when one does, 2 when a file
cannot be read, so that CI can fail on errors and tell them from a wrong path.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from narrative.diagnostics import Diagnostic, Severity
from narrative.lint.codes import DEFAULT_EMOTION_SHIFT_THRESHOLD
from narrative.lint.context import LintConfig
from narrative.lint.linter import lint_file

EXIT_CLEAN, EXIT_ERRORS, EXIT_UNREADABLE = 0, 1, 2


def add_lint_command(group: Any) -> None:
    """Add `lint` to an argparse subparsers `group` (e.g. that of `storyteller graph`)."""
    parser = group.add_parser(
        "lint",
        help="check plot graphs for unreachable beats, impossible conditions and other likely mistakes",
        description=(
            "Load each plot graph and report its problems as FILE:LINE:COLUMN: CODE SEVERITY: MESSAGE. "
            "Load errors are E0xx codes; lint findings are L1xx codes (every code with an example: docs/lint-codes.md). "
            "Exits 1 when any file has an error, 2 when a file cannot be read."
        ),
    )
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE", help="plot graph (.yaml, .yml or .json)")
    parser.add_argument("--format", choices=("text", "json"), default="text", help="output format (default: text)")
    parser.add_argument(
        "--emotion-threshold",
        type=float,
        default=DEFAULT_EMOTION_SHIFT_THRESHOLD,
        metavar="AMOUNT",
        help="smallest shift_emotion that explains a change of target emotion (L141; default: %(default)s)",
    )
    parser.set_defaults(func=run_lint)


def run_lint(args: argparse.Namespace) -> int:
    config = LintConfig(emotion_shift_threshold=args.emotion_threshold)
    found: list[Diagnostic] = []
    status = EXIT_CLEAN
    for path in args.files:
        try:
            found += lint_file(path, config)
        except (OSError, UnicodeDecodeError) as error:
            print(f"storyteller graph lint: cannot read {path}: {error}", file=sys.stderr)
            status = EXIT_UNREADABLE
    if args.format == "json":
        print(json.dumps([diagnostic_json(d) for d in found], indent=2))
    else:
        for diagnostic in found:
            print(diagnostic.format())
        print(_summary(found, len(args.files)), file=sys.stderr)
    if status == EXIT_CLEAN and any(d.severity is Severity.ERROR for d in found):
        status = EXIT_ERRORS
    return status


def diagnostic_json(diagnostic: Diagnostic) -> dict[str, Any]:
    d = diagnostic
    return {
        "file": d.file,
        "line": d.line,
        "column": d.column,
        "code": str(d.code),
        "severity": str(d.severity),
        "message": d.message,
        "hint": d.hint,
    }


def _summary(found: list[Diagnostic], files: int) -> str:
    errors = sum(d.severity is Severity.ERROR for d in found)
    return f"{files} file(s): {errors} error(s), {len(found) - errors} warning(s)"
