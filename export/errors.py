"""Errors of the export pipeline; the CLI turns them into a message and a non-zero exit."""

from __future__ import annotations


class ExportError(RuntimeError):
    """A step of the export failed; the message names the input, file or step at fault."""


class ParityError(ExportError):
    """The exported model disagrees with the original beyond tolerance: no bundle is written."""
