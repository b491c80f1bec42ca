"""Running a sweep's cells: a local process pool or Ray tasks; appending, resuming, reporting.

``run_sweep`` is the whole pipeline: read what ``DIR/runs.jsonl`` already holds, run only the
cells without a successful record (on the chosen backend), append each record the moment it
arrives, then aggregate, plot and write the report from the records alone. Because the report
is a function of the records and each record a function of its cell, a resumed sweep reports
exactly what an uninterrupted one does (wall times aside).

Backends
- ``local``: ``concurrent.futures.ProcessPoolExecutor`` with ``workers`` processes (default: the
  core count), started with "spawn" so each worker is a fresh interpreter as on Ray.
  ``workers=1`` runs the cells one after another in this process. Workers die with the sweep
  however it ends: an interrupted sweep kills them, and each worker exits by itself within
  a fraction of a second once its parent is gone (``kill -9`` included).
- ``ray``: one Ray task per cell (``num_cpus=1``), at most ``workers`` in flight. A cell whose
  worker process or node is lost is run again (up to ``RAY_RETRIES`` times); an exception in
  the cell's own code is recorded by the cell as a failed record and never retried. Without
  ``address`` a local Ray is started for the run (``ray.init(num_cpus=workers)``); with one,
  the sweep joins an existing cluster (``ray start --head`` on the head machine, ``ray start
  --address=HEAD:6379`` on each worker, as Ray documents). Workers need this package installed;
  with Ray >= 2.59 set ``RAY_AUTH_MODE=token`` on every node and on the machine running the sweep.

One sweep at a time writes into a folder: ``DIR/.lock`` is held (``flock``) for the sweep's
life, and a sweep starting in a folder first waits until every worker of an earlier sweep there
has exited (each holds a shared lock on ``DIR/.workers.lock``), so no cell ever runs twice at once.
"""
from __future__ import annotations

import importlib.util
import os
import socket
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Callable, Iterator

from tqdm import tqdm

from algorithms.benchmark.plots import plot_all
from algorithms.benchmark.records import (
    RUNS_FILE,
    RecordsError,
    append_record,
    arm_label,
    latest_by_cell,
    load_records,
    repair_torn_tail,
)
from algorithms.benchmark.report import write_summary
from algorithms.benchmark.runners import ALGORITHMS, base_record, run_cell
from algorithms.benchmark.stats import aggregate, aggregate_solve_rates
from algorithms.benchmark.sweep import Cell, SweepSpec
from algorithms.runs.run_folder import FolderError, try_lock
from algorithms.runs.safe_files import UnsafeFileError, check_regular_files, open_fd

__all__ = ["BACKENDS", "BackendError", "SweepResult", "check_backend", "run_sweep"]

BACKENDS = ("local", "ray")

#: One cell runs on one core. BLAS threads inside each worker would oversubscribe the cores and
#: make floating-point sums depend on the thread count; worker processes get these (unless the
#: user set them) from the environment at their start, before NumPy loads.
WORKER_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
#: Config keys that never change what a cell computes (``jit`` selected a replay of the eager step, bit
#: for bit; it is ignored now): records made with another value, or before the key existed, are still this sweep's.
SPEED_ONLY_SETTINGS = frozenset({"jit"})
RAY_INSTALL_HINT = 'install it with: pip install -e ".[ray]"  (or: pip install ray)'
#: Times Ray runs a cell again after its worker process or node was lost (never after an exception).
RAY_RETRIES = 3
WORKERS_LOCK = ".workers.lock"
_PARENT_POLL_SECONDS = 0.2
_WORKERS_EXIT_TIMEOUT_SECONDS = 30.0


class BackendError(RuntimeError):
    """The backend cannot be used as asked (Ray missing, cluster unreachable, bad worker count)."""


@dataclass
class SweepResult:
    cells: int            # cells in the sweep
    skipped: int          # already finished in runs.jsonl before this call
    ran: int              # run by this call
    failed: list[str]     # one line per cell whose latest record failed
    rows: list[dict]      # the summary rows
    out_dir: Path


def _failed_record(cell: Cell, error: str) -> dict:
    """Record of a cell whose worker died before ``run_cell`` could return (no wall time known)."""
    return base_record(cell.as_dict()) | {"status": "failed", "error": error, "wall_time_s": None}


def _worker_start(parent_pid: int, workers_lock: str | None) -> None:
    """Pool-worker initializer: hold the sweep folder's shared workers lock for this process's
    life, and exit as soon as the parent is gone. A worker blocked waiting for work would
    otherwise outlive a parent killed with SIGKILL (its pipe is never closed)."""
    if workers_lock is not None:
        import fcntl
        fd = open_fd(workers_lock, os.O_RDWR | os.O_CREAT)     # checked a regular file by the parent
        fcntl.flock(fd, fcntl.LOCK_SH)       # kept open (and locked) until this process exits

    def watch():
        while os.getppid() == parent_pid:
            time.sleep(_PARENT_POLL_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _kill_workers(pool: ProcessPoolExecutor) -> None:
    # ProcessPoolExecutor can stop running workers only from Python 3.14 (terminate_workers);
    # before that its process table is the one way to reach them.
    stop = getattr(pool, "kill_workers", None)
    if stop is not None:
        stop()
        return
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        process.kill()


def _run_local(cells: list[Cell], workers: int, workers_lock: Path | None = None) -> Iterator[dict]:
    if workers == 1:
        for cell in cells:
            yield run_cell(cell.as_dict())
        return
    for name, value in WORKER_ENV.items():
        os.environ.setdefault(name, value)
    lock = str(workers_lock) if workers_lock is not None and _HAS_FLOCK else None
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"), initializer=_worker_start,
                               initargs=(os.getpid(), lock))
    futures = {pool.submit(run_cell, cell.as_dict()): cell for cell in cells}
    pending = set(futures)
    try:
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                error = future.exception()
                if isinstance(error, KeyboardInterrupt):  # Ctrl-C reached the worker first
                    raise KeyboardInterrupt
                yield (future.result() if error is None else
                       _failed_record(futures[future], f"worker process failed: {type(error).__name__}: {error}"))
    except BaseException:
        # Interrupted (Ctrl-C, SIGTERM) or the consumer stopped: the running cells are abandoned,
        # their workers killed now rather than left to finish (or to outlive us).
        for future in pending:
            future.cancel()
        _kill_workers(pool)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


try:
    import fcntl as _fcntl  # noqa: F401
    _HAS_FLOCK = True
except ImportError:
    _HAS_FLOCK = False


def _wait_for_earlier_workers(path: Path) -> None:
    """Block until no worker of an earlier sweep holds ``path`` (they exit once their parent is gone)."""
    if not _HAS_FLOCK:
        return
    import fcntl
    try:
        fd = open_fd(path, os.O_RDWR | os.O_CREAT)   # the folder's own regular file, never through a symlink
    except (UnsafeFileError, OSError) as err:
        raise RecordsError(f"cannot use {path}: {getattr(err, 'strerror', None) or err}") from None
    try:
        deadline = time.monotonic() + _WORKERS_EXIT_TIMEOUT_SECONDS
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                fcntl.flock(fd, fcntl.LOCK_UN)
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise RecordsError(f"workers of an earlier sweep still hold {path} after "
                                       f"{_WORKERS_EXIT_TIMEOUT_SECONDS:.0f} s; stop them first") from None
                time.sleep(0.05)
    finally:
        os.close(fd)


def _check_ray_address(address: str) -> None:
    """Fail fast, with one clear line, when nothing listens at ``host:port`` (Ray would retry for
    a long time). ``auto`` is left to Ray, which looks for a cluster started on this machine."""
    if address == "auto":
        return
    target = address.split("://", 1)[-1]
    host, sep, port = target.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise BackendError(f"--address must be HOST:PORT (e.g. 127.0.0.1:6379), ray://HOST:PORT or auto, "
                           f"got {address!r}")
    try:
        with socket.create_connection((host, int(port)), timeout=5):
            pass
    except OSError as err:
        raise BackendError(f"cannot reach a Ray cluster at {address!r} ({err.strerror or err}); start one with "
                           f"`ray start --head` or leave out --address to start a local Ray") from err


def _start_ray(workers: int | None, address: str | None) -> int:
    """Start a local Ray (``workers`` CPUs) or join the cluster at ``address``; returns how many
    cells to keep in flight (``workers``, or on a cluster by default its CPU count)."""
    import ray

    runtime_env = {"env_vars": {name: os.environ.get(name, value) for name, value in WORKER_ENV.items()}}
    try:
        if address is None:
            # address="local": always a fresh instance, never one that a stale /tmp/ray file points to.
            ray.init(address="local", num_cpus=workers, include_dashboard=False, log_to_driver=False,
                     logging_level="ERROR", runtime_env=runtime_env)
        else:
            ray.init(address=address, log_to_driver=False, logging_level="ERROR", runtime_env=runtime_env)
    except (ConnectionError, RuntimeError, ValueError) as err:
        hint = ("" if address is None else "; Ray >= 2.59 clusters use token authentication: set RAY_AUTH_MODE=token "
                "and the cluster's token (ray get-auth-token) where the sweep runs")
        raise BackendError(f"cannot start or join Ray at {address or 'a new local instance'!r}: {err}{hint}") from err
    return workers if workers is not None else max(int(ray.cluster_resources().get("CPU", 1)), 1)


def _run_ray(cells: list[Cell], in_flight_limit: int) -> Iterator[dict]:
    """One Ray task per cell on the Ray that ``_start_ray`` started or joined."""
    import ray

    # max_retries: a lost worker or node runs the cell again (a cell depends on its fields alone, so
    # the retried record equals an undisturbed one); retry_exceptions=False: an exception is not
    # retried (run_cell records its own exceptions as failed records anyway).
    remote_run_cell = ray.remote(num_cpus=1, max_retries=RAY_RETRIES, retry_exceptions=False)(run_cell)
    queue = list(cells)
    in_flight: dict = {}
    while queue or in_flight:
        while queue and len(in_flight) < in_flight_limit:
            cell = queue.pop(0)
            in_flight[remote_run_cell.remote(cell.as_dict())] = cell
        ready, _ = ray.wait(list(in_flight), num_returns=1)
        cell = in_flight.pop(ready[0])
        try:
            record = ray.get(ready[0])
        except ray.exceptions.RayError as err:  # lost RAY_RETRIES + 1 times: recorded as failed
            record = _failed_record(cell, f"Ray task failed: {type(err).__name__}: {err}")
        yield record


def _lock_sweep_folder(out_dir: Path):
    try:
        lock = try_lock(out_dir)
    except (FolderError, OSError) as err:       # a .lock that is a symlink or FIFO; a read-only folder
        raise RecordsError(f"cannot lock the sweep folder {out_dir}: {getattr(err, 'strerror', None) or err}") \
            from None
    if lock is None:
        raise RecordsError(f"{out_dir} is in use by another sweep; wait for it to end, or use another --out")
    try:
        check_regular_files(out_dir, (RUNS_FILE, WORKERS_LOCK))     # no symlink, FIFO or hard link to follow out
    except UnsafeFileError as err:
        lock.release()
        raise RecordsError(str(err)) from None
    return lock


def check_backend(backend: str, workers: int | None, address: str | None) -> int | None:
    """Validate the backend options before anything is written; returns the worker count
    (None for a Ray cluster without --workers: the cluster's CPU count is used)."""
    if backend not in BACKENDS:
        raise BackendError(f"unknown backend {backend!r}; valid backends: {', '.join(BACKENDS)}")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers <= 0):
        raise BackendError(f"--workers must be an int > 0, got {workers!r}")
    if workers is None and not (backend == "ray" and address is not None):
        workers = os.cpu_count() or 1  # a cluster's default is its CPU count, known once joined
    if backend == "local" and address is not None:
        raise BackendError(f"--address {address!r} is for --backend ray; the local backend takes none")
    if backend == "ray":
        if importlib.util.find_spec("ray") is None:
            raise BackendError(f"--backend ray needs Ray, which is not installed; {RAY_INSTALL_HINT}")
        if address is not None:
            _check_ray_address(address)
    return workers


def _check_same_sweep(path: Path, latest: dict[str, dict], cells: list[Cell]) -> None:
    """Refuse to resume into records of another sweep: a different budget, or settings that the
    current code would no longer use for that cell (e.g. a changed preset or default)."""
    for cell in cells:
        record = latest.get(cell.key)
        if record is None:
            continue
        where = f"{path} holds {cell.label} on {cell.env} seed {cell.seed}"
        if record["cell"]["budget"] != cell.budget:
            raise RecordsError(f"{where} with budget {record['cell']['budget']}, but this sweep asks for "
                               f"{cell.budget}; use another --out or the same budget")
        if record["status"] == "ok":
            config = ALGORITHMS[cell.algorithm].config(cell.env, cell.seed, cell.budget, dict(cell.overrides))
            changed = sorted(key for key in (set(config) | set(record["config"])) - SPEED_ONLY_SETTINGS
                             if config.get(key) != record["config"].get(key))
            if changed:
                key = changed[0]
                raise RecordsError(f"{where} run with {key}={record['config'].get(key)!r}, but this code would use "
                                   f"{key}={config.get(key)!r}; use another --out to keep both")


def run_sweep(spec: SweepSpec, out_dir: str | Path, backend: str = "local", workers: int | None = None,
              address: str | None = None, progress: bool = True, figures: bool = True,
              notify: Callable[[str], None] = lambda text: print(text, file=sys.stderr)) -> SweepResult:
    """Run the missing cells of ``spec`` into ``out_dir``, then write summary.csv, report.md and
    (unless ``figures=False``) the figures.

    Raises ``BackendError`` / ``RecordsError`` before writing anything when the backend or the
    existing ``runs.jsonl`` cannot be used.
    """
    workers = check_backend(backend, workers, address)
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise RecordsError(f"--out {str(out_dir)!r} exists and is not a folder")
    locks = [_lock_sweep_folder(out_dir)] if out_dir.exists() else []   # held until the report is written
    try:
        runs_path = out_dir / RUNS_FILE
        cells = spec.cells()
        latest = latest_by_cell(load_records(runs_path))
        _check_same_sweep(runs_path, latest, cells)
        pending = [cell for cell in cells if latest.get(cell.key, {}).get("status") != "ok"]

        use_ray = backend == "ray" and bool(pending)
        in_flight_limit = _start_ray(workers, address) if use_ray else workers  # before anything is written
        try:
            try:
                out_dir.mkdir(parents=True, exist_ok=True)
            except OSError as err:          # a read-only file system, a parent that is a file
                raise RecordsError(f"cannot create the sweep folder {out_dir}: {err.strerror or err}") from None
            if not locks:
                locks.append(_lock_sweep_folder(out_dir))
            _wait_for_earlier_workers(out_dir / WORKERS_LOCK)
            notice = repair_torn_tail(runs_path)
            if notice:
                notify(notice)
            finished, failed = 0, 0
            bar = tqdm(total=len(cells), initial=len(cells) - len(pending), desc=f"cells ({backend})", unit="cell",
                       disable=not progress, dynamic_ncols=True)

            def show_counts():
                # "running" is what the pool holds at once, as long as cells remain.
                running = min(in_flight_limit or 0, len(pending) - finished)
                bar.set_postfix_str(f"done={bar.n - failed} running={running} failed={failed}")

            show_counts()
            runner = (_run_ray(pending, in_flight_limit) if use_ray else
                      _run_local(pending, workers, out_dir / WORKERS_LOCK))
            try:
                with bar:
                    for record in runner:
                        append_record(runs_path, record)
                        finished += 1
                        if record["status"] != "ok":
                            failed += 1
                            notify(f"cell failed: {record['cell']} -- {record['error'].splitlines()[0]}")
                        bar.update(1)
                        show_counts()
            finally:
                runner.close()           # an interrupted sweep stops its workers now
        finally:
            if use_ray:
                import ray
                ray.shutdown()

        latest = latest_by_cell(load_records(runs_path))
        ordered = {cell.key: latest[cell.key] for cell in cells if cell.key in latest}
        rows = aggregate(ordered)
        failures = [f"{arm_label(r['cell'])} on {r['cell']['env']}, seed {r['cell']['seed']}: "
                    f"{r['error'].splitlines()[0]}" for r in ordered.values() if r["status"] != "ok"]
        figure_files = plot_all(ordered, rows, out_dir) if figures else []
        settings = f" ({len(spec.arms)} settings)" if len(spec.arms) > len(spec.algorithms) else ""
        title = (f"Benchmark: {', '.join(spec.algorithms)}{settings} on {', '.join(spec.envs)}, "
                 f"{len(spec.seeds)} seeds")
        write_summary(out_dir, rows, figure_files, title, failures, aggregate_solve_rates(ordered))
        return SweepResult(cells=len(cells), skipped=len(cells) - len(pending), ran=len(pending), failed=failures,
                           rows=rows, out_dir=out_dir)
    finally:
        for lock in locks:
            lock.release()
