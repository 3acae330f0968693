"""Both checkers over both samples: the entry point of the tests."""

from __future__ import annotations

from pathlib import Path

from tests.client_samples.cpp_refs import TurboLinkChecker
from tests.client_samples.csharp_refs import CSharpChecker
from tests.client_samples.paths import CPP_FILES, CS_FILES
from tests.client_samples.proto_schema import parse_contract


def check_samples(
    proto_texts: dict[str, str], cs_files: tuple[Path, ...] = CS_FILES, cpp_files: tuple[Path, ...] = CPP_FILES
) -> tuple[list[str], dict[str, set[str]]]:
    """Problems found in both samples, and what each resolved against the contract (by language)."""
    contract = parse_contract(proto_texts)
    problems, refs = [], {}
    for checker_class, paths in ((CSharpChecker, cs_files), (TurboLinkChecker, cpp_files)):
        checker = checker_class(contract, paths)
        problems += checker.run()
        refs[checker.naming.lang] = checker.refs
    return problems, refs
