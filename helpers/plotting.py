"""Pictures used across the series: attention heatmaps, positional encodings, the block diagram.

Every function draws on an Axes (made if not given) and returns it; notebooks end the cell with
``plt.show()`` so no figure repr lands in the saved output.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

__all__ = [
    "attention_heatmap",
    "attention_grid",
    "positional_encoding_heatmap",
    "draw_encoder_block",
    "draw_paths_through_block",
    "draw_add_norm",
    "BLOCK_STAGES",
]


def attention_heatmap(weights, query_labels=None, key_labels=None, ax=None, title=None,
                      annotate: bool | None = None):
    """Heatmap of one head's weights (n_q, n_k): row = query token, column = key token."""
    weights = np.asarray(weights)
    if weights.ndim != 2:
        raise ValueError(f"weights must have shape (n_q, n_k), got shape {weights.shape}")
    n_q, n_k = weights.shape
    if ax is None:
        _, ax = plt.subplots(figsize=(1 + 0.5 * n_k, 1 + 0.45 * n_q))
    key_labels = query_labels if key_labels is None else key_labels
    image = ax.imshow(weights, cmap="viridis", vmin=0, vmax=1)
    ax.set_xticks(range(n_k), key_labels if key_labels is not None else range(n_k), rotation=90)
    ax.set_yticks(range(n_q), query_labels if query_labels is not None else range(n_q))
    ax.set_xlabel("key (attended to)")
    ax.set_ylabel("query (attending)")
    if annotate is None:
        annotate = max(n_q, n_k) <= 8
    if annotate:
        for i in range(n_q):
            for j in range(n_k):
                ax.text(j, i, f"{weights[i, j]:.2f}", ha="center", va="center",
                        color="white" if weights[i, j] < 0.6 else "black", fontsize=8)
    if title:
        ax.set_title(title)
    plt.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    return ax


def attention_grid(weights, labels=None, layer_names=None, figsize=None, suptitle=None):
    """Every layer's and head's weights: array (n_layers, h, n, n) -> a grid of heatmaps.

    Rows are layers (bottom block first), columns are heads. With ``labels`` (n token names, n <= 20)
    every panel of the bottom row names its keys and every panel of the left column its queries. One
    colour bar (0 to 1) serves every panel. Returns the Figure.
    """
    weights = np.asarray(weights)
    if weights.ndim == 3:
        weights = weights[None]
    if weights.ndim != 4:
        raise ValueError(f"weights must have shape (n_layers, h, n, n), got shape {weights.shape}")
    n_layers, n_heads, n, _ = weights.shape
    show_labels = labels is not None and n <= 20
    if labels is not None and len(labels) != n:
        raise ValueError(f"labels must name the n = {n} tokens, got {len(labels)}")
    tick_size = 7 if n <= 10 else 5.5
    # Wide enough for the panels and for a long suptitle (about 0.095 inch a character at 12 pt).
    width = max(1.6 * n_heads + 1.6 + (0.6 if show_labels else 0), 0.095 * len(suptitle or ""))
    figsize = figsize or (width, 1.6 * n_layers + 0.8 + (0.6 if show_labels else 0))
    # "compressed", not "constrained": it packs fixed-aspect images and keeps the colour bar beside them.
    fig, axes = plt.subplots(n_layers, n_heads, figsize=figsize, squeeze=False, layout="compressed")
    for layer in range(n_layers):
        for head in range(n_heads):
            ax = axes[layer, head]
            image = ax.imshow(weights[layer, head], cmap="viridis", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if layer == 0:
                ax.set_title(f"head {head}", fontsize=9)
            if head == 0:
                name = layer_names[layer] if layer_names else f"layer {layer}"
                ax.set_ylabel(name, fontsize=9)
                if show_labels:
                    ax.set_yticks(range(n), labels, fontsize=tick_size)
            if show_labels and layer == n_layers - 1:
                ax.set_xticks(range(n), labels, rotation=90, fontsize=tick_size)
    fig.colorbar(image, ax=axes, fraction=0.025, pad=0.01, label="attention weight")
    if suptitle:
        fig.suptitle(suptitle)
    return fig


def positional_encoding_heatmap(pe, ax=None, title="Sinusoidal positional encoding"):
    """Heatmap of a (n_positions, d_model) encoding: rows are positions, columns are features."""
    pe = np.asarray(pe)
    if pe.ndim != 2:
        raise ValueError(f"pe must have shape (n_positions, d_model), got shape {pe.shape}")
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 4))
    image = ax.imshow(pe, cmap="RdBu", vmin=-1, vmax=1, aspect="auto", interpolation="nearest")
    ax.set_xlabel("feature i (0 .. d_model-1): low i = fast waves, high i = slow waves")
    ax.set_ylabel("position pos")
    ax.set_title(title)
    plt.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    return ax


# (key, label, y centre) from bottom to top; keys are what ``highlight`` accepts.
BLOCK_STAGES = (
    ("tokens", "tokens x1 .. xn  (+ mask)", 0.4),
    ("one_hot", "one-hot rows (n, vocab_size)", 1.3),
    ("embedding", "embedding: one-hot @ table", 2.2),
    ("positional", "+ positional encoding", 3.1),
    ("attention", "multi-head self-attention", 4.3),
    ("add_norm_1", "add & layer norm", 5.2),
    ("feed_forward", "position-wise feed-forward", 6.4),
    ("add_norm_2", "add & layer norm", 7.3),
    ("output", "contextual embeddings (n, d_model)", 8.4),
)

_COLOURS = {
    "tokens": "#eeeeee", "one_hot": "#eeeeee", "embedding": "#fde3c8", "positional": "#fde3c8",
    "attention": "#f9d0c4", "add_norm_1": "#fff2b3", "feed_forward": "#c9e4f6",
    "add_norm_2": "#fff2b3", "output": "#eeeeee",
}


def draw_encoder_block(highlight=None, shapes: dict | None = None, ax=None, n_layers_label: str = "N×",
                       title: str | None = None, labels: dict | None = None, pooling: str | None = None):
    """Draw the encoder block from tokens to outputs, as in the paper's figure 1 (left).

    highlight: a stage key (or list of keys) from ``BLOCK_STAGES`` to colour strongly; the rest fade.
    shapes: optional {stage key: text} written on the arrow leaving that stage, e.g.
        {"attention": "(n, d_model)"}.
    labels: optional {stage key: text} replacing a box's label, e.g. {"attention": "self-attention (one head)"}.
    pooling: optional label of one more box above the output (e.g. a sentence encoder's mean pooling);
        highlight it with the key "pooling".
    Returns the Axes.
    """
    stages = list(BLOCK_STAGES)
    if pooling is not None:
        stages.append(("pooling", pooling, 9.5))
    keys = [k for k, _, _ in stages]
    highlight = [highlight] if isinstance(highlight, str) else list(highlight or [])
    labels = labels or {}
    unknown = [h for h in [*highlight, *labels] if h not in keys]
    if unknown:
        raise ValueError(f"unknown stage(s) {unknown}; choose from {keys}")
    shapes = shapes or {}
    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 7.2 if pooling is None else 8.0))
    ax.set_xlim(-3.4, 3.6)
    ax.set_ylim(-0.2, 9.0 if pooling is None else 10.1)
    ax.axis("off")
    width, height = 3.6, 0.55
    # The repeated part, the block itself: a dashed frame from below attention to above add & norm 2.
    frame_bottom, frame_top = 3.70, 7.80
    for key, label, y in stages:
        strong = not highlight or key in highlight
        box = FancyBboxPatch((-width / 2, y - height / 2), width, height,
                             boxstyle="round,pad=0.04,rounding_size=0.12",
                             facecolor=_COLOURS.get(key, "#e3e3f3"), edgecolor="black" if strong else "#bbbbbb",
                             linewidth=2.2 if key in highlight else 1.0, alpha=1.0 if strong else 0.35)
        ax.add_patch(box)
        ax.text(0, y, labels.get(key, label), ha="center", va="center", fontsize=9.5,
                fontweight="bold" if key in highlight else "normal",
                color="black" if strong else "#999999")
    ys = [y for _, _, y in stages]
    for (key, _, y0), y1 in zip(stages[:-1], ys[1:]):
        start, end = y0 + height / 2, y1 - height / 2
        ax.add_patch(FancyArrowPatch((0, start), (0, end),
                                     arrowstyle="-|>", mutation_scale=12, color="#444444"))
        if key in shapes:
            # An arrow that crosses the dashed frame gets its label on the part outside the frame,
            # so the frame's line never runs through the text.
            if start < frame_bottom < end:
                end = frame_bottom
            elif start < frame_top < end:
                start = frame_top
            ax.text(-0.12, (start + end) / 2, shapes[key], fontsize=8, va="center", ha="right", color="#1f4e99",
                    zorder=5, bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.5})
    # Residual connections: from below each sub-layer around it into its add & norm.
    for tap_y, end_y in ((3.9, 5.2), (5.8, 7.3)):
        x_side = width / 2 + 0.35
        ax.add_patch(FancyArrowPatch((0, tap_y), (x_side, tap_y),
                                     arrowstyle="-", color="#777777"))
        ax.add_patch(FancyArrowPatch((x_side, tap_y), (x_side, end_y),
                                     arrowstyle="-", color="#777777"))
        ax.add_patch(FancyArrowPatch((x_side, end_y), (width / 2, end_y),
                                     arrowstyle="-|>", mutation_scale=10, color="#777777"))
    ax.text(width / 2 + 0.45, 4.8, "residual", rotation=90, fontsize=8, color="#777777", va="center")
    ax.text(width / 2 + 0.45, 6.5, "residual", rotation=90, fontsize=8, color="#777777", va="center")
    frame = FancyBboxPatch((-width / 2 - 0.45, frame_bottom + 0.05), width + 1.35, frame_top - frame_bottom - 0.1,
                           boxstyle="round,pad=0.05,rounding_size=0.2", fill=False,
                           linestyle="--", edgecolor="#555555")
    ax.add_patch(frame)
    ax.text(-width / 2 - 0.6, 5.75, n_layers_label, ha="right", va="center", fontsize=12)
    ax.text(-width / 2 - 0.6, 5.35, "encoder\nblock", ha="right", va="top", fontsize=8, color="#555555")
    if title:
        ax.set_title(title)
    return ax


def _box(ax, x, y, w, h, text, colour, fontsize=9.5, **kw):
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.03,rounding_size=0.1",
                                facecolor=colour, edgecolor="black", linewidth=1.0))
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize, **kw)


def _arrow(ax, start, end, colour="#444444", **kw):
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=11, color=colour,
                                 shrinkA=0, shrinkB=0, **kw))


def draw_paths_through_block(words=("x1", "x2", "x3"), ax=None, title=None):
    """One encoder block as each word's own path, bottom to top (after The Illustrated Transformer).

    Every word's vector rises through ONE shared self-attention layer, where the paths depend on each
    other (every output z_i reads every input x_j: the crossing arrows), then through its own copy of
    the SAME feed-forward network, where the paths are independent (parallel arrows), so they can run
    in parallel. words: the labels of the n inputs (n >= 1). Returns the Axes.
    """
    words = list(words)
    if not words:
        raise ValueError("words must name at least one input, got an empty sequence")
    n = len(words)
    if ax is None:
        _, ax = plt.subplots(figsize=(2.2 * n + 3.2, 6.2))
    xs = 2.0 * (np.arange(n) - (n - 1) / 2)                     # one column per word
    half = xs[-1] + 1.0
    ax.set_xlim(-half - 0.2, half + 3.6)
    ax.set_ylim(-0.5, 7.4)
    ax.axis("off")
    y_in, y_att, y_z, y_ffn, y_out = 0.2, 2.0, 3.7, 5.0, 6.6
    for i, x in enumerate(xs):
        _box(ax, x, y_in, 1.2, 0.6, words[i], _COLOURS["embedding"])
        _box(ax, x, y_z, 1.2, 0.5, f"z{i + 1}", "#ffffff", fontsize=9)
        _box(ax, x, y_ffn, 1.6, 0.75, "feed-forward\n(same weights)", _COLOURS["feed_forward"], fontsize=8.5)
        _box(ax, x, y_out, 1.2, 0.6, f"r{i + 1}", "#eeeeee")
        _arrow(ax, (x, y_z + 0.25), (x, y_ffn - 0.375))          # z_i into its own copy
        _arrow(ax, (x, y_ffn + 0.375), (x, y_out - 0.3))
    # One shared attention layer, drawn as a wide box the paths cross.
    ax.add_patch(FancyBboxPatch((-half, y_att - 0.45), 2 * half, 0.9, boxstyle="round,pad=0.03,rounding_size=0.12",
                                facecolor=_COLOURS["attention"], edgecolor="black", linewidth=1.0, zorder=0.5))
    # The layer's name sits beside the box, where no arrow crosses it.
    ax.text(half + 0.3, y_att + 0.55, "self-attention\n(one layer, shared)", ha="left", va="center",
            fontsize=9)
    for x_from in xs:
        for x_to in xs:
            _arrow(ax, (x_from, y_in + 0.3), (x_to, y_z - 0.25),
                   colour="#444444" if x_from == x_to else "#b0413e", linewidth=1.0 if x_from == x_to else 0.8)
    note = {"fontsize": 8.5, "color": "#555555", "ha": "left", "va": "center"}
    ax.text(half + 0.3, y_att - 0.35, "dependent paths:\nevery z_i is computed\nfrom every x_j", **note)
    ax.text(half + 0.3, y_ffn, "independent paths:\neach z_i alone, the same\nnetwork: can run in parallel",
            **note)
    if title:
        ax.set_title(title)
    return ax


def draw_add_norm(x, z, words=None, ax=None, title=None, colorbar=True):
    """The add & norm step as vectors, after The Illustrated Transformer's figure: X -> self-attention
    -> Z, the residual arrows carrying X around the sub-layer, and LayerNorm(X + Z) on top.

    x, z: (n, d) arrays, the sub-layer's input and output for n tokens (n <= 4 reads best, d <= 12);
    each vector is drawn as a strip of d cells coloured by value, on one scale shared by every strip
    (shown by a colour bar unless colorbar=False). The top row is computed here as the layer norm of
    x + z with gamma = 1, beta = 0 (eps 1e-5). Returns the Axes.
    """
    from helpers.layers import layer_norm     # local: plotting stays importable on its own

    x, z = np.asarray(x, dtype=float), np.asarray(z, dtype=float)
    if x.ndim != 2 or x.shape != z.shape:
        raise ValueError(f"x and z must have the same shape (n, d), got shapes {x.shape} and {z.shape}")
    n, d = x.shape
    words = list(words) if words is not None else [f"{i + 1}" for i in range(n)]
    if len(words) != n:
        raise ValueError(f"words must have one label per row of x, i.e. {n}, got {len(words)}")
    out = layer_norm(x + z, np.ones(d), np.zeros(d))
    if ax is None:
        _, ax = plt.subplots(figsize=(3.2 * n + 1.6, 6.4))
    cell = 0.22
    span = d * cell
    xs = (span + 1.4) * (np.arange(n) - (n - 1) / 2)
    half = xs[-1] + span / 2 + 1.3
    ax.set_xlim(-half - 0.3, half + 0.3)
    ax.set_ylim(-0.6, 6.6)
    ax.axis("off")
    vmax = max(np.abs(x).max(), np.abs(z).max(), np.abs(out).max(), 1e-12)
    cmap = plt.get_cmap("RdBu_r")
    y_x, y_att, y_z, y_norm, y_out = 0.0, 1.35, 2.7, 4.05, 5.4

    def strip(x_centre, y, row, name, above=False):
        for j, value in enumerate(row):
            ax.add_patch(plt.Rectangle((x_centre - span / 2 + j * cell, y - cell / 2), cell, cell,
                                       facecolor=cmap(0.5 + 0.5 * value / vmax), edgecolor="#666666",
                                       linewidth=0.5))
        # The name sits beside the strip's right end, clear of the arrows and the residual lines.
        ax.text(x_centre + 0.1, y + (cell / 2 + 0.05 if above else -cell / 2 - 0.05), name, ha="left",
                va="bottom" if above else "top", fontsize=9.5)

    left_edge, right_edge = xs[0] - span / 2 - 0.15, xs[-1] + span / 2 + 0.15
    for i, xc in enumerate(xs):
        sub = words[i] if words[i].isdigit() else "{" + words[i] + "}"
        strip(xc, y_x, x[i], f"$x_{sub}$")
        strip(xc, y_z, z[i], f"$z_{sub}$")
        strip(xc, y_out, out[i], f"LN($x_{sub}$ + $z_{sub}$)", above=True)
        _arrow(ax, (xc, y_x + cell / 2), (xc, y_att - 0.35))
        _arrow(ax, (xc, y_att + 0.35), (xc, y_z - cell / 2))
        _arrow(ax, (xc, y_z + cell / 2), (xc, y_norm - 0.4))
        _arrow(ax, (xc, y_norm + 0.4), (xc, y_out - cell / 2))
        # The residual: x_i goes around the sub-layer, straight into the add. Tokens in the left half
        # go round the left side, the others the right side; a middle token's path crosses the box.
        left = i < (n - 1) / 2
        edge = xc - span / 2 if left else xc + span / 2
        side = edge - 0.35 if left else edge + 0.35
        ax.plot([edge, side, side], [y_x, y_x, y_norm - 0.45], color="#777777", linewidth=1.2, zorder=3)
        _arrow(ax, (side, y_norm - 0.45), (side, y_norm - 0.4), colour="#777777", zorder=3)
        ax.text(side + (-0.08 if left else 0.08), (y_x + y_norm) / 2, "residual", rotation=90, fontsize=7.5,
                color="#777777", va="center", ha="right" if left else "left")
    ax.add_patch(FancyBboxPatch((left_edge, y_att - 0.35), right_edge - left_edge, 0.7,
                                boxstyle="round,pad=0.03,rounding_size=0.12",
                                facecolor=_COLOURS["attention"], edgecolor="black", linewidth=1.0))
    ax.text(0, y_att, "self-attention\n(every z reads every x)", ha="center", va="center", fontsize=9)
    ax.add_patch(FancyBboxPatch((-half + 0.1, y_norm - 0.4), 2 * half - 0.2, 0.8,
                                boxstyle="round,pad=0.03,rounding_size=0.12",
                                facecolor=_COLOURS["add_norm_1"], edgecolor="black", linewidth=1.0))
    ax.text(0, y_norm + 0.12, "add & normalise:  LayerNorm(x + z)", ha="center", va="center", fontsize=9.5)
    ax.text(0, y_norm - 0.17, "each token on its own: mean 0, std 1", ha="center", va="center", fontsize=7.5,
            color="#555555")
    if colorbar:
        scale = plt.cm.ScalarMappable(norm=plt.Normalize(-vmax, vmax), cmap=cmap)
        ax.figure.colorbar(scale, ax=ax, shrink=0.6, pad=0.02, label="value of a feature")
    if title:
        ax.set_title(title)
    return ax


# Alt text for every figure a notebook displays, from its titles (see helpers.alt_text). Outside
# IPython this does nothing.
from .alt_text import figure_alt_text, install_display_hook, set_alt_text  # noqa: E402

__all__ += ["figure_alt_text", "set_alt_text"]
install_display_hook()
