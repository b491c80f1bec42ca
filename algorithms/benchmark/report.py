"""``summary.csv`` (one row per algorithm x env, every number) and ``report.md`` (the table, ready
to paste, with the figures and how each number was obtained). Both are written atomically."""
from __future__ import annotations

import csv
import io
from pathlib import Path

from algorithms.benchmark.records import write_text_atomic
from algorithms.benchmark.stats import CONFIDENCE, N_RESAMPLES, SOLVE_WINDOW

__all__ = ["SUMMARY_COLUMNS", "summary_csv_text", "report_markdown", "write_summary"]

SUMMARY_COLUMNS = ["algorithm", "env", "seeds", "failed", "budget", "budget_unit", "threshold", "mean", "std",
                   "mean_ci_low", "mean_ci_high", "iqm", "iqm_ci_low", "iqm_ci_high", "solve_rate",
                   "reached_threshold", "median_steps_to_threshold", "mean_env_steps", "mean_wall_time_s"]


def summary_csv_text(rows: list[dict]) -> str:
    """CSV of the summary rows; an undefined value (no successful run, one seed) is an empty cell."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=SUMMARY_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: "" if row.get(key) is None else row[key] for key in SUMMARY_COLUMNS})
    return buffer.getvalue()


def _number(value, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _interval(value, low, high, digits: int = 2) -> str:
    if value is None:
        return "n/a"
    if low is None:
        return f"{value:.{digits}f} (CI n/a: < 2 seeds)"
    return f"{value:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def _steps(row: dict) -> str:
    if row["threshold"] is None:
        return "n/a (no threshold)"
    if row["median_steps_to_threshold"] is None:
        return f"not reached (0/{row['seeds']})" if row["seeds"] else "n/a"
    return f"{row['median_steps_to_threshold']:,.0f} ({row['reached_threshold']}/{row['seeds']})"


def report_markdown(rows: list[dict], figures: list[str], title: str = "Benchmark report",
                    failures: list[str] = (), overall: list[dict] = ()) -> str:
    """The report: a markdown table per row, the solve rates across envs, the figures, then the
    definitions used."""
    lines = [f"# {title}", "",
             "| algorithm | env | seeds | budget | mean ± std | IQM [95% CI] | solve rate (threshold) "
             "| env steps to threshold, median (seeds) | wall time / run |",
             "|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        seeds = f"{row['seeds']}" + (f" (+{row['failed']} failed)" if row["failed"] else "")
        spread = "n/a" if row["mean"] is None else f"{row['mean']:.2f} ± {_number(row['std'])}"
        solve = ("n/a (no threshold)" if row["threshold"] is None else "n/a" if row["solve_rate"] is None
                 else f"{row['solve_rate']:.0%} (≥ {row['threshold']:g})")
        wall = "n/a" if row["mean_wall_time_s"] is None else f"{row['mean_wall_time_s']:.1f} s"
        lines.append(f"| {row['algorithm']} | {row['env']} | {seeds} | {row['budget']:,} {row['budget_unit']} "
                     f"| {spread} | {_interval(row['iqm'], row['iqm_ci_low'], row['iqm_ci_high'])} "
                     f"| {solve} | {_steps(row)} | {wall} |")
    if overall:
        lines += ["", "## Across environments", "",
                  "| algorithm | envs | runs | solve rate [95% stratified-bootstrap CI] |", "|---|---|---|---|"]
        for row in overall:
            interval = ("CI n/a" if row["ci_low"] is None
                        else f"[{row['ci_low']:.0%}, {row['ci_high']:.0%}]")
            lines.append(f"| {row['algorithm']} | {', '.join(row['envs'])} | {row['runs']} "
                         f"| {row['solve_rate']:.0%} {interval} |")
    if failures:
        lines += ["", "## Failed runs", ""] + [f"- {failure}" for failure in failures]
    if figures:
        lines += ["", "## Figures", ""] + [f"![{Path(f).stem}]({f})" for f in figures]
    lines += ["", "## How the numbers were obtained", "",
              "- Score of a run: mean return of its final evaluation (greedy policy after training, "
              "on a separately seeded env).",
              "- mean ± std: over seeds (sample std, ddof = 1). IQM: interquartile mean, "
              "`scipy.stats.trim_mean(scores, 0.25)` (Agarwal et al. 2021).",
              f"- {CONFIDENCE:.0%} CI: percentile bootstrap over seeds, `scipy.stats.bootstrap`, "
              f"{N_RESAMPLES} resamples, fixed generator (seed 0).",
              "- Solve rate: fraction of seeds whose score reaches the env's threshold (gymnasium's "
              "`reward_threshold`; CliffWalking: -17, the safe path's return). Across environments: the "
              "fraction of all runs, its CI from a stratified bootstrap (runs resampled within each env).",
              f"- Env steps to threshold: first time the mean training return over the last {SOLVE_WINDOW} "
              "episodes reaches the threshold (gym's original criterion); median over the seeds that "
              "reached it, with how many did.",
              "- Wall time: mean per run on the machine that ran it (not comparable across machines)."]
    return "\n".join(lines) + "\n"


def write_summary(out_dir: str | Path, rows: list[dict], figures: list[str], title: str,
                  failures: list[str] = (), overall: list[dict] = ()) -> None:
    out_dir = Path(out_dir)
    write_text_atomic(out_dir / "summary.csv", summary_csv_text(rows))
    write_text_atomic(out_dir / "report.md", report_markdown(rows, figures, title, failures, overall))
