"""Figures of training runs (matplotlib, Agg backend: files only, no display needed)."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
import numpy as np  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

from .checkpoint import atomic_write  # noqa: E402

__all__ = ["rolling_mean", "save_figure", "plot_learning_curve", "env_steps_label", "label_env_steps"]


def rolling_mean(values: np.ndarray, window: int) -> np.ndarray:
    """Mean of the last ``window`` values at each position (fewer at the start)."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return values
    cumsum = np.concatenate([[0.0], np.cumsum(values)])
    idx = np.arange(1, values.size + 1)
    start = np.maximum(idx - window, 0)
    return (cumsum[idx] - cumsum[start]) / (idx - start)


def env_steps_label(steps: float) -> str:
    """An env-step count as a short tick label: 0, 500, 20k, 250k, 1M, 1.5M."""
    if steps == 0:
        return "0"
    if abs(steps) >= 1e6:
        return f"{steps / 1e6:g}M"
    if abs(steps) >= 1e3:
        return f"{steps / 1e3:g}k"
    return f"{steps:g}"


def label_env_steps(axis) -> None:
    """Tick labels 0, 250k, 1M on ``axis`` (e.g. ``ax.xaxis``) instead of matplotlib's "1e6" offset."""
    axis.set_major_formatter(FuncFormatter(lambda x, _: env_steps_label(x)))   # a formatter belongs to one axis


def save_figure(fig, path: str | Path) -> None:
    """Lay out and write ``fig`` as PNG (creating the folder) via a temporary file and a rename, then close it."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=110))
    plt.close(fig)


def plot_learning_curve(metrics, path: str | Path, title: str, threshold: float | None = None,
                        final_eval: dict | None = None) -> None:
    """Episode returns (raw and a 20-episode rolling mean) and evaluation returns vs env steps.

    ``threshold``: the env's "solved" return, drawn as a dashed line. ``final_eval``: the final
    evaluation ({"env_step", "mean_return", "std_return", "episodes"}), drawn as a marked point
    with its spread (± one standard deviation over the episodes).
    """
    fig, ax = plt.subplots(figsize=(7, 4))
    steps, returns = metrics.column("episode_return")
    if steps.size:
        ax.plot(steps, returns, color="tab:blue", alpha=0.25, linewidth=0.8, label="training episode return")
        ax.plot(steps, rolling_mean(returns, 20), color="tab:blue", label="rolling mean (20 episodes)")
    eval_steps, eval_returns = metrics.column("eval_return")
    if eval_steps.size:
        ax.plot(eval_steps, eval_returns, "o-", color="tab:red", markersize=4,
                label="deterministic evaluation (mean)")
    if final_eval is not None:
        ax.errorbar([final_eval["env_step"]], [final_eval["mean_return"]], yerr=[final_eval["std_return"]],
                    fmt="D", color="black", markersize=7, capsize=5, zorder=5,
                    label=f"final evaluation: {final_eval['mean_return']:.1f} ± {final_eval['std_return']:.1f} "
                          f"(mean ± std, {final_eval['episodes']} episodes)")
    if threshold is not None:
        ax.axhline(threshold, color="tab:green", linestyle="--", linewidth=1.2,
                   label=f"solved threshold ({threshold:g}, gymnasium)")
    label_env_steps(ax.xaxis)
    ax.set_xlabel("env steps")
    ax.set_ylabel("episode return")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if steps.size or eval_steps.size or final_eval is not None:
        ax.legend(loc="best", fontsize=8)
    save_figure(fig, path)
