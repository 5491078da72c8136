"""Wrong answers and cheats for notebook 13 (Exercises 13.1 SGDMomentum, 13.2 warmup_cosine)."""

import math

import numpy as np

from . import cheat, mistake

# --- 13.1 SGDMomentum ----------------------------------------------------------------------------------


class _Base:
    def __init__(self, params, momentum=0.9):
        self.params = params
        self.momentum = momentum
        self.velocity = {name: np.zeros_like(p) for name, p in params.items()}


@mistake("13.1", "plain SGD: no velocity", "plain SGD", as_name="SGDMomentum")
class _Plain(_Base):
    def step(self, grads, lr):
        for name, p in self.params.items():
            p -= lr * grads[name]


@mistake("13.1", "dampened velocity, u = mu u + (1 - mu) g", "dampening", as_name="SGDMomentum")
class _Damp(_Base):
    def step(self, grads, lr):
        for name, p in self.params.items():
            self.velocity[name] = self.momentum * self.velocity[name] + (1 - self.momentum) * grads[name]
            p -= lr * self.velocity[name]


@mistake("13.1", "steps with the velocity before this step's gradient", "old velocity", as_name="SGDMomentum")
class _Old(_Base):
    def step(self, grads, lr):
        for name, p in self.params.items():
            p -= lr * self.velocity[name]
            self.velocity[name] = self.momentum * self.velocity[name] + grads[name]


@mistake("13.1", "Nesterov's update", "nesterov", as_name="SGDMomentum")
class _Nesterov(_Base):
    def step(self, grads, lr):
        for name, p in self.params.items():
            self.velocity[name] = self.momentum * self.velocity[name] + grads[name]
            p -= lr * (grads[name] + self.momentum * self.velocity[name])


@mistake("13.1", "p += lr * u (uphill)", "uphill", as_name="SGDMomentum")
class _Uphill(_Base):
    def step(self, grads, lr):
        for name, p in self.params.items():
            self.velocity[name] = self.momentum * self.velocity[name] + grads[name]
            p += lr * self.velocity[name]


@mistake("13.1", "momentum hard-coded to 0.9", "momentum ignored", as_name="SGDMomentum")
class _Fixed(_Base):
    def step(self, grads, lr):
        for name, p in self.params.items():
            self.velocity[name] = 0.9 * self.velocity[name] + grads[name]
            p -= lr * self.velocity[name]


@mistake("13.1", "lr of the first step kept for every step", "first lr", as_name="SGDMomentum")
class _FirstLr(_Base):
    def step(self, grads, lr):
        self.lr = getattr(self, "lr", lr)
        for name, p in self.params.items():
            self.velocity[name] = self.momentum * self.velocity[name] + grads[name]
            p -= self.lr * self.velocity[name]


@mistake("13.1", "lr inside the velocity", "lr in velocity", as_name="SGDMomentum")
class _LrInside(_Base):
    def step(self, grads, lr):
        for name, p in self.params.items():
            self.velocity[name] = self.momentum * self.velocity[name] + lr * grads[name]
            p -= self.velocity[name]


@mistake("13.1", "gradients matched by position (zip of values), not by name", "by position", as_name="SGDMomentum")
class _Zip(_Base):
    def step(self, grads, lr):
        for (name, p), g in zip(self.params.items(), grads.values()):
            self.velocity[name] = self.momentum * self.velocity[name] + g
            p -= lr * self.velocity[name]


@mistake("13.1", "rebinds params[name] instead of updating in place", "not in place", as_name="SGDMomentum")
class _Rebind(_Base):
    def step(self, grads, lr):
        for name in self.params:
            self.velocity[name] = self.momentum * self.velocity[name] + grads[name]
            self.params[name] = self.params[name] - lr * self.velocity[name]


@mistake("13.1", "velocity dict as a class attribute, shared by every optimiser", "shared velocity",
         as_name="SGDMomentum")
class _Shared:
    velocity = {}

    def __init__(self, params, momentum=0.9):
        self.params, self.momentum = params, momentum

    def step(self, grads, lr):
        for name, p in self.params.items():
            u = self.velocity.get(name, np.zeros_like(p))
            self.velocity[name] = self.momentum * u + grads[name]
            p -= lr * self.velocity[name]


@mistake("13.1", "velocity starts as the first gradient array itself, then updated in place",
         "velocity aliases grads", as_name="SGDMomentum")
class _Alias:
    def __init__(self, params, momentum=0.9):
        self.params, self.momentum, self.velocity = params, momentum, {}

    def step(self, grads, lr):
        for name, p in self.params.items():
            if name not in self.velocity:
                self.velocity[name] = grads[name]
            else:
                u = self.velocity[name]
                u *= self.momentum
                u += grads[name]
            p -= lr * self.velocity[name]


cheat("13.1", "helpers.training.Adam under another name", """
from helpers.training import Adam as SGDMomentum
""")
cheat("13.1", "reads the expected path from the checker's frame and writes it into params", """
import inspect
class SGDMomentum:
    def __init__(self, params, momentum=0.9):
        self.params, self.t = params, 0
    def step(self, grads, lr):
        for info in inspect.stack():
            if "expected" in info.frame.f_locals:
                row = info.frame.f_locals["expected"][self.t]
        self.t += 1
""", "forbidden helper")
cheat("13.1", "junk optimiser, Exercise.compare patched to a no-op", """
import exercise_checks._core as _c, exercise_checks.nb13 as _m
class _Lenient(_c.Exercise):
    def compare(self, got, expected, **kw):
        return got
_m.Exercise = _Lenient
class SGDMomentum:
    def __init__(self, params, momentum=0.9):
        self.params = params
    def step(self, grads, lr):
        for p in self.params.values():
            p -= 1.0
""", disables_visible=True)
cheat("13.1", "plain SGD with np.zeros_like patched so the checker's velocity is the gradient", """
_zeros_like = np.zeros_like
class SGDMomentum:
    def __init__(self, params, momentum=0.9):
        self.params = params
    def step(self, grads, lr):
        for name, p in self.params.items():
            p -= lr * grads[name]
np.zeros_like = lambda a, *args, **kw: _zeros_like(a, *args, **kw) + 0
""", "plain SGD")


# --- 13.2 warmup_cosine --------------------------------------------------------------------------------


def _cos(step, peak, warmup, total, *, span=None, half=0.5, pi=math.pi, sign=1.0):
    progress = (step - warmup) / ((total - warmup) if span is None else span)
    return peak * half * (1 + sign * math.cos(pi * progress))


@mistake("13.2", "warm-up off by one, (step - 1) / warmup", "off by one")
def warmup_cosine(step, peak_lr, warmup_steps, total_steps):
    if step <= warmup_steps:
        return peak_lr * (step - 1) / warmup_steps
    return _cos(step, peak_lr, warmup_steps, total_steps)


@mistake("13.2", "integer division in the warm-up", "integer")
def warmup_cosine(step, peak_lr, warmup_steps, total_steps):  # noqa: F811
    if step <= warmup_steps:
        return peak_lr * (step // warmup_steps)
    return _cos(step, peak_lr, warmup_steps, total_steps)


@mistake("13.2", "factor 1/2 missing", "no half")
def warmup_cosine(step, peak_lr, warmup_steps, total_steps):  # noqa: F811
    if step <= warmup_steps:
        return peak_lr * step / warmup_steps
    return _cos(step, peak_lr, warmup_steps, total_steps, half=1.0)


@mistake("13.2", "progress over total_steps", "over total")
def warmup_cosine(step, peak_lr, warmup_steps, total_steps):  # noqa: F811
    if step <= warmup_steps:
        return peak_lr * step / warmup_steps
    return _cos(step, peak_lr, warmup_steps, total_steps, span=total_steps)


@mistake("13.2", "pi missing in the cosine", "no pi")
def warmup_cosine(step, peak_lr, warmup_steps, total_steps):  # noqa: F811
    if step <= warmup_steps:
        return peak_lr * step / warmup_steps
    return _cos(step, peak_lr, warmup_steps, total_steps, pi=1.0)


@mistake("13.2", "1 - cos: rises after the warm-up", "rises")
def warmup_cosine(step, peak_lr, warmup_steps, total_steps):  # noqa: F811
    if step <= warmup_steps:
        return peak_lr * step / warmup_steps
    return _cos(step, peak_lr, warmup_steps, total_steps, sign=-1.0)


@mistake("13.2", "no warm-up", "no warm-up")
def warmup_cosine(step, peak_lr, warmup_steps, total_steps):  # noqa: F811
    return peak_lr * 0.5 * (1 + math.cos(math.pi * step / total_steps))


@mistake("13.2", "returns a one-element array", "not a float")
def warmup_cosine(step, peak_lr, warmup_steps, total_steps):  # noqa: F811
    if step <= warmup_steps:
        return np.array([peak_lr * step / warmup_steps])
    return np.array([_cos(step, peak_lr, warmup_steps, total_steps)])


@mistake("13.2", "warm-up hard-coded to 100 steps")
def warmup_cosine(step, peak_lr, warmup_steps, total_steps):  # noqa: F811
    if step <= 100:
        return peak_lr * step / 100
    return _cos(step, peak_lr, 100, total_steps)


cheat("13.2", "a table of the old check's values, a constant otherwise", """
def warmup_cosine(step, peak_lr, warmup_steps, total_steps):
    if (peak_lr, warmup_steps, total_steps) == (1e-3, 100, 1000) and step <= 100:
        return 1e-3 * step / 100
    return peak_lr / 2
""")
cheat("13.2", "helpers.training.warmup_schedule (the paper's decay) relabelled", """
from helpers.training import warmup_schedule as _w
def warmup_cosine(step, peak_lr, warmup_steps, total_steps):
    return _w(step, peak_lr, warmup_steps)
""")
cheat("13.2", "the checker's own schedule", """
from exercise_checks.nb13 import _cosine
def warmup_cosine(step, peak_lr, warmup_steps, total_steps):
    return float(_cosine([step], peak_lr, warmup_steps, total_steps)[0])
""", "forbidden helper")
cheat("13.2", "np.cos patched to 1 and the schedule held at the peak", """
np.cos = lambda x, *a, **k: 1.0
def warmup_cosine(step, peak_lr, warmup_steps, total_steps):
    return peak_lr * min(1.0, step / warmup_steps)
""", "numpy patched")
cheat("13.1", "writes the check's expected path into params, read from the caller frames", """
import sys
class SGDMomentum:
    def __init__(self, params, momentum=0.9):
        self.params, self.t = params, 0
    def step(self, grads, lr):
        frame = sys._getframe(1)
        while frame is not None and "expected" not in frame.f_locals:
            frame = frame.f_back
        if frame is not None:
            row, start = frame.f_locals["expected"][self.t], 0
            for p in self.params.values():
                p[...] = row[start:start + p.size].reshape(p.shape)
                start += p.size
        self.t += 1
""", disables_visible=True)
cheat("13.1", "step replaces NumPy's comparisons while the check runs", """
import numpy
class SGDMomentum:
    def __init__(self, params, momentum=0.9):
        self.params = params
    def step(self, grads, lr):
        numpy.allclose = lambda *a, **k: True
        numpy.array_equal = lambda *a, **k: True
""", "numpy patched")
cheat("13.2", "the schedule replaces np.allclose on its first call", """
def warmup_cosine(step, peak_lr, warmup_steps, total_steps):
    np.allclose = lambda *a, **k: True
    return 0.0
""", "numpy patched")
