"""``DIR/runs.jsonl``: one JSON record per finished cell, appended as it finishes.

Each record is written as one line with flush + fsync before the next cell is looked at, so an
interrupted sweep loses at most the cells still running. Reading tolerates exactly one kind of
damage, the one an interruption can cause: a last line cut off mid-write (no newline at the
end). ``repair_torn_tail`` removes that fragment, with a notice, before new records are
appended after it. Any other unparsable line is an error naming the file and line.

When a cell appears more than once (a failed cell that was retried on resume), its latest
record is the one that counts.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from algorithms.runs.checkpoint import atomic_write
from algorithms.runs.safe_files import UnsafeFileError, opener

__all__ = ["RUNS_FILE", "RecordsError", "append_record", "load_records", "latest_by_cell",
           "repair_torn_tail", "write_text_atomic", "comparable", "cell_key", "arm_label"]

RUNS_FILE = "runs.jsonl"

#: Record fields that measure the machine rather than the algorithm; everything else in a
#: record is determined by the cell alone and must match exactly across backends and reruns.
NONDETERMINISTIC_FIELDS = ("wall_time_s",)


class RecordsError(ValueError):
    """``runs.jsonl`` cannot be used as it is (corrupt line, records of another sweep)."""


def append_record(path: str | Path, record: dict) -> None:
    """Append ``record`` as one JSON line, then flush and fsync so it survives a crash."""
    line = json.dumps(record, allow_nan=False, separators=(",", ":")) + "\n"
    with open(path, "a", encoding="utf-8", opener=opener) as handle:      # never through a symlink
        handle.write(line)
        handle.flush()
        os.fsync(handle.fileno())


def _read_lines(path: Path) -> tuple[list[str], bool]:
    """Complete lines, and whether a torn (newline-less) fragment follows them."""
    try:
        with open(path, encoding="utf-8", opener=opener) as handle:     # a regular file: a FIFO cannot hang it
            text = handle.read()
    except UnsafeFileError as err:
        raise RecordsError(str(err)) from None
    if not text:
        return [], False
    lines = text.split("\n")
    torn = lines[-1] != ""
    return lines[:-1], torn


def load_records(path: str | Path) -> list[dict]:
    """All complete records of ``path`` in file order (``[]`` if it does not exist)."""
    path = Path(path)
    if not path.exists():
        return []
    lines, _ = _read_lines(path)
    records = []
    for number, line in enumerate(lines, start=1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise RecordsError(f"{path}: line {number} is not a JSON record ({err}); "
                               f"move the file away or fix that line") from err
        if not isinstance(record, dict) or "cell" not in record or "status" not in record:
            raise RecordsError(f"{path}: line {number} is not a benchmark run record")
        records.append(record)
    return records


def repair_torn_tail(path: str | Path) -> str | None:
    """Cut a last line that an interruption left without its newline; return a notice, or None.

    The fragment is an incomplete record of a cell that will be run again, so nothing finished
    is lost. Truncating in place keeps every complete record byte for byte.
    """
    path = Path(path)
    if not path.exists():
        return None
    lines, torn = _read_lines(path)
    if not torn:
        return None
    keep = sum(len(line.encode("utf-8")) + 1 for line in lines)
    size = path.stat().st_size
    with open(path, "r+b", opener=opener) as handle:
        handle.truncate(keep)
        handle.flush()
        os.fsync(handle.fileno())
    return f"{path}: removed an incomplete last record ({size - keep} bytes, cut off by an interruption)"


def arm_label(cell: dict) -> str:
    """What a cell runs: the algorithm, followed by the config values a grid or variant sets, e.g.
    ``dqn[lr=0.001,n_step=3]`` (values as JSON). Cells with the same label form one report row."""
    overrides = cell.get("overrides") or {}
    if not overrides:
        return cell["algorithm"]
    values = ",".join(f"{key}={json.dumps(value, separators=(',', ':'))}" for key, value in overrides.items())
    return f"{cell['algorithm']}[{values}]"


def cell_key(cell: dict) -> str:
    """"label|env|seed" (label: :func:`arm_label`): one cell's identity in ``runs.jsonl`` (its
    budget is checked on resume)."""
    return f"{arm_label(cell)}|{cell['env']}|{cell['seed']}"


def latest_by_cell(records: list[dict]) -> dict[str, dict]:
    """{cell key: latest record of that cell}, in order of first appearance."""
    latest: dict[str, dict] = {}
    for record in records:
        latest[cell_key(record["cell"])] = record
    return latest


def comparable(record: dict) -> dict:
    """The record without its machine-dependent fields (wall time), for exact comparison."""
    return {key: value for key, value in record.items() if key not in NONDETERMINISTIC_FIELDS}


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` through a temporary file and a rename: a reader never sees half a file."""
    atomic_write(path, lambda handle: handle.write(text.encode("utf-8")))
