"""helpers.plotting under the Agg backend: what each picture contains, and its input checks."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from helpers import plotting  # noqa: E402
from helpers.attention import softmax  # noqa: E402
from helpers.embeddings import sinusoidal_positional_encoding  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def random_weights(rng, *shape):
    return softmax(rng.normal(size=shape))


def test_attention_heatmap_draws_one_image_of_the_weights(rng):
    w = random_weights(rng, 3, 4)
    ax = plotting.attention_heatmap(w, query_labels=["a", "b", "c"], key_labels=["w", "x", "y", "z"], title="T")
    assert isinstance(ax, Axes)
    assert len(ax.images) == 1
    np.testing.assert_array_equal(ax.images[0].get_array(), w)
    assert ax.images[0].get_clim() == (0, 1)                     # weights are probabilities
    assert [t.get_text() for t in ax.get_xticklabels()] == ["w", "x", "y", "z"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b", "c"]
    assert ax.get_title() == "T"
    # Small maps are annotated: one number per cell, the weight rounded to 2 places.
    assert sorted(t.get_text() for t in ax.texts) == sorted(f"{v:.2f}" for v in w.ravel())
    assert len(ax.figure.axes) == 2                               # the heatmap and its colorbar


def test_attention_heatmap_annotation_and_given_axes(rng):
    fig, ax = plt.subplots(figsize=(3, 3))
    square = random_weights(rng, 4, 4)
    out = plotting.attention_heatmap(square, query_labels=list("abcd"), ax=ax, annotate=False)
    assert out is ax and not ax.texts
    assert [t.get_text() for t in ax.get_xticklabels()] == list("abcd")   # keys default to the query labels
    big = plotting.attention_heatmap(random_weights(rng, 10, 10))
    assert not big.texts and len(big.images) == 1


@pytest.mark.parametrize("shape", [(4,), (2, 3, 3)])
def test_attention_heatmap_rejects_non_2d(shape):
    with pytest.raises(ValueError, match=rf"weights must have shape \(n_q, n_k\), got shape \({shape[0]},"):
        plotting.attention_heatmap(np.zeros(shape))


def _panels(fig):
    """The heatmap panels of a grid, without its colour bar."""
    return [ax for ax in fig.axes if ax.images]


def test_attention_grid_has_one_image_per_layer_and_head(rng):
    w = random_weights(rng, 2, 3, 5, 5)
    fig = plotting.attention_grid(w, labels=list("abcde"), layer_names=["bottom", "top"], suptitle="S")
    assert isinstance(fig, Figure)
    panels = _panels(fig)
    assert len(panels) == 6 and len(fig.axes) == 7                # six heatmaps and one colour bar
    for i, ax in enumerate(panels):
        layer, head = divmod(i, 3)
        assert len(ax.images) == 1
        np.testing.assert_array_equal(ax.images[0].get_array(), w[layer, head])
        assert ax.images[0].get_clim() == (0, 1)                   # one scale, so one colour bar fits all
    assert [panels[3 * layer].get_ylabel() for layer in range(2)] == ["bottom", "top"]
    assert [panels[h].get_title() for h in range(3)] == ["head 0", "head 1", "head 2"]
    # Keys named under every bottom panel, queries beside every left panel.
    for ax in panels[3:]:
        assert [t.get_text() for t in ax.get_xticklabels()] == list("abcde")
    for ax in (panels[0], panels[3]):
        assert [t.get_text() for t in ax.get_yticklabels()] == list("abcde")
    assert not panels[1].get_xticklabels() and not panels[4].get_yticklabels()
    assert fig.get_suptitle() == "S"
    colour_bar = [ax for ax in fig.axes if not ax.images]
    assert colour_bar[0].get_ylabel() == "attention weight"


def test_attention_grid_accepts_one_layer_and_rejects_bad_shapes(rng):
    fig = plotting.attention_grid(random_weights(rng, 4, 3, 3))   # (h, n, n): one layer
    panels = _panels(fig)
    assert len(panels) == 4 and all(len(ax.images) == 1 for ax in panels)
    assert panels[0].get_ylabel() == "layer 0"
    with pytest.raises(ValueError, match=r"weights must have shape \(n_layers, h, n, n\), got shape \(3, 3\)"):
        plotting.attention_grid(np.zeros((3, 3)))
    with pytest.raises(ValueError, match=r"labels must name the n = 3 tokens, got 2"):
        plotting.attention_grid(random_weights(rng, 4, 3, 3), labels=["a", "b"])


def test_positional_encoding_heatmap(rng):
    pe = sinusoidal_positional_encoding(20, 16)
    ax = plotting.positional_encoding_heatmap(pe)
    assert isinstance(ax, Axes) and len(ax.images) == 1
    np.testing.assert_array_equal(ax.images[0].get_array(), pe)
    assert ax.get_title() == "Sinusoidal positional encoding"
    fig, given = plt.subplots(figsize=(4, 3))
    assert plotting.positional_encoding_heatmap(pe, ax=given, title="PE") is given and given.get_title() == "PE"
    with pytest.raises(ValueError, match=r"pe must have shape \(n_positions, d_model\), got shape \(2, 3, 4\)"):
        plotting.positional_encoding_heatmap(np.zeros((2, 3, 4)))


def _labels(ax):
    return {t.get_text(): t for t in ax.texts}


def test_draw_encoder_block_draws_every_stage():
    ax = plotting.draw_encoder_block(title="Block")
    assert isinstance(ax, Axes) and ax.get_title() == "Block"
    labels = _labels(ax)
    for _, label, _ in plotting.BLOCK_STAGES:
        assert label in labels
        assert labels[label].get_fontweight() == "normal"       # nothing highlighted
    assert len(ax.patches) >= len(plotting.BLOCK_STAGES) + len(plotting.BLOCK_STAGES) - 1  # boxes and arrows


@pytest.mark.parametrize("highlight", ["attention", ["add_norm_1", "add_norm_2"]])
def test_draw_encoder_block_highlights_stages(highlight):
    ax = plotting.draw_encoder_block(highlight=highlight, shapes={"attention": "(n, d_model)"})
    wanted = {highlight} if isinstance(highlight, str) else set(highlight)
    for key, label, _ in plotting.BLOCK_STAGES:
        texts = [t for t in ax.texts if t.get_text() == label]
        bold = [t.get_fontweight() == "bold" for t in texts]
        assert any(bold) == (key in wanted), key
    assert "(n, d_model)" in _labels(ax)


def test_draw_encoder_block_rejects_unknown_stages():
    with pytest.raises(ValueError, match=r"unknown stage\(s\) \['decoder'\]; choose from \['tokens', 'one_hot'"):
        plotting.draw_encoder_block(highlight="decoder")
    with pytest.raises(ValueError, match=r"unknown stage\(s\) \['ffn'\]"):
        plotting.draw_encoder_block(highlight=["attention", "ffn"])


def test_draw_encoder_block_on_a_given_axes():
    fig, ax = plt.subplots(figsize=(4, 5))
    assert plotting.draw_encoder_block(ax=ax, n_layers_label="6×") is ax
    assert "6×" in _labels(ax)


def _frame(ax):
    """The dashed frame of the block diagram (the one patch drawn with a dashed line)."""
    frames = [p for p in ax.patches if p.get_linestyle() in ("--", "dashed")]
    assert len(frames) == 1
    return frames[0].get_bbox()


ALL_SHAPES = {key: f"shape of {key}" for key, _, _ in plotting.BLOCK_STAGES[:-1]}


@pytest.mark.parametrize("pooling", [None, "mean pooling"])
def test_draw_encoder_block_keeps_shape_labels_off_the_dashed_frame(pooling):
    ax = plotting.draw_encoder_block(shapes=ALL_SHAPES, pooling=pooling)
    frame = _frame(ax)
    labels = _labels(ax)
    for text in ALL_SHAPES.values():
        y = labels[text].get_position()[1]
        # A label is 8 pt high, about 0.15 data units here: 0.12 from its centre keeps the line off it.
        assert min(abs(y - frame.y0), abs(y - frame.y1)) > 0.12, (text, y, frame)


def test_draw_encoder_block_relabels_stages_and_adds_a_pooling_step():
    ax = plotting.draw_encoder_block(highlight="pooling", pooling="mean pooling (B, 384)",
                                     labels={"positional": "+ learned positions, layer norm"})
    labels = _labels(ax)
    assert "+ learned positions, layer norm" in labels and "+ positional encoding" not in labels
    assert labels["mean pooling (B, 384)"].get_fontweight() == "bold"
    assert labels["position-wise feed-forward"].get_fontweight() == "normal"
    with pytest.raises(ValueError, match=r"unknown stage\(s\) \['pooling'\]"):
        plotting.draw_encoder_block(labels={"pooling": "no pooling box without pooling="})


def _arrows(ax):
    from matplotlib.patches import FancyArrowPatch

    return [p for p in ax.patches if isinstance(p, FancyArrowPatch)]


@pytest.mark.parametrize("words", [("x1", "x2", "x3"), ("the", "cat")])
def test_draw_paths_through_block_crosses_in_attention_and_runs_parallel_in_the_ffn(words):
    ax = plotting.draw_paths_through_block(words, title="paths")
    n = len(words)
    labels = _labels(ax)
    assert all(w in labels for w in words) and ax.get_title() == "paths"
    assert all(f"z{i + 1}" in labels and f"r{i + 1}" in labels for i in range(n))
    assert sum(t.get_text() == "feed-forward\n(same weights)" for t in ax.texts) == n   # one copy per word
    arrows = _arrows(ax)
    slanted = [a for a in arrows if abs(a._posA_posB[0][0] - a._posA_posB[1][0]) > 1e-9]
    vertical = [a for a in arrows if abs(a._posA_posB[0][0] - a._posA_posB[1][0]) <= 1e-9]
    assert len(slanted) == n * (n - 1)           # attention: every x_j reaches every other z_i
    assert len(vertical) == n + 2 * n            # x_i -> z_i, then z_i -> ffn -> r_i: straight up
    with pytest.raises(ValueError, match="at least one input"):
        plotting.draw_paths_through_block([])


def test_draw_add_norm_draws_x_z_and_their_layer_norm(rng):
    from helpers.layers import layer_norm

    x, z = rng.normal(size=(2, 5)) + 3.0, 0.3 * rng.normal(size=(2, 5))
    ax = plotting.draw_add_norm(x, z, title="add & norm")
    cells = [p for p in ax.patches if type(p).__name__ == "Rectangle"]
    assert len(cells) == 3 * x.size                       # x, z and LayerNorm(x + z): one cell per number
    assert ax.get_title() == "add & norm"
    labels = "".join(t.get_text() for t in ax.texts)
    assert "LayerNorm(x + z)" in labels and "residual" in labels
    assert len(ax.figure.axes) == 2                       # the strips and their colour bar
    # The top strips are the layer norm of x + z: each cell has the colour of its value on the
    # figure's one shared scale (RdBu_r, symmetric around 0).
    out = layer_norm(x + z, np.ones(5), np.zeros(5))
    vmax = max(np.abs(x).max(), np.abs(z).max(), np.abs(out).max())
    top = sorted(cells, key=lambda c: (-c.get_y(), c.get_x()))[: x.size]
    expected = plt.get_cmap("RdBu_r")(0.5 + 0.5 * np.concatenate([out[0], out[1]]) / vmax)
    np.testing.assert_allclose([c.get_facecolor() for c in top], expected, atol=1e-12)
    with pytest.raises(ValueError, match=r"same shape \(n, d\), got shapes \(2, 5\) and \(2, 4\)"):
        plotting.draw_add_norm(x, z[:, :4])
    with pytest.raises(ValueError, match="one label per row of x, i.e. 2, got 3"):
        plotting.draw_add_norm(x, z, words=["a", "b", "c"])
