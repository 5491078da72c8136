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

    Rows are layers (bottom block first), columns are heads. Returns the Figure.
    """
    weights = np.asarray(weights)
    if weights.ndim == 3:
        weights = weights[None]
    if weights.ndim != 4:
        raise ValueError(f"weights must have shape (n_layers, h, n, n), got shape {weights.shape}")
    n_layers, n_heads, n, _ = weights.shape
    figsize = figsize or (1.6 * n_heads + 1, 1.6 * n_layers + 0.6)
    fig, axes = plt.subplots(n_layers, n_heads, figsize=figsize, squeeze=False)
    for layer in range(n_layers):
        for head in range(n_heads):
            ax = axes[layer, head]
            ax.imshow(weights[layer, head], cmap="viridis", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if layer == 0:
                ax.set_title(f"head {head}", fontsize=9)
            if head == 0:
                name = layer_names[layer] if layer_names else f"layer {layer}"
                ax.set_ylabel(name, fontsize=9)
    if labels is not None and n <= 12:
        ax = axes[-1, 0]
        ax.set_xticks(range(n), labels, rotation=90, fontsize=7)
        ax.set_yticks(range(n), labels, fontsize=7)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
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
    ("one_hot", "one-hot rows (n, V)", 1.3),
    ("embedding", "embedding (n, V) @ (V, d_model)", 2.2),
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
                       title: str | None = None):
    """Draw the encoder block from tokens to outputs, as in the paper's figure 1 (left).

    highlight: a stage key (or list of keys) from ``BLOCK_STAGES`` to colour strongly; the rest fade.
    shapes: optional {stage key: text} written on the arrow leaving that stage, e.g.
        {"attention": "(n, d_model)"}.
    Returns the Axes.
    """
    keys = [k for k, _, _ in BLOCK_STAGES]
    highlight = [highlight] if isinstance(highlight, str) else list(highlight or [])
    unknown = [h for h in highlight if h not in keys]
    if unknown:
        raise ValueError(f"unknown stage(s) {unknown}; choose from {keys}")
    shapes = shapes or {}
    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 7.2))
    ax.set_xlim(-3.4, 3.6)
    ax.set_ylim(-0.2, 9.0)
    ax.axis("off")
    width, height = 3.6, 0.55
    for key, label, y in BLOCK_STAGES:
        strong = not highlight or key in highlight
        box = FancyBboxPatch((-width / 2, y - height / 2), width, height,
                             boxstyle="round,pad=0.04,rounding_size=0.12",
                             facecolor=_COLOURS[key], edgecolor="black" if strong else "#bbbbbb",
                             linewidth=2.2 if key in highlight else 1.0, alpha=1.0 if strong else 0.35)
        ax.add_patch(box)
        ax.text(0, y, label, ha="center", va="center", fontsize=9.5,
                fontweight="bold" if key in highlight else "normal",
                color="black" if strong else "#999999")
    ys = [y for _, _, y in BLOCK_STAGES]
    for (key, _, y0), y1 in zip(BLOCK_STAGES[:-1], ys[1:]):
        ax.add_patch(FancyArrowPatch((0, y0 + height / 2), (0, y1 - height / 2),
                                     arrowstyle="-|>", mutation_scale=12, color="#444444"))
        if key in shapes:
            # White backing: the arrows into and out of the block cross the dashed frame.
            ax.text(-0.12, (y0 + y1) / 2, shapes[key], fontsize=8, va="center", ha="right", color="#1f4e99",
                    bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.5})
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
    # The repeated part: the block itself.
    frame = FancyBboxPatch((-width / 2 - 0.45, 3.75), width + 1.35, 4.0,
                           boxstyle="round,pad=0.05,rounding_size=0.2", fill=False,
                           linestyle="--", edgecolor="#555555")
    ax.add_patch(frame)
    ax.text(-width / 2 - 0.6, 5.75, n_layers_label, ha="right", va="center", fontsize=12)
    ax.text(-width / 2 - 0.6, 5.35, "encoder\nblock", ha="right", va="top", fontsize=8, color="#555555")
    if title:
        ax.set_title(title)
    return ax


# Alt text for every figure a notebook displays, from its titles (see helpers.alt_text). Outside
# IPython this does nothing.
from .alt_text import figure_alt_text, install_display_hook, set_alt_text  # noqa: E402

__all__ += ["figure_alt_text", "set_alt_text"]
install_display_hook()
