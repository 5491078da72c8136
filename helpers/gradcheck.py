"""Checking a hand-written backward pass against central finite differences.

For L(inputs) = sum(grad_output * f(*inputs)), the VJP of f is the gradient of L. Central differences
estimate each of its entries as
    dL/dx_i ~ (L(x + eps e_i) - L(x - eps e_i)) / (2 eps).
In float64 the error of that estimate has two parts: truncation, eps^2 |L'''| / 6 ~ 1e-12 at
eps = 1e-6, and rounding, about 1e-16 |f| / eps ~ 1e-10 (each evaluation of f is exact to ~1e-16
of its size; dividing the difference by eps magnifies that). eps = 1e-6 balances the two near their
sum's minimum (~eps_machine^(2/3) ~ 1e-11 relative). Correct VJPs of this package measure 1e-10
to 2e-8 (the larger values on gradients that are zero by structure, where the estimate is rounding
noise; see gradient_errors). A bound of 1e-6 on the relative error leaves two orders of magnitude
of headroom above that, while a wrong term in a backward (a missing path, a transposed weight, a
sign, one entry off by 1e-3) shows up as 1e-4 to 1.

Inputs and gradients can be arrays or the parameter dataclasses of helpers (EncoderBlockParams,
AttentionParams, ...), or lists/tuples of them: every float array inside is perturbed.
"""

from __future__ import annotations

from dataclasses import fields, is_dataclass, replace

import numpy as np

__all__ = ["check_vjp", "gradient_errors", "numerical_vjp", "array_leaves", "map_arrays", "relative_error"]


def array_leaves(tree) -> list[tuple[str, np.ndarray]]:
    """Every float array inside ``tree`` (array, dataclass, list, tuple), with a readable path name."""
    if isinstance(tree, np.ndarray):
        return [("", tree)] if np.issubdtype(tree.dtype, np.floating) else []
    if isinstance(tree, (list, tuple)):
        return [(f"[{i}]{name}", leaf) for i, item in enumerate(tree) for name, leaf in array_leaves(item)]
    if is_dataclass(tree):
        return [(f".{f.name}{name}", leaf) for f in fields(tree) for name, leaf in array_leaves(getattr(tree, f.name))]
    return []


def map_arrays(tree, fn):
    """A copy of ``tree`` (array, dataclass, list, tuple) with every float array a replaced by fn(a).

    Other fields (n_heads, norm_first, ...) are kept; ``map_arrays(params, lambda a: a.astype(np.float32))``
    casts a whole block.
    """
    if isinstance(tree, np.ndarray):
        return fn(tree) if np.issubdtype(tree.dtype, np.floating) else tree
    if isinstance(tree, (list, tuple)):
        return type(tree)(map_arrays(item, fn) for item in tree)
    if is_dataclass(tree):
        return replace(tree, **{f.name: map_arrays(getattr(tree, f.name), fn) for f in fields(tree)})
    return tree


def _as_float64(tree):
    return map_arrays(tree, lambda a: np.asarray(a, dtype=np.float64))


def _moved(inputs, leaf_index: int, delta: np.ndarray):
    """``inputs`` with leaf number leaf_index moved by delta (copies only that leaf)."""
    counter = iter(range(10**9))
    return map_arrays(inputs, lambda a: a + delta if next(counter) == leaf_index else a)


def _central_difference(f, inputs, grad_output, leaf_index, direction, eps):
    up = np.asarray(f(*_moved(inputs, leaf_index, eps * direction)), dtype=np.float64)
    down = np.asarray(f(*_moved(inputs, leaf_index, -eps * direction)), dtype=np.float64)
    # Difference the outputs before weighting by grad_output: the rounding error is then relative
    # to each output entry, not to their (possibly much larger) sum.
    return np.sum(grad_output * (up - down)) / (2 * eps)


def numerical_vjp(f, inputs, grad_output, eps: float = 1e-6, n_directions: int | None = None, seed: int = 0):
    """Central-difference estimates of the gradient of L = sum(grad_output * f(*inputs)), in float64.

    inputs: a tuple of arguments of f (arrays or parameter dataclasses). Returns one
    ``(name, directions, estimates)`` per float array inside inputs (order of ``array_leaves``).
    n_directions=None checks every entry: directions is None and estimates (size,) is the whole
    gradient, flattened (``estimates.reshape(array.shape)``). An integer checks that many seeded
    random Gaussian directions per array instead: directions (n_directions, *array.shape) and
    estimates[j] ~ <dL/d(array), directions[j]> (2 evaluations each, whatever the array's size:
    fast for big arrays, and a wrong entry still shows, since every entry enters every direction).
    """
    inputs = _as_float64(tuple(inputs))
    grad_output = np.asarray(grad_output, dtype=np.float64)
    rng = np.random.default_rng(seed)
    results = []
    for leaf_index, (name, leaf) in enumerate(array_leaves(inputs)):
        directions = None if n_directions is None else rng.normal(size=(n_directions, *leaf.shape))
        estimates = np.empty(leaf.size if directions is None else n_directions)
        for j in range(estimates.size):          # a loop over check directions, 2 calls of f each
            if directions is None:
                u = np.zeros(leaf.shape)
                u.flat[j] = 1.0
            else:
                u = directions[j]
            estimates[j] = _central_difference(f, inputs, grad_output, leaf_index, u, eps)
        results.append((name, directions, estimates))
    return results


def relative_error(analytic, numeric, floor: float = 0.0) -> float:
    """max |analytic - numeric| / max(max |analytic|, max |numeric|, floor); 0 when both are 0."""
    analytic, numeric = np.asarray(analytic, np.float64), np.asarray(numeric, np.float64)
    if analytic.size == 0:
        return 0.0
    scale = max(np.max(np.abs(analytic)), np.max(np.abs(numeric)), floor)
    return float(np.max(np.abs(analytic - numeric)) / scale) if scale > 0 else 0.0


def gradient_errors(f, inputs, grad_output, vjp, eps: float = 1e-6, n_directions: int | None = None,
                    seed: int = 0, floor_fraction: float = 1e-2) -> dict[str, float]:
    """Relative error of vjp's gradients against central differences, per float array inside ``inputs``.

    f(*inputs) -> output (the shape of grad_output); vjp(grad_output, *inputs) -> one gradient per
    input, the same structure (a single input may return a bare gradient). Everything runs in float64.
    An array's error is max_j |<analytic, u_j> - estimate_j| over its checked directions u_j (its
    entries, or random directions: see numerical_vjp) divided by the largest of these numbers, or by
    floor_fraction times the largest of all arrays if that is bigger: some gradients are zero by
    structure (the key bias b_k: softmax ignores a constant added to a row of scores), and for them
    the estimate is rounding noise (~1e-10), which is no relative error.
    """
    inputs = _as_float64(tuple(inputs))
    grad_output = np.asarray(grad_output, dtype=np.float64)
    grads = vjp(grad_output, *inputs)
    if len(inputs) == 1 and not isinstance(grads, (tuple, list)):
        grads = (grads,)
    grads = tuple(grads)
    if len(grads) != len(inputs):
        raise ValueError(f"vjp returned {len(grads)} gradients for {len(inputs)} inputs")
    analytic = [(name, np.asarray(a, np.float64)) for name, a in array_leaves(grads)]
    leaves = array_leaves(inputs)
    if len(analytic) != len(leaves):
        raise ValueError(f"vjp's gradients hold {len(analytic)} arrays, the inputs {len(leaves)}")
    for (name, a), (_, leaf) in zip(analytic, leaves, strict=True):
        if a.shape != leaf.shape:
            raise ValueError(f"gradient{name} must have the input's shape {leaf.shape}, got shape {a.shape}")
    numeric = numerical_vjp(f, inputs, grad_output, eps, n_directions, seed)
    projected = [a.reshape(-1) if u is None else np.tensordot(u, a, axes=a.ndim)     # <gradient, u_j>
                 for (_, a), (_, u, _) in zip(analytic, numeric, strict=True)]
    largest = max(max(np.max(np.abs(p), initial=0.0), np.max(np.abs(est), initial=0.0))
                  for p, (_, _, est) in zip(projected, numeric, strict=True))
    return {name: relative_error(p, est, floor_fraction * largest)
            for p, (name, _, est) in zip(projected, numeric, strict=True)}


def check_vjp(f, inputs, grad_output, vjp, eps: float = 1e-6, n_directions: int | None = None,
              seed: int = 0) -> float:
    """The largest relative error of vjp against central finite differences (see gradient_errors).

    f(*inputs) -> output; vjp(grad_output, *inputs) -> gradients, one per input. ``inputs`` is a
    tuple of arguments (arrays or parameter dataclasses), or a single array. n_directions=None
    checks every entry; an integer checks that many random directions per array (big inputs).
    A correct VJP scores 1e-10 to 1e-8; the tests demand at most 1e-6 (the module docstring says why).
    """
    if isinstance(inputs, np.ndarray) or is_dataclass(inputs):
        inputs = (inputs,)
    return max(gradient_errors(f, inputs, grad_output, vjp, eps, n_directions, seed).values(), default=0.0)
