"""What a run writes as it goes: ``metrics.csv`` (one row per episode or evaluation) and ``terms.csv``
(the loss terms in long form), kept in memory as well and appended to disk as they happen.

Both files are opened once, as regular files only (:func:`algorithms.runs.safe_files.opener`: a symbolic
link is refused, not followed out of the run folder), and every row goes to that open file: a name swapped
afterwards changes nothing."""
from __future__ import annotations

import csv
import time
from pathlib import Path

import numpy as np

from ..runs.safe_files import opener

__all__ = ["METRIC_COLUMNS", "TERM_COLUMNS", "MetricsLog"]


METRIC_COLUMNS = ["env_step", "episode_return", "episode_length", "loss", "epsilon", "entropy",
                  "eval_return", "wall_time"]


TERM_COLUMNS = ["env_step", "term", "value"]


class MetricsLog:
    """Rows of METRIC_COLUMNS kept in memory and, with a path, appended to a CSV as they happen.

    With ``terms_path`` the loss terms go to a second CSV in long form (env_step, term, value),
    so any algorithm's terms fit without a fixed header.

    ``sinks`` (e.g. :class:`algorithms.tensorboard_log.TensorBoardSink`) also receive every row
    (``on_row(row)``), every set of loss terms (``on_terms(env_step, terms)``) and ``close()``.

    As a checkpoint part its state is the size of both files and the elapsed time; restoring it
    (``append=True``: the files of the interrupted run, opened for appending) cuts the files back
    to those sizes, so rows written after the checkpoint are not repeated, and reads the rows back.
    """

    def __init__(self, path: str | Path | None = None, terms_path: str | Path | None = None,
                 sinks: list | tuple = (), append: bool = False):
        self.rows: list[dict] = []
        self.term_rows: list[dict] = []
        self.sinks = list(sinks)
        self.start = time.perf_counter()
        self._file = self._terms_file = None
        self._paths = (path, terms_path)
        if path is not None:
            self._file, self._writer = _csv_writer(path, METRIC_COLUMNS, append)
        if terms_path is not None:
            self._terms_file, self._terms_writer = _csv_writer(terms_path, TERM_COLUMNS, append)

    def log(self, env_step: int, **values) -> None:
        unknown = set(values) - set(METRIC_COLUMNS)
        if unknown:
            raise ValueError(f"MetricsLog: unknown columns {sorted(unknown)}; valid: {METRIC_COLUMNS}")
        row = {"env_step": env_step, "wall_time": round(time.perf_counter() - self.start, 3), **values}
        self.rows.append(row)
        if self._file is not None:
            self._writer.writerow(row)
            self._file.flush()  # a crash or Ctrl-C loses nothing already logged
        for sink in self.sinks:
            sink.on_row(row)

    def log_terms(self, env_step: int, terms: dict[str, float]) -> None:
        rows = [{"env_step": env_step, "term": name, "value": round(value, 6)} for name, value in terms.items()]
        self.term_rows.extend(rows)
        if self._terms_file is not None:
            self._terms_writer.writerows(rows)
            self._terms_file.flush()
        for sink in self.sinks:
            sink.on_terms(env_step, terms)

    def column(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(env steps, values) of the rows that have ``name``."""
        rows = [r for r in self.rows if r.get(name) is not None]
        return (np.array([r["env_step"] for r in rows], dtype=np.int64),
                np.array([r[name] for r in rows], dtype=np.float64))

    def term(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(env steps, values) of one loss term."""
        rows = [r for r in self.term_rows if r["term"] == name]
        return (np.array([r["env_step"] for r in rows], dtype=np.int64),
                np.array([r["value"] for r in rows], dtype=np.float64))

    def close(self) -> None:
        for f in (self._file, self._terms_file):
            if f is not None:
                f.close()
        self._file = self._terms_file = None
        for sink in self.sinks:
            sink.close()
        self.sinks = []

    def state_dict(self) -> dict:
        return {"metrics_bytes": _size(self._file), "terms_bytes": _size(self._terms_file),
                "elapsed": time.perf_counter() - self.start}

    def load_state_dict(self, state: dict) -> None:
        files = ((self._file, self._paths[0], "metrics_bytes"), (self._terms_file, self._paths[1], "terms_bytes"))
        for f, path, key in files:
            size = state.get(key)
            if (f is None) != (size is None) or (f is not None and not 0 < size <= _size(f)):
                raise ValueError(f"{path or 'the metrics'} is shorter than when the checkpoint was written "
                                 f"({size} bytes); it was changed or damaged")
        for f, _, key in files:
            if f is not None:
                f.truncate(state[key])
        if self._file is not None:
            self.rows = _read_rows(self._paths[0], METRIC_COLUMNS, {"env_step", "episode_length"})
        if self._terms_file is not None:
            self.term_rows = _read_rows(self._paths[1], TERM_COLUMNS, {"env_step"})
        self.start = time.perf_counter() - float(state["elapsed"])


def _csv_writer(path, columns, append=False):
    f = open(path, "a" if append else "w", newline="", opener=opener)
    writer = csv.DictWriter(f, fieldnames=columns, lineterminator="\n")
    if not append:
        writer.writeheader()
        f.flush()
    return f, writer


def _size(f) -> int | None:
    if f is None:
        return None
    f.flush()
    return f.seek(0, 2)


def _read_rows(path, columns: list[str], int_columns: set[str]) -> list[dict]:
    """Rows of one of our CSVs as MetricsLog keeps them (empty cells left out)."""
    with open(path, newline="", opener=opener) as f:
        reader = csv.DictReader(f)
        if reader.fieldnames != columns:
            raise ValueError(f"{path}: header {reader.fieldnames} != {columns}")
        return [{k: (int(v) if k in int_columns else v if k == "term" else float(v)) for k, v in row.items() if v != ""}
                for row in reader]

