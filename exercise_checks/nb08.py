"""Checks of notebook 08 (the encoder block): Exercises 8.1, 8.2 and 8.3."""

from __future__ import annotations

import numpy as np

from . import _encoder_ref as ref
from ._core import Mistake, forbidden, probe_rng, snapshot

__all__ = ["check_8_1", "check_8_2", "check_8_3", "hidden_8_1", "hidden_8_2", "hidden_8_3"]


# --- 8.1 · a pre-LN block ------------------------------------------------------------------------

def _rules_8_1():
    return (forbidden("helpers.encoder.encoder_block"), forbidden("helpers.encoder.encoder_stack"),
            forbidden("helpers.backward.encoder_block_forward", "helpers.backward.encoder_block_forward"),
            forbidden("helpers.backward.encoder_block_vjp", "helpers.backward.encoder_block_vjp"),
            ref.OWN_CODE, ref.FRAMES)


def _mistakes_8_1(x, p, mask):
    other_act = "relu" if p.activation == "gelu" else "gelu"
    return [
        Mistake("post-LN", "post-LN order: in a pre-LN block the norm comes first, inside the branch, "
                           "x + MultiHead(LayerNorm(x))", ref.block(x, p, mask, pre=False)),
        Mistake("residual from norm", "the residual adds LayerNorm(x) instead of x: Z = X + "
                                      "MultiHead(LayerNorm_1(X)) with the un-normalised X",
                ref.block(x, p, mask, residual_from_norm=(True, True))),
        Mistake("residual from norm", "the residual adds LayerNorm(x) instead of x: Z = X + "
                                      "MultiHead(LayerNorm_1(X)) with the un-normalised X",
                ref.block(x, p, mask, residual_from_norm=(True, False))),
        Mistake("residual from norm", "the second residual adds LayerNorm(Z) instead of Z: Y = Z + "
                                      "FFN(LayerNorm_2(Z))", ref.block(x, p, mask, residual_from_norm=(False, True))),
        Mistake("eps ignored", f"params.eps is ignored (eps = {p.eps:g} here): pass params.eps to layer_norm",
                ref.block(x, p, mask, eps=1e-5)),
        Mistake("eps ignored", f"params.eps is ignored (eps = {p.eps:g} here): pass params.eps to layer_norm",
                ref.block(x, p, mask, eps=1e-12)),
        Mistake("activation ignored", f"params.activation is ignored (this is {other_act}, the block uses "
                                      f"{p.activation}): pass it to feed_forward",
                ref.block(x, p, mask, activation=other_act)),
        Mistake("mask ignored", "the mask is ignored: padding keys are attended", ref.block(x, p, None)),
        Mistake("mask flipped", "the mask is flipped: True marks the real tokens, which may be attended",
                ref.block(x, p, mask, flip_mask=True) if mask is not None else None),
        Mistake("norms swapped", "norm1 and norm2 are swapped: norm1 goes before attention, norm2 before the "
                                 "feed-forward network", ref.block(x, p, mask, swap_norms=True)),
        Mistake("residual missing", "the feed-forward sub-layer's residual is missing: Y = Z + FFN(LayerNorm_2(Z))",
                ref.block(x, p, mask, second_residual=False)),
        Mistake("residual missing", "the attention sub-layer's residual is missing: Z = X + MultiHead(...)",
                ref.block(x, p, mask, first_residual=False)),
    ]


def _check_8_1(pre_ln_encoder_block, tag: str) -> None:
    ex = ref.Checked("8.1", "pre_ln_encoder_block")
    ref.require_unpatched(ex)
    rules = _rules_8_1()
    rng = probe_rng(tag)
    hidden = "hidden" in tag
    d, h, f = (16, 4, 8) if hidden else (8, 2, 16)
    p_gelu = ref.random_block(rng, d, h, f, norm_first=True, activation="gelu", eps=0.1)
    p_relu = ref.random_block(rng, 12, 3, 20, norm_first=True, activation="relu", eps=1e-3)
    n = 6 if hidden else 5
    cases = [
        (p_gelu, rng.normal(size=(n, d)), ref.padding_mask([n - 1], n)[0], "x (n, d_model), mask (n,)"),
        (p_gelu, rng.normal(size=(2, n, d)), ref.padding_mask([n, 2], n), "x (B, n, d_model), mask (B, n)"),
        (p_relu, rng.normal(size=(3, 4, 12)), None, "x (B, n, d_model), no mask"),
        (p_relu, rng.normal(size=(3, 4, 12)), ref.padding_mask([4, 2, 1], 4), "x (B, n, d_model), mask (B, n)"),
        (p_relu, rng.normal(size=(3, 4, 12)), ref.padding_mask([3], 4)[0], "x (B, n, d_model), one mask (n,)"),
    ]
    for params, x, mask, what in cases:
        case = f"{what}, {params.activation}, eps={params.eps:g}"
        keep_p, keep_x, keep_m = snapshot(params), x.copy(), None if mask is None else mask.copy()

        def answers(keep_p=keep_p, keep_x=keep_x, keep_m=keep_m):
            return ref.block(keep_x, keep_p, keep_m, pre=True), _mistakes_8_1(keep_x, keep_p, keep_m)
        early = None if hidden else answers()         # see _encoder_ref.after_in_hidden
        inputs = {"x": x, "params": params} | ({} if mask is None else {"mask": mask})
        args = (x, params) if mask is None else (x, params, mask)
        got = ex.call(pre_ln_encoder_block, *args, case=case, forbid=rules, inputs=inputs)
        expected, mistakes = early or answers()
        ex.compare(got, expected, case=case, mistakes=mistakes, atol=1e-9, rtol=1e-9)
    if hidden:                                   # PyTorch's own pre-LN layers (fixtures of helpers.reference)
        import helpers.reference as hr
        for name, tol in (("encoder_layer_pre_ln_relu_float64", 1e-10), ("encoder_layer_pre_ln_gelu_float32", 1e-5),
                          ("encoder_layer_pre_ln_gelu_float64", 1e-10)):
            params, x, mask, expected = hr.block_case(name)
            got = ex.call(pre_ln_encoder_block, x, params, mask, case=f"PyTorch's {name}", forbid=rules)
            ex.compare(got, expected, case=f"PyTorch's {name}", atol=tol, rtol=tol)


def check_8_1(pre_ln_encoder_block) -> None:
    """Exercise 8.1: pre-LN block for (n, d_model) and (B, n, d_model), params.activation and params.eps,
    the key-padding mask; helpers.encoder_block not called."""
    _check_8_1(pre_ln_encoder_block, "8.1 visible")


def hidden_8_1(pre_ln_encoder_block) -> None:
    """The hidden tests of 8.1: other sizes and probes, and PyTorch's pre-LN layers."""
    _check_8_1(pre_ln_encoder_block, "8.1 hidden")


# --- 8.2 and 9.2 · counting parameters --------------------------------------------------------------

def _count_rules():
    return (forbidden("helpers.encoder.count_parameters"), forbidden("helpers.encoder.init_encoder_block"),
            forbidden("helpers.encoder.init_encoder_stack"), forbidden("helpers.attention.init_attention"),
            forbidden("helpers.layers.init_feed_forward"), ref.OWN_CODE, ref.FRAMES)


def count_results(ex, func, calls, rules):
    """Call ``func`` for each (args, kwargs, label); each result must be an int. Returns an int64 array."""
    values = []
    for args, kwargs, label in calls:
        got = ex.call(func, *args, case=label, forbid=rules, **kwargs)
        if isinstance(got, (bool, np.bool_)) or not isinstance(got, (int, np.integer)):
            kind = "None (did the function forget to `return`?)" if got is None else f"{got!r} of type {type(got).__name__}"
            ex.fail(f"{label} should return an int (plain integer arithmetic), got {kind}", "not int")
        values.append(int(got))
    return np.array(values, dtype=np.int64)


def compare_counts(ex, got, expected, labels, mistakes):
    """Name a mistake only if it matches on every probe (and differs from the right count somewhere)."""
    if np.array_equal(got, expected):
        return
    for m in mistakes:
        wrong = np.asarray(m.output)
        if not np.array_equal(wrong, expected) and np.array_equal(got, wrong):
            ex.named(m, f"e.g. {labels[int(np.argmax(got != expected))]}")
    i = int(np.argmax(got != expected))
    ex.fail(f"{labels[i]} should be {int(expected[i]):,}, got {int(got[i]):,}")


def _block_count(d, f):
    return 4 * d * d + 4 * d + 2 * d * f + f + d + 4 * d


def _check_8_2(encoder_block_parameter_count, tag: str) -> None:
    ex = ref.Checked("8.2", "encoder_block_parameter_count")
    ref.require_unpatched(ex)
    rules = _count_rules()
    rng = probe_rng(tag)
    pairs = [(512, 2048), (8, 16), (12, 40), (5, 3), (1, 1)] if "visible" in tag else [(768, 3072), (384, 1536), (7, 7)]
    pairs += [(int(rng.integers(2, 300)), int(rng.integers(2, 900))) for _ in range(3)]
    d = np.array([p[0] for p in pairs], dtype=np.int64)
    f = np.array([p[1] for p in pairs], dtype=np.int64)
    hidden = "hidden" in tag
    labels = [f"encoder_block_parameter_count({a}, {b})" for a, b in pairs]
    calls = [((a, b), {}, lab) for (a, b), lab in zip(pairs, labels)]
    got = count_results(ex, encoder_block_parameter_count, calls, rules) if hidden else None
    expected = _block_count(d, f)       # (hidden: after the calls, see _encoder_ref.after_in_hidden)
    mistakes = [
        Mistake("weights only", "only the weight matrices: add the biases (4 d_model for attention, d_ff + d_model "
                                "for the feed-forward network) and the two layer norms", 4 * d * d + 2 * d * f),
        Mistake("4 d_model missing", "4 d_model numbers are missing: the two layer norms (gamma and beta each) or "
                                     "the four attention biases", expected - 4 * d),
        Mistake("2 d_model missing", "2 d_model numbers are missing: one of the two layer norms (gamma and beta), "
                                     "or one parameter of each", expected - 2 * d),
        Mistake("ffn biases missing", "the feed-forward biases are missing: b_1 (d_ff) and b_2 (d_model)",
                expected - f - d),
        Mistake("attention once", "attention counted as one matrix: there are four, W_Q, W_K, W_V and W_O, each "
                                  "with a bias", expected - 3 * d * d - 3 * d),
        Mistake("three attention matrices", "W_O is missing: attention has four d_model x d_model matrices and "
                                            "four biases", expected - d * d - d),
        Mistake("b_1 size", "b_1 counted with d_model numbers: it has d_ff, one per hidden unit",
                expected - f + d),
        Mistake("one ffn matrix", "one feed-forward matrix is missing: W_1 (d_model, d_ff) and W_2 (d_ff, d_model)",
                expected - d * f),
        Mistake("biases missing", "every bias is missing: 4 d_model (attention) + d_ff + d_model (feed-forward)",
                expected - 5 * d - f),
        Mistake("norms d_model", "each layer norm counted once per d_model: gamma and beta are d_model each",
                expected - 2 * d),
    ]
    if got is None:
        got = count_results(ex, encoder_block_parameter_count, calls, rules)
    compare_counts(ex, got, expected, labels, mistakes)


def check_8_2(encoder_block_parameter_count) -> None:
    """Exercise 8.2: parameters of one block from d_model and d_ff, an int, by formula."""
    _check_8_2(encoder_block_parameter_count, "8.2 visible")


def hidden_8_2(encoder_block_parameter_count) -> None:
    """The hidden tests of 8.2: BERT-base, MiniLM and other sizes."""
    _check_8_2(encoder_block_parameter_count, "8.2 hidden")


# --- 8.3 · loading PyTorch's weights ----------------------------------------------------------------

_TORCH_KEYS = ("self_attn.in_proj_weight", "self_attn.in_proj_bias", "self_attn.out_proj.weight",
               "self_attn.out_proj.bias", "linear1.weight", "linear1.bias", "linear2.weight", "linear2.bias",
               "norm1.weight", "norm1.bias", "norm2.weight", "norm2.bias")


def _torch_state(rng, d, f):
    shapes = {"self_attn.in_proj_weight": (3 * d, d), "self_attn.in_proj_bias": (3 * d,),
              "self_attn.out_proj.weight": (d, d), "self_attn.out_proj.bias": (d,), "linear1.weight": (f, d),
              "linear1.bias": (f,), "linear2.weight": (d, f), "linear2.bias": (d,), "norm1.weight": (d,),
              "norm1.bias": (d,), "norm2.weight": (d,), "norm2.bias": (d,)}
    state = {k: rng.normal(size=s) / np.sqrt(d) for k, s in shapes.items()}
    for k in ("norm1.weight", "norm2.weight"):
        state[k] = 1 + 0.3 * rng.normal(size=d)
    return state


def _expected_fields(state, d):
    w, b = state["self_attn.in_proj_weight"], state["self_attn.in_proj_bias"]
    return {
        "attention.w_q": w[:d].T, "attention.w_k": w[d:2 * d].T, "attention.w_v": w[2 * d:].T,
        "attention.b_q": b[:d], "attention.b_k": b[d:2 * d], "attention.b_v": b[2 * d:],
        "attention.w_o": state["self_attn.out_proj.weight"].T, "attention.b_o": state["self_attn.out_proj.bias"],
        "feed_forward.w_1": state["linear1.weight"].T, "feed_forward.b_1": state["linear1.bias"],
        "feed_forward.w_2": state["linear2.weight"].T, "feed_forward.b_2": state["linear2.bias"],
        "norm1.gamma": state["norm1.weight"], "norm1.beta": state["norm1.bias"],
        "norm2.gamma": state["norm2.weight"], "norm2.beta": state["norm2.bias"],
    }


_SOURCE_83 = {"attention.w_q": "in_proj_weight[:d_model]", "attention.w_k": "in_proj_weight[d_model:2 d_model]",
              "attention.w_v": "in_proj_weight[2 d_model:]", "attention.w_o": "out_proj.weight",
              "feed_forward.w_1": "linear1.weight", "feed_forward.w_2": "linear2.weight"}


def compare_block(ex, block, expected: dict, case: str, *, label: str = "the block", source=None,
                  other_fields: dict | None = None):
    """Every field of a loaded EncoderBlockParams against ``expected`` {path: array}: named when a weight
    is transposed or holds another field's numbers (of this block, or of ``other_fields``: e.g. another
    layer's); else expected/got at one index."""
    import helpers.encoder as he

    if block is None:
        ex.fail(f"{label} is None ({case}): did the function forget to `return`?", "returns None")
    if not isinstance(block, he.EncoderBlockParams):
        ex.fail(f"{label} should be a helpers.EncoderBlockParams, got {type(block).__name__} ({case})", "not params")
    for path in ref.BLOCK_FIELDS:
        want = np.asarray(expected[path])
        got = ref.field(block, path)
        arr = ex.array(got, case, f"{label}.{path}")
        if arr.shape == want.shape and np.array_equal(arr, want):
            continue
        if want.ndim == 2 and arr.shape == want.T.shape and np.array_equal(arr, want.T):
            what = f" ({source[path]})" if source and path in source else ""
            ex.fail(f"{label}.{path} is not transposed{what}: nn.Linear stores (d_out, d_in) and computes "
                    f"x @ weight.T, so transpose it into the x @ W layout (d_in, d_out) ({case})", "not transposed")
        for other, value in list(expected.items()) + list((other_fields or {}).items()):
            if other != path and np.shape(value) == arr.shape and np.array_equal(arr, value):
                ex.fail(f"{label}.{path} holds the numbers of {other} ({case})", "fields mixed")
        ex.compare(arr, want, case=case, what=f"{label}.{path}", atol=0.0, rtol=0.0)


def _check_8_3(block_from_torch_state, tag: str) -> None:
    ex = ref.Checked("8.3", "block_from_torch_state")
    ref.require_unpatched(ex)
    rules = (forbidden("helpers.interop.from_torch_encoder_layer"), forbidden("helpers.interop.from_torch_encoder"),
             forbidden("helpers.reference.block_case"), ref.OWN_CODE, ref.FRAMES)
    rng = probe_rng(tag)
    sizes = [(8, 12, 2), (12, 20, 3), (8, 4, 1)] if "visible" in tag else [(16, 24, 8), (6, 10, 2)]
    cases = [(_torch_state(rng, d, f), h, f"a random state dict, d_model={d}, d_ff={f}, n_heads={h}")
             for d, f, h in sizes]
    import helpers.reference as hr
    fixture = hr.load_reference("encoder_layer_post_ln_relu_float64")
    fixture_state = {k.removeprefix("state."): v for k, v in fixture.items() if k.startswith("state.")}
    cases.append((fixture_state, 4, "PyTorch's nn.TransformerEncoderLayer state dict, n_heads=4"))
    for state, h, case in cases:
        d = state["self_attn.out_proj.weight"].shape[0]
        keep = snapshot(state)
        hidden = "hidden" in tag
        expected = None if hidden else _expected_fields(keep, d)
        given = {k: state[k] for k in _TORCH_KEYS}
        block = ex.call(block_from_torch_state, given, h, case=case, forbid=rules, inputs={"state": given})
        expected = expected or _expected_fields(keep, d)
        compare_block(ex, block, expected, case, label="loaded", source=_SOURCE_83)
        if block.attention.n_heads != h:
            ex.fail(f"loaded has n_heads={block.attention.n_heads}, expected the argument n_heads={h} ({case})",
                    "n_heads ignored")
        if block.norm_first:
            ex.fail(f"loaded has norm_first=True: the PyTorch layer is post-LN, norm_first=False ({case})", "pre-LN")
        if block.activation != "relu":
            ex.fail(f"loaded has activation={block.activation!r}: nn.TransformerEncoderLayer's default is ReLU "
                    f"({case})", "activation")
        if not np.isclose(block.eps, 1e-5, rtol=1e-9, atol=0):
            ex.fail(f"loaded has eps={block.eps:g}: PyTorch's default layer-norm eps is 1e-5 ({case})", "eps")
        if state is fixture_state:            # the whole layer on PyTorch's input, against PyTorch's output
            out = ref.block(fixture["x"], snapshot(block), fixture["mask"], pre=False)
            ex.compare(out, fixture["expected"], case=case + ", run on PyTorch's input",
                       what="the block's output with your weights", atol=1e-10, rtol=1e-10)


def check_8_3(block_from_torch_state) -> None:
    """Exercise 8.3: a post-LN ReLU EncoderBlockParams from nn.TransformerEncoderLayer's state dict."""
    _check_8_3(block_from_torch_state, "8.3 visible")


def hidden_8_3(block_from_torch_state) -> None:
    """The hidden tests of 8.3: other sizes and head counts."""
    _check_8_3(block_from_torch_state, "8.3 hidden")
