"""Figures and CLI plumbing shared by the tabular solve_* scripts: value grids with policy arrows.

A grid of state values is drawn as a heatmap, each cell annotated with its value and with an
arrow for every greedy action (all tied best actions, as in Sutton & Barto's Figure 4.1).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

#: Arrow direction (dx, dy) in plot coordinates (row 0 at the top) of a compass move.
UP, RIGHT, DOWN, LEFT = (0.0, -1.0), (1.0, 0.0), (0.0, 1.0), (-1.0, 0.0)


class OneLineParser(argparse.ArgumentParser):
    """argparse whose usage errors are one line on stderr and exit status 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")


def probability(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text}")
    return value


def positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
    return value


def positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def dp_solver_parser(description: str, episodes: int, out: str) -> OneLineParser:
    """The options every DP solve_* script shares: discount, threshold, real evaluation, output."""
    parser = OneLineParser(description=description)
    parser.add_argument("--gamma", type=probability, default=0.99, help="discount (default 0.99)")
    parser.add_argument("--theta", type=positive_float, default=1e-10, help="sweep stopping threshold")
    parser.add_argument("--episodes", type=positive_int, default=episodes,
                        help=f"real evaluation episodes (default {episodes})")
    parser.add_argument("--seed", type=int, default=0, help="first env seed of the evaluation episodes")
    parser.add_argument("--out", default=out, help=f"output folder for the PNGs (default {out})")
    return parser


def run_cli(main) -> None:
    """Run ``main()``; a ValueError/OSError/RuntimeError becomes one stderr line and status 1."""
    try:
        main()
    except (ValueError, OSError, RuntimeError) as err:
        print(f"{os.path.basename(sys.argv[0])}: error: {err}", file=sys.stderr)
        sys.exit(1)


def save_figure(fig, path: str, tight: bool = True) -> str:
    """Write ``fig`` as PNG via a temporary file renamed into place (no half-written files).

    ``tight=False`` skips the tight bounding box, a second full draw that costs seconds on a
    figure with thousands of artists (Taxi's 20 panels); such figures rely on constrained layout.
    """
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    handle, tmp_path = tempfile.mkstemp(suffix=".png", dir=folder)
    os.close(handle)
    try:
        fig.savefig(tmp_path, dpi=120, bbox_inches="tight" if tight else None)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)      # mkstemp creates 0600; a figure is for everyone
        os.replace(tmp_path, path)
    finally:
        if os.path.exists(tmp_path):
            os.remove(tmp_path)
        plt.close(fig)
    return path


def best_actions(q_values: np.ndarray, tolerance: float = 1e-9) -> np.ndarray:
    """(S, A) mask of the actions whose value is within ``tolerance`` of the best one."""
    scale = np.maximum(1.0, np.abs(q_values).max(axis=1, keepdims=True))
    return q_values >= q_values.max(axis=1, keepdims=True) - tolerance * scale


def draw_value_grid(ax, values: np.ndarray, *, arrows: np.ndarray | None = None,
                    action_directions: dict | None = None, action_letters: dict | None = None,
                    special_cells: dict | None = None, vmin=None, vmax=None, cmap="viridis",
                    value_format: str = "{:.1f}", fontsize: int = 9, title: str = ""):
    """Heatmap of a (rows, cols) ``values`` grid with value labels and greedy-action arrows.

    arrows:            (rows, cols, A) bool, the actions to draw in each cell (e.g. ``best_actions``).
    action_directions: action -> (dx, dy) for moves; action_letters: action -> letter for the rest
                       (Taxi's pick-up and drop-off).
    special_cells:     (row, col) -> (label, face colour): cells drawn as a flat colour with a label
                       and no value or arrows (holes, goals, terminal corners).
    Returns the image, for a colour bar.
    """
    n_rows, n_cols = values.shape
    image = ax.imshow(values, cmap=cmap, vmin=vmin, vmax=vmax)
    special_cells = special_cells or {}
    low, high = image.get_clim()
    for row in range(n_rows):
        for col in range(n_cols):
            if (row, col) in special_cells:
                label, colour = special_cells[(row, col)]
                ax.add_patch(plt.Rectangle((col - 0.5, row - 0.5), 1, 1, facecolor=colour, edgecolor="none"))
                ax.text(col, row, label, ha="center", va="center", fontsize=fontsize + 2,
                        fontweight="bold", color="white")
                continue
            # Dark text on the bright end of the colour map, white on the dark end.
            bright = (values[row, col] - low) / (high - low + 1e-12) > 0.6
            colour = "black" if bright else "white"
            ax.text(col, row + 0.32, value_format.format(values[row, col]), ha="center", va="center",
                    fontsize=fontsize, color=colour)
            if arrows is None:
                continue
            letters = []
            for action in np.flatnonzero(arrows[row, col]):
                if action_directions and action in action_directions:
                    dx, dy = action_directions[action]
                    # Arrows radiate from a point above the value label, as in S&B's figures.
                    ax.arrow(col + 0.04 * dx, row - 0.12 + 0.04 * dy, 0.22 * dx, 0.22 * dy,
                             head_width=0.09, head_length=0.08, length_includes_head=True,
                             color=colour, linewidth=1.2)
                elif action_letters and action in action_letters:
                    letters.append(action_letters[action])
            if letters:
                ax.text(col, row - 0.1, "".join(letters), ha="center", va="center",
                        fontsize=fontsize + 1, fontweight="bold", color=colour)
    ax.set_xticks(np.arange(n_cols))
    ax.set_yticks(np.arange(n_rows))
    ax.set_xticks(np.arange(-0.5, n_cols), minor=True)
    ax.set_yticks(np.arange(-0.5, n_rows), minor=True)
    ax.grid(which="minor", color="white", linewidth=1.5)
    ax.tick_params(which="minor", length=0)
    ax.set_xlabel("column")
    ax.set_ylabel("row")
    if title:
        ax.set_title(title)
    return image
