"""Checks of notebook 13 (training an encoder): Exercises 13.1 and 13.2."""

from __future__ import annotations

import math

import numpy as np

from . import _encoder_ref as ref
from ._core import Mistake, forbidden, probe_rng, snapshot

__all__ = ["check_13_1", "check_13_2", "hidden_13_1", "hidden_13_2"]


# --- 13.1 · SGD with momentum ----------------------------------------------------------------------

def _path(start, grads_per_step, lrs, mu, kind="right", order=None):
    """Every parameter (flattened, concatenated in ``order``) after each step: (steps, size)."""
    order = list(start) if order is None else order
    values = {k: v.astype(np.float64).copy() for k, v in start.items()}
    velocity = {k: np.zeros_like(v) for k, v in values.items()}
    first_lr = lrs[0]
    rows = []
    for t, (grads, lr) in enumerate(zip(grads_per_step, lrs)):
        if kind == "first lr":
            lr = first_lr
        if kind == "by position":                 # the check hands grads over in reversed key order
            grads = dict(zip(start, reversed([grads[k] for k in start])))
        for k in values:
            g, u = grads[k], velocity[k]
            if kind == "old velocity":
                values[k] -= lr * u
                velocity[k] = mu * u + g
                continue
            if kind == "no momentum":
                new = g
            elif kind == "dampening":
                new = mu * u + (1 - mu) * g
            elif kind == "lr in velocity":
                new = mu * u + lr * g
            else:
                new = mu * u + g
            velocity[k] = new
            if kind == "lr in velocity":
                values[k] -= new
            elif kind == "nesterov":
                values[k] -= lr * (g + mu * new)
            elif kind == "sign":
                values[k] += lr * new
            else:
                values[k] -= lr * new
        rows.append(np.concatenate([values[k].ravel() for k in order]))
    return np.array(rows)


def _check_13_1(SGDMomentum, tag: str) -> None:
    ex = ref.Checked("13.1", "SGDMomentum")
    ref.require_unpatched(ex)
    rules = (forbidden("helpers.training.Adam.step"), ref.OWN_CODE, ref.FRAMES)
    rng = probe_rng(tag)
    hidden = "hidden" in tag
    if hidden:                                    # expected only after the steps: _encoder_ref.after_in_hidden
        blind = {"a": rng.normal(size=3), "b": rng.normal(size=(2, 2))}
        blind_grads = [{k: rng.normal(size=v.shape) for k, v in blind.items()} for _ in range(2)]
        arrays, case = {k: v.copy() for k, v in blind.items()}, "SGDMomentum({'a': (3,), 'b': (2, 2)}, momentum=0.3)"
        opt = ex.call(SGDMomentum, arrays, momentum=0.3, case=case, forbid=rules, inputs={"params": arrays})
        if not callable(getattr(opt, "step", None)):
            ex.fail(f"{case} should be an optimiser with a method step(grads, lr)", "no step")
        for grads, lr in zip(blind_grads, (0.2, 0.1)):
            ex.call(opt.step, {k: v.copy() for k, v in grads.items()}, lr, case=case + ".step", forbid=rules)
        got = np.concatenate([ex.array(arrays[k], case, f"params['{k}']").ravel() for k in blind])
        ex.compare(got, _path(blind, blind_grads, [0.2, 0.1], 0.3)[-1], case=case + ", after 2 steps",
                   what="the parameters", atol=1e-12, rtol=1e-10)
    # Same shapes, so that gradients matched by position instead of by name give numbers, not an error.
    start = {"w": rng.normal(size=(2, 3)), "b": rng.normal(size=(2, 3)), "gamma": 1 + 0.1 * rng.normal(size=(2, 3))}
    if hidden:
        start = {"embedding": rng.normal(size=(3, 2)), "bias": rng.normal(size=5)}
    steps = 4
    grads_per_step = [{k: rng.normal(size=v.shape) for k, v in start.items()} for _ in range(steps)]
    lrs = [0.1, 0.05, 0.2, 0.1] if not hidden else [0.3, 0.3, 0.01, 0.1]
    names = list(start)
    # Two optimisers, each from u_0 = 0: the second's first step must not see the first's velocity (a
    # class-level dict would share it).
    first_arrays, fresh = {k: v.copy() for k, v in start.items()}, {k: v.copy() for k, v in start.items()}
    case = "two SGDMomentum(params, momentum=0.5), one step each"
    first = ex.call(SGDMomentum, first_arrays, momentum=0.5, case=case, forbid=rules, inputs={"params": first_arrays})
    second = ex.call(SGDMomentum, fresh, momentum=0.5, case=case, forbid=rules, inputs={"params": fresh})
    for opt in (first, second):
        if not callable(getattr(opt, "step", None)):
            ex.fail(f"SGDMomentum(...) should be an optimiser with a method step(grads, lr), got "
                    f"{'None' if opt is None else type(opt).__name__}", "no step")
    ex.call(first.step, {k: g.copy() for k, g in grads_per_step[0].items()}, lrs[0], case=case, forbid=rules)
    ex.call(second.step, {k: g.copy() for k, g in grads_per_step[0].items()}, lrs[0], case=case, forbid=rules)
    moved = np.concatenate([ex.array(fresh[k], case, f"params['{k}']").ravel() for k in names])
    once = np.concatenate([ex.array(first_arrays[k], case, f"params['{k}']").ravel() for k in names])
    want = _path(start, grads_per_step[:1], lrs[:1], 0.5)[0]
    if np.allclose(once, want, atol=1e-12, rtol=1e-10) and not np.allclose(moved, want, atol=1e-12, rtol=1e-10):
        ex.fail("a second SGDMomentum moves differently on its first step than the first one did: every "
                "optimiser's velocity starts at 0; is it a class attribute shared by every instance? create it "
                "in __init__", "shared velocity")
    for momentum in ((0.5, None, 0.0) if not hidden else (0.75, None)):
        mu = 0.9 if momentum is None else momentum
        arrays = {k: v.copy() for k, v in start.items()}
        shapes = ", ".join(f"'{k}': {v.shape}" for k, v in start.items())
        case = f"SGDMomentum({{{shapes}}}" + (")" if momentum is None else f", momentum={momentum})")
        kwargs = {} if momentum is None else {"momentum": momentum}
        expected = _path(start, grads_per_step, lrs, mu)
        mistakes = [
            Mistake("plain SGD", "this is plain SGD, p -= lr * g: keep a velocity per parameter, u = momentum * u + g",
                    _path(start, grads_per_step, lrs, mu, "no momentum")),
            Mistake("dampening", "the velocity is an average, u = momentum * u + (1 - momentum) * g: the text's "
                                 "convention adds the whole gradient, u = momentum * u + g",
                    _path(start, grads_per_step, lrs, mu, "dampening")),
            Mistake("old velocity", "the step uses the velocity from before this step's gradient: update u first, "
                                    "then p -= lr * u", _path(start, grads_per_step, lrs, mu, "old velocity")),
            Mistake("nesterov", "this is Nesterov momentum (p -= lr * (g + momentum * u)): the text asks for "
                                "p -= lr * u", _path(start, grads_per_step, lrs, mu, "nesterov")),
            Mistake("uphill", "the step goes uphill: p -= lr * u, not +=", _path(start, grads_per_step, lrs, mu, "sign")),
            Mistake("momentum ignored", f"momentum={mu:g} is ignored (this is momentum 0.9): use the argument",
                    _path(start, grads_per_step, lrs, 0.9) if mu != 0.9 else None),
            Mistake("first lr", "the learning rate of the first step is used for every step: use each call's lr "
                                "(a schedule changes it)", _path(start, grads_per_step, lrs, mu, "first lr")),
            Mistake("lr in velocity", "lr is inside the velocity, u = momentum * u + lr * g: the text's convention "
                                      "is u = momentum * u + g, then p -= lr * u",
                    _path(start, grads_per_step, lrs, mu, "lr in velocity")),
            Mistake("by position", "the gradients are matched to the parameters by position, not by name: look "
                                   "each one up as grads[name]",
                    _path(start, grads_per_step, lrs, mu, "by position")
                    if len({v.shape for v in start.values()}) == 1 else None),
        ]
        optimiser = ex.call(SGDMomentum, arrays, case=case, forbid=rules, inputs={"params": arrays}, **kwargs)
        step = getattr(optimiser, "step", None)
        if not callable(step):
            ex.fail(f"{case} should be an optimiser with a method step(grads, lr), got "
                    f"{'None' if optimiser is None else type(optimiser).__name__}", "no step")
        originals, rows, given_so_far = dict(arrays), [], []
        for t, (grads, lr) in enumerate(zip(grads_per_step, lrs), start=1):
            given = {k: grads[k].copy() for k in reversed(names)}        # another key order than params
            given_so_far.append((given, snapshot(given)))
            ex.call(step, given, lr, case=f"{case}.step(grads, lr={lr:g}), step {t}", forbid=rules,
                    inputs={"grads": given})
            for old, kept in given_so_far:
                for k in old:
                    if not np.array_equal(old[k], kept[k]):
                        ex.fail(f"a later step changed the grads dict of an earlier step ({case}): the velocity "
                                f"holds a reference to grads['{k}']; start it from np.zeros_like(p)",
                                "velocity aliases grads")
            rows.append(np.concatenate([ex.array(originals[k], case, f"params['{k}']").ravel() for k in names]))
        rows = np.array(rows)
        if np.array_equal(rows, np.tile(np.concatenate([start[k].ravel() for k in names]), (steps, 1))):
            ex.fail(f"the arrays of params did not change ({case}): step must update them in place (p -= lr * u), "
                    "not rebind params[name], which leaves the model's own arrays as they were", "not in place")
        ex.compare(rows, expected, case=case + f", lr {lrs} over {steps} steps",
                   what="the parameters after each step", mistakes=mistakes, atol=1e-12, rtol=1e-10)


def check_13_1(SGDMomentum) -> None:
    """Exercise 13.1: ``SGDMomentum(params, momentum=0.9)`` with ``step(grads, lr)``: u = mu u + g, p -= lr u,
    u_0 = 0, the arrays of params updated in place, gradients looked up by name, each call's lr."""
    _check_13_1(SGDMomentum, "13.1 visible")


def hidden_13_1(SGDMomentum) -> None:
    """The hidden tests of 13.1: other names, shapes, momentum and learning rates; a real model's loss falls."""
    _check_13_1(SGDMomentum, "13.1 hidden")
    ex = ref.Checked("13.1", "SGDMomentum")
    ref.require_unpatched(ex)
    import helpers.training as T

    batch = T.make_counting_data(np.random.default_rng(7), 16)
    model = T.init_classifier(np.random.default_rng(7), 8, batch.token_ids.shape[1], d_model=8, n_heads=2, d_ff=16,
                              n_layers=1)
    before = T.loss_and_grads(model, batch)[0]
    optimiser = ex.call(SGDMomentum, T.named_parameters(model), case="SGDMomentum on a classifier",
                        forbid=(ref.OWN_CODE, ref.FRAMES))
    for _ in range(20):
        grads = T.named_parameters(T.loss_and_grads(model, batch)[1])
        ex.call(optimiser.step, grads, 0.05, case="SGDMomentum on a classifier, step", forbid=(ref.OWN_CODE, ref.FRAMES))
    after = T.loss_and_grads(model, batch)[0]
    if not after < before - 0.3:
        ex.fail(f"20 steps (lr=0.05) on one batch should lower its loss by 0.3, got {before:.3f} -> {after:.3f}",
                "loss")


# --- 13.2 · warm-up, then cosine decay -------------------------------------------------------------------

def _cosine(steps, peak, warmup, total, kind="right"):
    out = []
    for s in steps:
        if kind == "no warm-up":
            out.append(peak * 0.5 * (1 + math.cos(math.pi * s / total)))
            continue
        if s <= warmup:
            w = {"off by one": (s - 1) / warmup, "integer": float(s // warmup)}.get(kind, s / warmup)
            out.append(peak * w)
            continue
        span = total if kind == "over total" else total - warmup
        progress = (s - warmup) / span
        angle = progress if kind == "no pi" else math.pi * progress
        half = 1.0 if kind == "no half" else 0.5
        out.append(peak * half * ((1 - math.cos(angle)) if kind == "rises" else (1 + math.cos(angle))))
    return np.array(out)


def _check_13_2(warmup_cosine, tag: str) -> None:
    ex = ref.Checked("13.2", "warmup_cosine")
    ref.require_unpatched(ex)
    rules = (ref.OWN_CODE, ref.FRAMES)
    rng = probe_rng(tag)
    if "hidden" in tag:                           # expected only after the calls: _encoder_ref.after_in_hidden
        steps, case = [1, 2, 5, 6, 9, 12], "peak_lr=0.01, warmup_steps=5, total_steps=12"
        got = [ex.call(warmup_cosine, s, 0.01, 5, 12, case=case, forbid=rules) for s in steps]
        arr = np.array([float(v) if isinstance(v, (int, float, np.floating, np.integer))
                        and not isinstance(v, (bool, np.bool_)) else np.nan for v in got])
        ex.compare(arr, _cosine(steps, 0.01, 5, 12), case=case, what="the rates", atol=1e-15, rtol=1e-9)
    if "visible" in tag:
        setups = [(1e-3, 100, 1000), (2e-3, 10, 60), (0.5, 1, 5)]
    else:
        setups = [(3e-4, 7, 40), (1.0, 3, 4)]
    setups.append((float(rng.uniform(1e-4, 1e-2)), int(rng.integers(2, 30)), int(rng.integers(40, 90))))
    for peak, warmup, total in setups:
        steps = sorted({1, max(1, warmup // 2), max(1, warmup - 1), warmup, warmup + 1, (warmup + total) // 2,
                        total - 1, total} | {int(s) for s in rng.integers(1, total + 1, size=3)})
        case = f"peak_lr={peak:g}, warmup_steps={warmup}, total_steps={total}"
        expected = _cosine(steps, peak, warmup, total)
        mistakes = [Mistake(kind, message, _cosine(steps, peak, warmup, total, kind)) for kind, message in (
            ("off by one", "the warm-up is off by one step: step 1 gives peak_lr / warmup_steps, step warmup_steps "
                           "the peak"),
            ("integer", "the warm-up uses integer division (step // warmup_steps): use /"),
            ("no half", "the cosine part is missing its factor 1/2: peak * (1 + cos) starts at twice the peak"),
            ("over total", "the decay's progress divides by total_steps: divide by total_steps - warmup_steps"),
            ("no pi", "the cosine's argument is missing pi: half a cosine is cos(pi * progress)"),
            ("rises", "after the warm-up the rate rises again (1 - cos): it falls, peak * (1 + cos(pi * p)) / 2"),
            ("no warm-up", "there is no warm-up: for step <= warmup_steps the rate is peak_lr * step / warmup_steps"),
        )]
        values = []
        for s in steps:
            label = f"warmup_cosine({s}, {peak:g}, {warmup}, {total})"
            value = ex.call(warmup_cosine, s, peak, warmup, total, case=label, forbid=rules)
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, (float, int, np.floating, np.integer)):
                shape = f" of shape {np.shape(value)}" if isinstance(value, np.ndarray) else ""
                ex.fail(f"{label} should return a float, got "
                        f"{'None' if value is None else type(value).__name__}{shape}", "not a float")
            values.append(float(value))
        ex.compare(np.array(values), expected, case=f"{case}, at steps {steps}", what="the rates",
                   mistakes=mistakes, atol=1e-15, rtol=1e-9)


def check_13_2(warmup_cosine) -> None:
    """Exercise 13.2: ``warmup_cosine(step, peak_lr, warmup_steps, total_steps)`` -> a float: linear warm-up from
    step 1, then half a cosine from peak_lr to 0 at total_steps."""
    _check_13_2(warmup_cosine, "13.2 visible")


def hidden_13_2(warmup_cosine) -> None:
    """The hidden tests of 13.2: other schedules (a warm-up of 3 steps out of 4)."""
    _check_13_2(warmup_cosine, "13.2 hidden")
