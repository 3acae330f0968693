"""The batch's output file: JSONL or a localisation CSV, written line by line, resumable.

Every record is written whole and flushed before the next, in the order of the input, so after a
crash or Ctrl-C the file is always a prefix of the uninterrupted run's file (a torn last record,
from a crash mid-write, is cut off on resume). Re-running skips the ids already there and appends
the rest: the result is byte-identical to a run that never stopped.

The CSV has the three columns Unreal string tables import (Key, SourceString, Comment) and that
the Unity Localization package's CSV extension maps to key, a locale column and a comment.
"""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

Format = Literal["jsonl", "csv"]
CSV_HEADER = ("Key", "SourceString", "Comment")


@dataclass(frozen=True)
class LineRecord:
    id: str
    text: str
    speaker: str
    intent: str
    target_emotion: str
    detected_emotion: str
    style: str
    seed: int
    finish_reason: str
    candidates: int
    graph: str = ""
    beat: str = ""
    listener: str = ""
    source_row: int = 0
    warnings: list[str] = field(default_factory=list)

    def comment(self) -> str:
        """What a localiser or voice director needs beside the string."""
        parts = [f"speaker: {self.speaker}"]
        if self.listener:
            parts.append(f"to: {self.listener}")
        if self.intent:
            parts.append(f"intent: {self.intent}")
        parts.append(f"emotion: {self.target_emotion or 'any'} (reads as {self.detected_emotion or 'unknown'})")
        if self.style:
            parts.append(f"style: {self.style}")
        if self.beat:
            parts.append(f"beat: {self.graph}/{self.beat}")
        parts += [f"warning: {w}" for w in self.warnings]
        return "; ".join(parts)


def _csv_row(fields: list[str] | tuple[str, ...]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(fields)
    return buffer.getvalue()


def encode(record: LineRecord, fmt: Format) -> str:
    if fmt == "jsonl":
        return json.dumps(asdict(record), ensure_ascii=False, sort_keys=True) + "\n"
    return _csv_row((record.id, record.text, record.comment()))


def _complete_prefix(path: Path, fmt: Format) -> tuple[int, set[str]]:
    """Bytes of whole records at the start of the file, and their ids."""
    raw = path.read_bytes()
    ids: set[str] = set()
    good = 0
    if fmt == "jsonl":
        for line in raw.splitlines(keepends=True):
            if not line.endswith(b"\n"):
                break
            try:
                ids.add(json.loads(line)["id"])
            except (json.JSONDecodeError, KeyError, TypeError):
                break
            good += len(line)
        return good, ids
    text = raw.decode("utf-8", errors="replace")
    offset = 0
    try:
        for number, row in enumerate(csv.reader(io.StringIO(text))):
            whole = _csv_row(row)
            # A torn record re-encodes to something the file does not hold at this offset.
            if not text.startswith(whole, offset) or (number == 0 and tuple(row) != CSV_HEADER):
                break
            offset += len(whole)
            if number:
                ids.add(row[0])
    except csv.Error:
        pass
    return len(text[:offset].encode("utf-8")), ids


class OutputFile:
    """Appends records; on open, keeps the whole records already there and reports their ids."""

    def __init__(self, path: Path, fmt: Format) -> None:
        self.path = path
        self.fmt = fmt
        self.done: set[str] = set()
        keep = 0
        if path.exists():
            keep, self.done = _complete_prefix(path, fmt)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._handle = path.open("r+b" if path.exists() else "wb")
        self._handle.truncate(keep)
        self._handle.seek(keep)
        if fmt == "csv" and keep == 0:
            self._write(_csv_row(CSV_HEADER))

    def _write(self, text: str) -> None:
        self._handle.write(text.encode("utf-8"))
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def write(self, record: LineRecord) -> None:
        self._write(encode(record, self.fmt))
        self.done.add(record.id)

    def close(self) -> None:
        self._handle.close()
