"""Stage 13: training an encoder from scratch in NumPy.

A small token classifier (embeddings * sqrt(d_model) + sinusoidal positions -> N encoder blocks ->
a linear output layer per token), its forward and backward pass (through helpers.backward), Adam,
the warm-up learning-rate schedule, seeded minibatches, and a synthetic task that needs attention:
for every token, predict how many times it occurs in its sequence.

Shapes: B sequences, n positions (BOS + the longest sequence, padded), d_model features, V token ids,
C classes. Token ids (B, n) -> logits (B, n, C). Padded positions carry the target ``IGNORE_INDEX``.
Parameters travel as a dict ``{name: array}`` (``named_parameters``) whose arrays *are* the model's:
the optimiser updates them in place.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass

import numpy as np

from ._checks_internal import check_shape, float_array, int_array, positive_float, positive_int
from .embeddings import encoder_input, init_embedding_table
from .encoder import EncoderBlockParams, init_encoder_stack
from .layers import LayerNormParams

__all__ = [
    "IGNORE_INDEX",
    "PAD_ID",
    "BOS_ID",
    "CountingData",
    "make_counting_data",
    "minibatches",
    "EncoderClassifier",
    "init_classifier",
    "named_parameters",
    "load_parameters",
    "classifier_forward",
    "classifier_backward",
    "loss_and_grads",
    "accuracy",
    "evaluate",
    "Adam",
    "warmup_schedule",
    "paper_schedule",
    "constant_schedule",
    "TrainingHistory",
    "train",
]

IGNORE_INDEX = -100         # target of positions that do not count (padding, BOS), as in PyTorch
PAD_ID, BOS_ID = 0, 1       # token ids 0 and 1 are special; the letters are 2, 3, ...


# ============================================================================ the task


@dataclass
class CountingData:
    """A counting data set: every real token's target is how often it occurs in its sequence.

    token_ids: (N, n) int, BOS at position 0, then the letters, then PAD.
    targets: (N, n) int, the count (1 ... n - 1) at letters, IGNORE_INDEX at BOS and padding.
    mask: (N, n) bool key-padding mask, True = real token (BOS included).
    """

    token_ids: np.ndarray
    targets: np.ndarray
    mask: np.ndarray

    def __len__(self) -> int:
        return len(self.token_ids)

    def __getitem__(self, index) -> "CountingData":
        return CountingData(self.token_ids[index], self.targets[index], self.mask[index])


def make_counting_data(rng: np.random.Generator, n_sequences: int, n_letters: int = 6,
                       min_len: int = 4, max_len: int = 12) -> CountingData:
    """Random sequences of ``min_len`` ... ``max_len`` letters drawn uniformly from ``n_letters``.

    A letter's target depends on every other position of its sequence (which letters are there),
    so no per-position function can solve it: the model has to attend. The BOS token gives the
    model a fixed place to look that is not a letter (like BERT's [CLS]), which makes counting
    easy to express: the less weight a query puts on BOS, the more copies of it there are.
    Returns arrays of width n = max_len + 1; vocabulary size 2 + n_letters, max_len + 1 classes.
    """
    if not 1 <= min_len <= max_len or n_letters < 1 or n_sequences < 0:
        raise ValueError(f"need n_letters >= 1 and 1 <= min_len <= max_len, got n_letters={n_letters}, "
                         f"min_len={min_len}, max_len={max_len}")
    lengths = rng.integers(min_len, max_len + 1, size=n_sequences)
    letters = rng.integers(2, 2 + n_letters, size=(n_sequences, max_len))
    is_letter = np.arange(max_len)[None, :] < lengths[:, None]                 # (N, max_len)
    letters = np.where(is_letter, letters, PAD_ID)
    same = (letters[:, :, None] == letters[:, None, :]) & is_letter[:, None, :]  # (N, max_len, max_len)
    counts = np.where(is_letter, same.sum(axis=-1), IGNORE_INDEX)
    bos = np.full((n_sequences, 1), BOS_ID)
    return CountingData(
        token_ids=np.concatenate([bos, letters], axis=1),
        targets=np.concatenate([np.full((n_sequences, 1), IGNORE_INDEX), counts], axis=1),
        mask=np.concatenate([np.ones((n_sequences, 1), bool), is_letter], axis=1),
    )


def minibatches(rng: np.random.Generator, n_examples: int, batch_size: int):
    """Endless stream of index arrays (batch_size,): a fresh seeded shuffle every epoch.

    The last, short batch of an epoch is dropped, so every batch has the same shape.
    """
    if not 1 <= batch_size <= n_examples:
        raise ValueError(f"need 1 <= batch_size <= n_examples = {n_examples}, got batch_size={batch_size}")
    while True:
        order = rng.permutation(n_examples)
        for start in range(0, n_examples - batch_size + 1, batch_size):
            yield order[start:start + batch_size]


# ============================================================================ the model


@dataclass
class EncoderClassifier:
    """Embedding table, encoder stack and output layer of a per-token classifier.

    embedding: (V, d_model); blocks: N EncoderBlockParams; final_norm: LayerNormParams (d_model,)
    or None (pre-LN stacks have one, post-LN stacks do not need one); w_out: (d_model, C); b_out: (C,).
    residual, normalize: False drops every skip connection / every layer norm (the ablations).
    The same structure holds gradients (dL/d every array), as returned by ``classifier_backward``.
    """

    embedding: np.ndarray
    blocks: list[EncoderBlockParams]
    final_norm: LayerNormParams | None
    w_out: np.ndarray
    b_out: np.ndarray
    residual: bool = True
    normalize: bool = True

    def __post_init__(self):
        if not self.blocks:
            raise ValueError("an EncoderClassifier needs at least one block, got 0")
        d_model = self.blocks[0].d_model
        self.embedding = check_shape(self.embedding, (self.embedding.shape[0], d_model), "embedding")
        n_classes = np.shape(self.w_out)[-1]
        self.w_out = check_shape(self.w_out, (d_model, n_classes), "w_out")
        self.b_out = check_shape(self.b_out, (n_classes,), "b_out")

    @property
    def d_model(self) -> int:
        return self.blocks[0].d_model

    @property
    def vocab_size(self) -> int:
        return self.embedding.shape[0]

    @property
    def n_classes(self) -> int:
        return self.w_out.shape[1]


def init_classifier(rng: np.random.Generator, vocab_size: int, n_classes: int, *, d_model: int = 32,
                    n_heads: int = 2, d_ff: int = 64, n_layers: int = 2, norm_first: bool = False,
                    activation: str = "relu", final_norm: bool | None = None, residual: bool = True,
                    normalize: bool = True) -> EncoderClassifier:
    """A seeded, randomly initialised classifier.

    Embedding rows ~ N(0, 1/d_model) (so after the sqrt(d_model) scale they match the positions'
    size), blocks as PyTorch initialises them, the output layer as nn.Linear (uniform
    +-1/sqrt(d_model)). final_norm defaults to True for pre-LN, False for post-LN.
    """
    embedding = init_embedding_table(rng, vocab_size, d_model)
    blocks = init_encoder_stack(rng, n_layers, d_model, n_heads, d_ff, norm_first=norm_first,
                                activation=activation)
    bound = 1 / np.sqrt(d_model)
    w_out = rng.uniform(-bound, bound, size=(d_model, n_classes))
    b_out = rng.uniform(-bound, bound, size=n_classes)
    use_final_norm = norm_first if final_norm is None else final_norm
    norm = LayerNormParams(np.ones(d_model), np.zeros(d_model)) if use_final_norm else None
    return EncoderClassifier(embedding, blocks, norm, w_out, b_out, residual=residual, normalize=normalize)


def named_parameters(tree, prefix: str = "") -> dict[str, np.ndarray]:
    """Every array of a model (or of its gradients) by a dotted name, in a fixed order.

    The arrays are the model's own (no copies): updating them in place updates the model.
    Names look like "embedding", "blocks.0.attention.w_q", "final_norm.gamma", "w_out".
    """
    if isinstance(tree, np.ndarray):
        return {prefix.rstrip("."): tree}
    if isinstance(tree, (list, tuple)):
        items = [(str(i), v) for i, v in enumerate(tree)]
    elif is_dataclass(tree):
        items = [(f.name, getattr(tree, f.name)) for f in fields(tree)]
    else:                                                   # flags, n_heads, eps, None: not learned
        return {}
    out = {}
    for name, value in items:
        out.update(named_parameters(value, f"{prefix}{name}."))
    return out


def load_parameters(model: EncoderClassifier, values: dict[str, np.ndarray]) -> EncoderClassifier:
    """Copy ``values`` ({name: array}, names as ``named_parameters``) into the model's arrays, in place.

    Every parameter must be given, with its shape. Returns the model.
    """
    params = named_parameters(model)
    if values.keys() != params.keys():
        raise ValueError(f"values must name every parameter; missing {sorted(params.keys() - values.keys())}, "
                         f"extra {sorted(values.keys() - params.keys())}")
    for name, p in params.items():
        p[...] = check_shape(values[name], p.shape, name)
    return model


def classifier_forward(model: EncoderClassifier, token_ids, mask=None):
    """token_ids (B, n) int, mask (B, n) bool -> (logits (B, n, C), cache for the backward pass)."""
    from .backward import encoder_stack_forward, linear_forward

    ids = int_array(token_ids, "token_ids")
    x = encoder_input(ids, model.embedding, scale=True)                      # (B, n, d_model)
    final_norm = model.final_norm if model.normalize else None
    hidden, stack_cache = encoder_stack_forward(x, model.blocks, mask, final_norm,
                                                residual=model.residual, normalize=model.normalize)
    logits, out_cache = linear_forward(hidden, model.w_out, model.b_out)     # (B, n, C)
    return logits, (ids, model, stack_cache, out_cache)


def classifier_backward(grad_logits, cache) -> EncoderClassifier:
    """dL/dlogits (B, n, C) -> dL/d every parameter, as an EncoderClassifier of the same shapes."""
    from .backward import embedding_backward, encoder_stack_backward, linear_backward

    ids, model, stack_cache, out_cache = cache
    grad_hidden, grad_w_out, grad_b_out = linear_backward(grad_logits, out_cache)
    grad_x, block_grads, final_norm_grads = encoder_stack_backward(grad_hidden, stack_cache)
    # encoder_input scaled the looked-up rows by sqrt(d_model); the positions have no parameters.
    grad_embedding = embedding_backward(grad_x * np.sqrt(model.d_model), ids, model.vocab_size)
    if model.final_norm is not None and final_norm_grads is None:           # normalize=False skipped it
        final_norm_grads = LayerNormParams(np.zeros(model.d_model), np.zeros(model.d_model))
    return EncoderClassifier(grad_embedding, block_grads, final_norm_grads, grad_w_out, grad_b_out,
                             residual=model.residual, normalize=model.normalize)


def loss_and_grads(model: EncoderClassifier, batch: CountingData):
    """Mean cross-entropy over the batch's real targets, and its gradient for every parameter.

    Returns (loss: float, grads: EncoderClassifier, logits (B, n, C)).
    """
    from .backward import cross_entropy_backward, cross_entropy_forward

    logits, cache = classifier_forward(model, batch.token_ids, batch.mask)
    loss, loss_cache = cross_entropy_forward(logits, batch.targets, ignore_index=IGNORE_INDEX)
    grads = classifier_backward(cross_entropy_backward(loss_cache), cache)
    return float(loss), grads, logits


def accuracy(logits, targets, ignore_index: int = IGNORE_INDEX) -> float:
    """Fraction of non-ignored positions whose largest logit is the target. logits (..., C), targets (...)."""
    logits, targets = float_array(logits, "logits"), int_array(targets, "targets")
    if logits.ndim < 1 or logits.shape[-1] == 0 or targets.shape != logits.shape[:-1]:
        raise ValueError(f"logits must have shape (..., C) with C >= 1 and targets logits' shape without the class "
                         f"axis; got shapes {logits.shape} and {targets.shape}")
    counted = targets != ignore_index
    if not counted.any():
        raise ValueError("accuracy needs at least one target that is not ignore_index")
    return float((logits.argmax(axis=-1) == targets)[counted].mean())


def evaluate(model: EncoderClassifier, data: CountingData) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) of the model on a whole data set, no gradients."""
    from .backward import cross_entropy_forward

    logits, _ = classifier_forward(model, data.token_ids, data.mask)
    loss, _ = cross_entropy_forward(logits, data.targets, ignore_index=IGNORE_INDEX)
    return float(loss), accuracy(logits, data.targets)


# ============================================================================ optimiser and schedule


class Adam:
    """Adam (Kingma & Ba 2015) with bias correction, updating the arrays of ``params`` in place.

    For every parameter p with gradient g, at step t = 1, 2, ...:
        m = beta1 m + (1 - beta1) g            v = beta2 v + (1 - beta2) g^2
        p -= lr * (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + eps)
    Defaults are the paper's (Attention Is All You Need, 5.3): beta1 0.9, beta2 0.98, eps 1e-9.
    The bias correction matters early: m and v start at 0, so without it the first steps would be
    far too small. This is PyTorch's torch.optim.Adam (no weight decay, no amsgrad).
    """

    def __init__(self, params: dict[str, np.ndarray], betas: tuple[float, float] = (0.9, 0.98),
                 eps: float = 1e-9):
        if not isinstance(params, dict):
            raise TypeError(f"params must be a dict {{name: array}} (named_parameters(model)), got {type(params).__name__}")
        for name, p in params.items():
            if not isinstance(p, np.ndarray) or p.dtype not in (np.float32, np.float64) or not p.flags.writeable:
                raise TypeError(f"params[{name!r}] must be a writable float32 or float64 NumPy array (updated in "
                                f"place), got {type(p).__name__} {getattr(p, 'dtype', '')}")
        if (not isinstance(betas, (tuple, list)) or len(betas) != 2
                or not all(isinstance(b, (int, float)) and 0 <= b < 1 for b in betas)):
            raise ValueError(f"betas must be two numbers in [0, 1), got {betas!r}")
        self.params = params
        self.beta1, self.beta2 = betas
        self.eps = positive_float(eps, "eps", allow_zero=True)
        self.t = 0
        self.m = {name: np.zeros_like(p) for name, p in params.items()}
        self.v = {name: np.zeros_like(p) for name, p in params.items()}

    def step(self, grads: dict[str, np.ndarray], lr: float) -> None:
        """One update with learning rate ``lr``; ``grads`` has the same names and shapes as params.

        Every gradient is checked (names, shapes, float dtype) before any parameter changes: a bad
        gradient raises and leaves the parameters, the moments and ``t`` as they were.
        """
        grads = self._checked(grads)
        if isinstance(lr, (bool, np.bool_)) or not isinstance(lr, (int, float, np.integer, np.floating)):
            raise TypeError(f"lr must be a number, got {type(lr).__name__} {lr!r}")
        self.t += 1
        correction1 = 1 - self.beta1 ** self.t
        correction2 = 1 - self.beta2 ** self.t
        for name, p in self.params.items():
            g = grads[name]
            m, v = self.m[name], self.v[name]
            m *= self.beta1
            m += (1 - self.beta1) * g
            v *= self.beta2
            v += (1 - self.beta2) * np.square(g)
            # The same arithmetic, in the same order, as torch.optim.Adam's single-tensor path.
            denom = np.sqrt(v) / np.sqrt(correction2) + self.eps
            p -= (lr / correction1) * (m / denom)


    def _checked(self, grads) -> dict[str, np.ndarray]:
        if not hasattr(grads, "keys"):
            raise TypeError(f"grads must be a dict {{name: array}} (named_parameters(grads)), got {type(grads).__name__}")
        if grads.keys() != self.params.keys():
            raise ValueError(f"grads must have the parameters' names; missing {sorted(self.params.keys() - grads.keys())}, "
                             f"extra {sorted(grads.keys() - self.params.keys())}")
        checked = {}
        for name, p in self.params.items():
            g = float_array(grads[name], f"gradient of {name}")
            if g.shape != p.shape:
                raise ValueError(f"gradient of {name} must have shape {p.shape}, got shape {g.shape}")
            checked[name] = g
        return checked


def warmup_schedule(step: int, peak_lr: float, warmup_steps: int) -> float:
    """Linear warm-up to ``peak_lr`` over ``warmup_steps``, then decay as 1/sqrt(step).

    lr(step) = peak_lr * min(step / warmup, sqrt(warmup / step)), steps counted from 1.
    Why warm up: at the start Adam's estimates of v rest on few gradients and the weights are
    random, so large steps can throw the model somewhere it never recovers from (post-LN above all).
    """
    step, warmup_steps = positive_int(step, "step", minimum=-(2**63)), positive_int(warmup_steps, "warmup_steps", minimum=-(2**63))
    if step < 1 or warmup_steps < 1:
        raise ValueError(f"step and warmup_steps count from 1, got step={step}, warmup_steps={warmup_steps}")
    return peak_lr * min(step / warmup_steps, (warmup_steps / step) ** 0.5)


def paper_schedule(step: int, d_model: int, warmup_steps: int = 4000) -> float:
    """The paper's schedule (5.3): d_model^-0.5 * min(step^-0.5, step * warmup^-1.5).

    It is ``warmup_schedule`` with peak_lr = (d_model * warmup_steps)^-0.5.
    """
    step, warmup_steps = positive_int(step, "step", minimum=-(2**63)), positive_int(warmup_steps, "warmup_steps", minimum=-(2**63))
    if step < 1 or warmup_steps < 1:
        raise ValueError(f"step and warmup_steps count from 1, got step={step}, warmup_steps={warmup_steps}")
    positive_int(d_model, "d_model")
    return d_model ** -0.5 * min(step ** -0.5, step * warmup_steps ** -1.5)


def constant_schedule(step: int, lr: float) -> float:
    """No warm-up, no decay: the same ``lr`` at every step (the ablation's schedule)."""
    return lr


# ============================================================================ the loop


@dataclass
class TrainingHistory:
    """What happened during training. Per step: loss, accuracy (of that batch), lr, each (steps,).
    Per evaluation: eval_steps, eval_loss, eval_accuracy (held-out data)."""

    loss: list = field(default_factory=list)
    accuracy: list = field(default_factory=list)
    lr: list = field(default_factory=list)
    eval_steps: list = field(default_factory=list)
    eval_loss: list = field(default_factory=list)
    eval_accuracy: list = field(default_factory=list)


def train(model: EncoderClassifier, data: CountingData, *, steps: int, batch_size: int = 64,
          schedule=lambda step: warmup_schedule(step, 3e-3, 100), seed: int = 0,
          eval_data: CountingData | None = None, eval_every: int = 100,
          betas: tuple[float, float] = (0.9, 0.98), eps: float = 1e-9) -> TrainingHistory:
    """Train ``model`` in place with Adam on seeded minibatches of ``data`` for ``steps`` steps.

    schedule: step (from 1) -> learning rate. eval_data: held-out data, evaluated every
    ``eval_every`` steps and after the last. A non-finite loss stops training early (the history
    then ends there): a diverged run stays diverged, and there is no point computing NaNs.
    """
    steps = positive_int(steps, "steps", minimum=0)
    eval_every = positive_int(eval_every, "eval_every")
    if not callable(schedule):
        raise TypeError(f"schedule must be a function step -> learning rate, got {type(schedule).__name__}")
    params = named_parameters(model)
    optimiser = Adam(params, betas=betas, eps=eps)
    batches = minibatches(np.random.default_rng(seed), len(data), batch_size)
    history = TrainingHistory()
    for step in range(1, steps + 1):
        batch = data[next(batches)]
        loss, grads, logits = loss_and_grads(model, batch)
        history.loss.append(loss)
        if not np.isfinite(loss):
            break
        history.accuracy.append(accuracy(logits, batch.targets))
        lr = schedule(step)
        history.lr.append(lr)
        optimiser.step(named_parameters(grads), lr)
        if eval_data is not None and (step % eval_every == 0 or step == steps):
            eval_loss, eval_accuracy = evaluate(model, eval_data)
            history.eval_steps.append(step)
            history.eval_loss.append(eval_loss)
            history.eval_accuracy.append(eval_accuracy)
    return history
