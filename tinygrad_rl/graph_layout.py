"""Drawing a graph with matplotlib alone: a layered (Sugiyama-style) layout and its rendering.

Imported only by :func:`tinygrad_rl.graph.draw`, so the engine itself never imports matplotlib.

The layout is the classic one for data-flow graphs (Sugiyama, Tagawa & Toda 1981):
1. ranks: an op sits one row below its lowest parent; a leaf sits right above its first use;
2. an edge that spans several rows gets a virtual point on every row it crosses;
3. each row is ordered by the barycentre of its neighbours, sweeping down and up, keeping the
   order with the fewest crossings;
4. x positions: every node is pulled to the mean x of its neighbours, and each row is then the
   closest placement (least squares) that keeps its order and the minimum gaps, which is an
   isotonic regression solved exactly by pool-adjacent-violators.
"""
from __future__ import annotations

from typing import Any

import numpy as np

CHAR_WIDTH = 0.068      # inches per character at FONT_SIZE (DejaVu Sans, a little generous)
LINE_HEIGHT = 0.16      # inches per text line
FONT_SIZE = 8.5
GAP = 0.28              # minimum horizontal space between boxes, inches
ROW_GAP = 0.5           # vertical space between rows (room for the shape labels), inches
VIRTUAL_WIDTH = 0.12    # width reserved for an edge passing through a row

STYLE = {  # kind: (face colour, edge colour, legend text)
    "parameter": ("#c7e9c0", "#31a354", "parameter (trained)"),
    "constant": ("#f0f0f0", "#969696", "constant (no gradient)"),
    "op": ("#deebf7", "#3182bd", "op"),
    "term": ("#efedf5", "#756bb1", "named term"),
    "root": ("#fdd0a2", "#e6550d", "output (loss)"),
}


def _sizes(drawn: list) -> tuple[np.ndarray, np.ndarray]:
    widths = np.array([max(len(line) for line in node["lines"]) * CHAR_WIDTH + 0.22 for node in drawn])
    heights = np.array([len(node["lines"]) * LINE_HEIGHT + 0.14 for node in drawn])
    return widths, heights


def _inputs(n: int, edges: list) -> list[list[int]]:
    """For every node, its parents in argument order (an input used twice appears twice)."""
    inputs: list[list[int]] = [[] for _ in range(n)]
    for p, c, _ in edges:
        inputs[c].append(p)
    return inputs


def _ranks(n: int, edges: list) -> list[int]:
    parents = [[] for _ in range(n)]
    children = [[] for _ in range(n)]
    for p, c, _ in edges:
        parents[c].append(p)
        children[p].append(c)
    rank = [0] * n
    for v in range(n):  # the drawn nodes are in topological order
        if parents[v]:
            rank[v] = 1 + max(rank[p] for p in parents[v])
    for v in range(n):
        if not parents[v] and children[v]:
            rank[v] = min(rank[c] for c in children[v]) - 1
    return rank


def _isotonic(target: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """The non-decreasing sequence closest to ``target`` in weighted least squares (pool adjacent
    violators): where a row must spread out, the heavy nodes keep their place and the light move."""
    blocks: list[list[float]] = []  # [weighted mean, total weight, count]
    for value, w in zip(target, weight):
        blocks.append([float(value), float(w), 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            m2, w2, c2 = blocks.pop()
            m1, w1, c1 = blocks.pop()
            blocks.append([(m1 * w1 + m2 * w2) / (w1 + w2), w1 + w2, c1 + c2])
    return np.concatenate([np.full(count, mean) for mean, _, count in blocks])


def _crossings(layers: list, up: list, slot: dict) -> int:
    """Edge crossings between consecutive rows; edges into one node count as crossing when they
    arrive in the wrong order of the node's inputs (``slot``: the input's place, left to right)."""
    total = 0
    for r in range(1, len(layers)):
        pos = {v: i for i, v in enumerate(layers[r - 1])}
        pairs = [(i + slot.get((u, v), 0.0), pos[u]) for i, v in enumerate(layers[r]) for u in up[v]]
        for a in range(len(pairs)):
            for b in range(a + 1, len(pairs)):
                if (pairs[a][0] - pairs[b][0]) * (pairs[a][1] - pairs[b][1]) < 0:
                    total += 1
    return total


def layout(drawn: list, edges: list) -> tuple:
    """Positions (inches) of the drawn nodes, and for every edge the points it passes through."""
    n = len(drawn)
    widths, heights = _sizes(drawn)
    rank = _ranks(n, edges)
    # Virtual vertices: ids n, n+1, ... on the rows a long edge crosses.
    v_rank, v_width, v_key = list(rank), list(widths), [float(i) for i in range(n)]
    # Leaves (and the edges leaving them) follow the ops; ops follow each other, so the chain of
    # ops reads as a straight spine with its parameters beside it.
    has_parent = {c for _, c, _ in edges}
    follower = [v not in has_parent for v in range(n)]
    up: list[list[int]] = [[] for _ in range(n)]
    down: list[list[int]] = [[] for _ in range(n)]
    routes, slot = [], {}
    inputs = _inputs(n, edges)
    for p, c, _ in edges:
        chain = [p]
        for r in range(rank[p] + 1, rank[c]):
            v = len(v_rank)
            v_rank.append(r)
            v_width.append(VIRTUAL_WIDTH)
            v_key.append(p + 0.5)
            follower.append(follower[p])
            up.append([])
            down.append([])
            chain.append(v)
        chain.append(c)
        slot[(chain[-2], c)] = 0.01 * (inputs[c].index(p) - (len(inputs[c]) - 1) / 2)
        for a, b in zip(chain[:-1], chain[1:]):
            down[a].append(b)
            up[b].append(a)
        routes.append(chain)
    total = len(v_rank)
    n_rows = max(v_rank) + 1 if total else 0
    layers = [sorted((v for v in range(total) if v_rank[v] == r), key=lambda v: v_key[v]) for r in range(n_rows)]

    # Barycentre ordering, keeping the order with the fewest crossings.
    best, best_crossings = [list(layer) for layer in layers], _crossings(layers, up, slot)
    for sweep in range(16):
        rows = range(1, n_rows) if sweep % 2 == 0 else range(n_rows - 2, -1, -1)
        for r in rows:
            neighbour_row = layers[r - 1] if sweep % 2 == 0 else layers[r + 1]
            pos = {v: i for i, v in enumerate(neighbour_row)}
            own = {v: i for i, v in enumerate(layers[r])}
            links = up if sweep % 2 == 0 else down

            def key(v: int) -> tuple:
                if sweep % 2 == 0:
                    linked = [pos[u] for u in links[v] if u in pos]
                else:  # towards the inputs' order of the node below
                    linked = [pos[u] + slot.get((v, u), 0.0) for u in links[v] if u in pos]
                return (np.mean(linked) if linked else own[v], own[v])
            layers[r] = sorted(layers[r], key=key)
        crossings = _crossings(layers, up, slot)
        if crossings < best_crossings:
            best, best_crossings = [list(layer) for layer in layers], crossings
    layers = best

    # x: pull towards the neighbours, then the closest placement that keeps order and gaps.
    x = np.zeros(total)
    for layer in layers:
        offset = 0.0
        for v in layer:
            x[v] = offset + v_width[v] / 2
            offset += v_width[v] + GAP
        x[layer] -= offset / 2
    def pull(v: int) -> float:
        linked = up[v] + down[v]
        if not linked:
            return x[v]
        weights = np.array([0.0 if follower[u] and not follower[v] else 1.0 for u in linked])
        if not weights.any():
            weights[:] = 1.0
        return float(np.dot(weights, x[linked]) / weights.sum())

    for _ in range(60):
        for layer in layers:
            target = np.array([pull(v) for v in layer])
            # Minimum offsets between consecutive members of the row.
            spacing = np.concatenate([[0.0], np.cumsum([(v_width[a] + v_width[b]) / 2 + GAP
                                                         for a, b in zip(layer[:-1], layer[1:])])])
            weight = np.array([0.01 if follower[v] else 1.0 for v in layer])
            x[layer] = _isotonic(target - spacing, weight) + spacing
    # y: rows from the top, each as tall as its tallest box.
    row_height = [max([heights[v] for v in layer if v < n] + [0.2]) for layer in layers]
    row_y = np.concatenate([[0.0], -np.cumsum([h + ROW_GAP for h in row_height])])[:-1] - np.array(row_height) / 2
    y = np.array([row_y[v_rank[v]] for v in range(total)])
    left = min(x[v] - v_width[v] / 2 for v in range(total))
    x -= left
    return x, y, widths, heights, routes


def render(drawn: list, edges: list, file: Any, fmt: str, title: str | None = None) -> None:
    """Draw the laid-out graph into ``file`` (a path or a binary file object) in format ``fmt``."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch, Patch

    x, y, widths, heights, routes = layout(drawn, edges)
    n = len(drawn)
    inputs = _inputs(n, edges)
    width = max(x[v] + widths[v] / 2 for v in range(n)) + 0.2 if n else 1.0
    top, bottom = 0.0, min(y[v] - heights[v] / 2 for v in range(n)) if n else -1.0
    header = 0.75 if title else 0.45
    fig_w, fig_h = max(width + 0.4, 5.0), (top - bottom) + header + 0.3
    fig = plt.figure(figsize=(fig_w, fig_h))
    ax = fig.add_axes([0, 0, 1, 1])
    ax.set_xlim(-(fig_w - width) / 2, width + (fig_w - width) / 2)
    ax.set_ylim(bottom - 0.3, top + header)
    ax.set_axis_off()

    for (p, c, shape), chain in zip(edges, routes):
        k = len(inputs[c])
        slot = inputs[c].index(p) if k > 1 else 0
        spread = min(widths[c] / (k + 1), 0.35)
        end = (x[c] + (slot - (k - 1) / 2) * spread, y[c] + heights[c] / 2)
        points = [(x[p], y[p] - heights[p] / 2)] + [(x[v], y[v]) for v in chain[1:-1]] + [end]
        xs, ys = zip(*points)
        ax.plot(xs[:-1], ys[:-1], color="#7a7a7a", lw=0.9, zorder=1, solid_capstyle="round")
        ax.annotate("", xy=points[-1], xytext=points[-2], zorder=1,
                    arrowprops=dict(arrowstyle="-|>", color="#7a7a7a", lw=0.9, shrinkA=0, shrinkB=0,
                                    mutation_scale=9))
    labelled = set()
    for p, c, shape in edges:  # one shape label per tensor, just below the box that holds it
        if p in labelled:
            continue
        labelled.add(p)
        ax.text(x[p], y[p] - heights[p] / 2 - 0.13, shape, ha="center", va="center", fontsize=6.8,
                color="#444444", zorder=3, bbox=dict(boxstyle="round,pad=0.12", fc="white", ec="none", alpha=0.9))

    for v, node in enumerate(drawn):
        face, edge, _ = STYLE[node["kind"]]
        w, h = widths[v], heights[v]
        rounding = h / 2 if node["kind"] in ("op", "term", "root") else 0.06
        ax.add_patch(FancyBboxPatch((x[v] - w / 2, y[v] - h / 2), w, h, zorder=2,
                                    boxstyle=f"round,pad=0,rounding_size={rounding}",
                                    fc=face, ec=edge, lw=1.6 if node["kind"] == "root" else 1.0))
        lines = node["lines"]
        first_y = y[v] + (len(lines) - 1) * LINE_HEIGHT / 2
        for i, line in enumerate(lines):
            ax.text(x[v], first_y - i * LINE_HEIGHT, line, ha="center", va="center", zorder=4,
                    fontsize=FONT_SIZE if i == 0 else FONT_SIZE - 1,
                    fontweight="bold" if i == 0 else "normal",
                    color="#222222" if i == 0 else "#444444")

    kinds = [k for k in STYLE if any(node["kind"] == k for node in drawn)]
    handles = [Patch(fc=STYLE[k][0], ec=STYLE[k][1], label=STYLE[k][2]) for k in kinds]
    legend_y = top + header - (0.45 if title else 0.05)
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(width / 2, legend_y), bbox_transform=ax.transData,
              ncol=len(handles), fontsize=7.5, frameon=False, handlelength=1.4, columnspacing=1.2)
    if title:
        ax.text(width / 2, top + header - 0.2, title, ha="center", va="center", fontsize=10.5, fontweight="bold")
    fig.savefig(file, format=fmt, dpi=130)
    plt.close(fig)
