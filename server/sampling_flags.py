"""The sampling flags of every command that generates (serve, generate, batch), derived from SamplingConfig.

Each SamplingConfig field is a flag with its help and type, so a setting added there is a flag of
each command without editing them; values are checked by SamplingConfig itself.
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from server.generation.sampling import SamplingConfig, SamplingError, controls


def flag(name: str) -> str:
    """The flag of a SamplingConfig field: --top-p for top_p."""
    return "--" + name.replace("_", "-")


def add_sampling_flags(parser: argparse.ArgumentParser | argparse._ArgumentGroup, defaults: str) -> None:
    """One flag per sampling setting; left out, a flag takes `defaults` (what the help says of them)."""
    for name, control in controls().items():
        parser.add_argument(flag(name), type=control.kind, metavar=name.upper(), help=f"{control.help} (default: {defaults})")


def given_sampling(args: argparse.Namespace) -> dict[str, Any]:
    """The sampling settings given on the command line, by field name."""
    return {name: getattr(args, name) for name in controls() if getattr(args, name, None) is not None}


def sampling_from_flags(args: argparse.Namespace, base: SamplingConfig) -> SamplingConfig:
    """`base` with the flags given; raises ValueError naming the flag whose value is out of range."""
    try:
        return dataclasses.replace(base, **given_sampling(args))
    except SamplingError as exc:
        raise ValueError(f"{flag(exc.field)}: {exc.message} ({controls()[exc.field].help})") from None
