"""helpers.training: Adam, the warm-up schedule, the counting task, minibatches, the classifier's
forward/backward, training to the accuracy bar, and five Adam steps against PyTorch.

PyTorch parity in two layers, as tests/test_torch_parity.py: from the committed fixtures
(helpers/reference_data/training_*.safetensors, written by scripts/make_torch_training_fixtures.py;
always run) and live when torch is importable (required under ENCODER_REQUIRE_REFERENCE=1).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import helpers
from helpers import reference
from helpers import training as T

ROOT = Path(__file__).resolve().parents[1]
FIXTURE_CASES = ["training_post_ln_relu_5_steps", "training_pre_ln_gelu_5_steps"]
# Five Adam steps in float64: the two libraries sum in different orders (1e-16 per operation), and
# Adam divides by sqrt(v), which turns a gradient that is mathematically 0 (the key bias b_k: softmax
# ignores a shift shared by a query's row) but 1e-17 in floating point into a step of up to
# lr * 1e-17 / eps = 1e-10. The bar, 1e-8, leaves room for that and catches any real error
# (a wrong gradient or bias correction moves parameters by ~lr = 1e-3 .. 1e-2).
PARAMETER_TOL = 1e-8
LOSS_TOL = 1e-12          # the losses differ only by summation order


def tiny_model(seed=0, **kwargs):
    options = dict(d_model=8, n_heads=2, d_ff=12, n_layers=2, activation="gelu")
    options.update(kwargs)
    return T.init_classifier(np.random.default_rng(seed), 6, 6, **options)


def tiny_batch(seed=1):
    return T.make_counting_data(np.random.default_rng(seed), 3, n_letters=4, min_len=2, max_len=5)


# ====================================================================== Adam


def test_first_adam_step_is_lr_times_sign_thanks_to_bias_correction():
    p = np.array([1.0, -2.0, 3.0])
    g = np.array([0.5, -1e-3, 4.0])
    opt = T.Adam({"p": p}, betas=(0.9, 0.999), eps=1e-8)
    opt.step({"p": g}, lr=0.1)
    # Bias-corrected m = g, v = g^2 after one step: the update is lr * g / (|g| + eps). Without the
    # correction it would be lr * 0.1 g / (sqrt(0.001) |g|), about 3.2x larger.
    np.testing.assert_allclose(p, [1.0, -2.0, 3.0] - 0.1 * g / (np.abs(g) + 1e-8), rtol=0, atol=1e-15)


def test_adam_with_a_constant_gradient_takes_equal_steps():
    p = np.zeros(2)
    opt = T.Adam({"p": p})
    for _ in range(10):
        opt.step({"p": np.array([2.0, -0.5])}, lr=0.01)
    # m and v are exact moving averages of a constant, so every bias-corrected step is lr * sign(g).
    np.testing.assert_allclose(p, [-0.1, 0.1], rtol=1e-8)          # eps / |g| = 1e-9 / 0.5 = 2e-9 per step
    assert opt.t == 10


def test_adam_matches_the_formula_written_out_for_varying_gradients():
    rng = np.random.default_rng(3)
    grads = rng.normal(size=(6, 4))
    p = np.ones(4)
    opt = T.Adam({"p": p}, betas=(0.8, 0.9), eps=1e-6)
    expected, m, v = np.ones(4), np.zeros(4), np.zeros(4)
    for t, g in enumerate(grads, start=1):
        opt.step({"p": g}, lr=0.05)
        m = 0.8 * m + 0.2 * g
        v = 0.9 * v + 0.1 * g**2
        expected = expected - 0.05 * (m / (1 - 0.8**t)) / (np.sqrt(v / (1 - 0.9**t)) + 1e-6)
    np.testing.assert_allclose(p, expected, rtol=1e-13, atol=1e-15)   # same formula, other order


def test_adam_minimises_a_badly_scaled_quadratic():
    scales = np.array([100.0, 1.0, 0.01])                           # curvatures 4 orders apart
    p = np.array([1.0, 1.0, 1.0])
    opt = T.Adam({"p": p})
    for step in range(1, 1001):
        opt.step({"p": 2 * scales * p}, lr=T.warmup_schedule(step, 0.05, 20))
    assert np.abs(p).max() < 0.05, p                               # per-coordinate step sizes: all converge


def test_adam_rejects_mismatched_gradients():
    opt = T.Adam({"a": np.zeros(3)})
    with pytest.raises(ValueError, match="missing \\['a'\\], extra \\['b'\\]"):
        opt.step({"b": np.zeros(3)}, lr=0.1)
    with pytest.raises(ValueError, match=r"gradient of a must have shape \(3,\), got shape \(2,\)"):
        opt.step({"a": np.zeros(2)}, lr=0.1)


# ====================================================================== schedules


def test_warmup_schedule_rises_linearly_then_decays_as_inverse_sqrt():
    lrs = np.array([T.warmup_schedule(s, 1e-3, 100) for s in range(1, 1001)])
    np.testing.assert_allclose(lrs[:100], 1e-3 * np.arange(1, 101) / 100, rtol=1e-12)
    assert lrs.argmax() == 99 and lrs.max() == pytest.approx(1e-3)
    assert T.warmup_schedule(400, 1e-3, 100) == pytest.approx(0.5e-3)  # 4x the warm-up: 1/sqrt(4)
    assert (np.diff(lrs[99:]) < 0).all()


def test_paper_schedule_is_warmup_schedule_with_its_own_peak():
    for d_model, warmup in [(512, 4000), (32, 100)]:
        peak = (d_model * warmup) ** -0.5
        for step in [1, 7, warmup, 3 * warmup, 50 * warmup]:
            assert T.paper_schedule(step, d_model, warmup) == pytest.approx(T.warmup_schedule(step, peak, warmup),
                                                                            rel=1e-12)
    assert T.paper_schedule(4000, 512) == pytest.approx(512**-0.5 * 4000**-0.5)   # the paper's peak, ~7e-4
    assert T.constant_schedule(17, 0.3) == 0.3


@pytest.mark.parametrize("schedule", [lambda s: T.warmup_schedule(s, 1e-3, 10), lambda s: T.paper_schedule(s, 32, 10),
                                      lambda s: T.warmup_schedule(5, 1e-3, s)])
def test_schedules_count_steps_from_one(schedule):
    with pytest.raises(ValueError, match="count from 1"):
        schedule(0)


# ====================================================================== data


def test_counting_targets_are_the_counts():
    data = T.make_counting_data(np.random.default_rng(5), 50, n_letters=3, min_len=1, max_len=9)
    assert data.token_ids.shape == data.targets.shape == data.mask.shape == (50, 10)
    assert (data.token_ids[:, 0] == T.BOS_ID).all() and (data.targets[:, 0] == T.IGNORE_INDEX).all()
    lengths = data.mask.sum(axis=1) - 1
    assert lengths.min() >= 1 and lengths.max() <= 9 and len(set(lengths)) > 3
    for ids, targets, mask in zip(data.token_ids, data.targets, data.mask):   # the slow, obvious way
        letters = list(ids[1:][mask[1:]])
        assert all(2 <= t < 5 for t in letters)
        assert list(targets[1:][mask[1:]]) == [letters.count(t) for t in letters]
        assert (ids[~mask] == T.PAD_ID).all() and (targets[~mask] == T.IGNORE_INDEX).all()


def test_counting_data_is_seeded_and_sliceable():
    a = T.make_counting_data(np.random.default_rng(0), 20)
    b = T.make_counting_data(np.random.default_rng(0), 20)
    np.testing.assert_array_equal(a.token_ids, b.token_ids)
    assert len(a) == 20 and len(a[3:7]) == 4 and a[[1, 2]].targets.shape == (2, 13)
    with pytest.raises(ValueError, match="min_len=5, max_len=3"):
        T.make_counting_data(np.random.default_rng(0), 2, min_len=5, max_len=3)


def test_minibatches_shuffle_every_epoch_and_cover_the_data():
    stream = T.minibatches(np.random.default_rng(0), 10, 3)
    epoch1 = np.concatenate([next(stream) for _ in range(3)])       # 3 full batches; the 10th example waits
    epoch2 = np.concatenate([next(stream) for _ in range(3)])
    assert len(set(epoch1)) == 9 and len(set(epoch2)) == 9
    assert not np.array_equal(epoch1, epoch2)
    again = T.minibatches(np.random.default_rng(0), 10, 3)
    np.testing.assert_array_equal(next(again), epoch1[:3])
    with pytest.raises(ValueError, match="batch_size=11"):
        next(T.minibatches(np.random.default_rng(0), 10, 11))


# ====================================================================== parameters, forward, backward


def test_named_parameters_are_the_models_own_arrays():
    model = tiny_model(norm_first=True)
    params = T.named_parameters(model)
    assert list(params)[:3] == ["embedding", "blocks.0.attention.w_q", "blocks.0.attention.b_q"]
    assert list(params)[-4:] == ["final_norm.gamma", "final_norm.beta", "w_out", "b_out"]
    assert sum(p.size for p in params.values()) == (helpers.count_parameters(model.blocks)
                                                   + 6 * 8 + 2 * 8 + 8 * 6 + 6)
    params["blocks.1.feed_forward.w_2"] += 1.0
    assert model.blocks[1].feed_forward.w_2[0, 0] == params["blocks.1.feed_forward.w_2"][0, 0]
    assert "final_norm.gamma" not in T.named_parameters(tiny_model(norm_first=False))


def test_load_parameters_round_trip_and_errors():
    source, target = tiny_model(seed=1), tiny_model(seed=2)
    T.load_parameters(target, T.named_parameters(source))
    for name, p in T.named_parameters(target).items():
        np.testing.assert_array_equal(p, T.named_parameters(source)[name], err_msg=name)
    values = T.named_parameters(source)
    with pytest.raises(ValueError, match=r"w_out must have shape \(8, 6\), got shape \(6, 8\)"):
        T.load_parameters(target, {**values, "w_out": values["w_out"].T})
    del values["b_out"]
    with pytest.raises(ValueError, match=r"missing \['b_out'\]"):
        T.load_parameters(target, values)


def test_classifier_forward_shapes():
    model, batch = tiny_model(), tiny_batch()
    logits, _ = T.classifier_forward(model, batch.token_ids, batch.mask)
    assert logits.shape == (3, 6, 6)                                 # (B, n, C)
    loss, grads, _ = T.loss_and_grads(model, batch)
    assert np.isfinite(loss) and loss > 0
    for name, g in T.named_parameters(grads).items():
        assert g.shape == T.named_parameters(model)[name].shape, name


def loss_of(model, batch):
    from helpers.backward import cross_entropy_forward
    logits, _ = T.classifier_forward(model, batch.token_ids, batch.mask)
    return float(cross_entropy_forward(logits, batch.targets)[0])


@pytest.mark.parametrize("options", [
    dict(norm_first=False), dict(norm_first=True), dict(residual=False), dict(normalize=False, norm_first=True),
], ids=["post-LN", "pre-LN+final-norm", "no-residual", "no-norm"])
def test_every_gradient_matches_finite_differences(options):
    # GELU (smooth) so a central difference sees no kink; float64, h = 1e-6: truncation ~h^2, round-off
    # ~1e-16 / h = 1e-10 against gradients of ~1e-2..1e0, so 1e-6 relative (plus 1e-9 absolute) holds.
    model, batch = tiny_model(seed=4, **options), tiny_batch(seed=5)
    _, grads, _ = T.loss_and_grads(model, batch)
    analytic = T.named_parameters(grads)
    rng = np.random.default_rng(6)
    checked = 0
    for name, p in T.named_parameters(model).items():
        if options.get("normalize") is False and "norm" in name:
            assert not analytic[name].any(), f"{name}: the norms are skipped, so their gradient must be 0"
        for index in {tuple(int(i) for i in rng.integers(0, p.shape)) for _ in range(3)}:
            old = p[index]
            p[index] = old + 1e-6
            up = loss_of(model, batch)
            p[index] = old - 1e-6
            down = loss_of(model, batch)
            p[index] = old
            numeric = (up - down) / 2e-6
            assert abs(analytic[name][index] - numeric) <= 1e-6 * abs(numeric) + 1e-9, (name, index)
            checked += 1
    assert checked > 40


def test_embedding_gradient_is_zero_for_unused_ids():
    model = tiny_model()
    batch = T.make_counting_data(np.random.default_rng(0), 4, n_letters=2, max_len=4)  # ids 0..3 of 6
    _, grads, _ = T.loss_and_grads(model, batch)
    assert not grads.embedding[4:].any() and grads.embedding[:4].any()


def test_accuracy_counts_only_real_targets():
    logits = np.array([[[0.0, 5.0], [5.0, 0.0], [9.0, 0.0]]])       # predictions 1, 0, 0
    assert T.accuracy(logits, np.array([[1, 1, T.IGNORE_INDEX]])) == 0.5
    with pytest.raises(ValueError, match="at least one target"):
        T.accuracy(logits, np.full((1, 3), T.IGNORE_INDEX))


def test_training_stops_when_the_loss_is_not_finite():
    model, data = tiny_model(), T.make_counting_data(np.random.default_rng(0), 16, n_letters=4, max_len=5)
    with np.errstate(all="ignore"):
        history = T.train(model, data, steps=20, batch_size=4, schedule=lambda step: np.inf)
    assert len(history.loss) < 20 and not np.isfinite(history.loss[-1])


# ====================================================================== the accuracy bar


TRAIN_SCRIPT = """
import json, time
import numpy as np
from helpers import training as T
train = T.make_counting_data(np.random.default_rng(0), 4000)
held_out = T.make_counting_data(np.random.default_rng(1), 1000)
model = T.init_classifier(np.random.default_rng(2), 8, 13, d_model=32, n_heads=2, d_ff=64, n_layers=2)
start = time.perf_counter()
history = T.train(model, train, steps=600, batch_size=32, eval_data=held_out, eval_every=300, seed=0,
                  schedule=lambda step: T.warmup_schedule(step, 2e-3, 100))
print(json.dumps({"seconds": time.perf_counter() - start, "loss": history.loss,
                  "eval_accuracy": history.eval_accuracy}))
"""


def test_training_reaches_95_percent_held_out_accuracy():
    # In a fresh process with one BLAS thread, as the notebook: the matrices are tiny, and several
    # threads (this suite runs two workers) slow such small products down many times over.
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    run = subprocess.run([sys.executable, "-c", TRAIN_SCRIPT], capture_output=True, text=True, env=env,
                         cwd=ROOT, check=True)
    result = json.loads(run.stdout)
    assert result["eval_accuracy"][-1] >= 0.95, result["eval_accuracy"]
    assert np.mean(result["loss"][:20]) > 1.5 > 0.2 > np.mean(result["loss"][-50:]), "the loss must fall"


# ====================================================================== PyTorch parity (fixtures)


def model_from_case(case):
    """The fixture's initial model, rebuilt from its stored parameters and configuration."""
    names = [k[len("initial."):] for k in case if k.startswith("initial.")]
    n_layers = len({name.split(".")[1] for name in names if name.startswith("blocks.")})
    vocab_size, d_model = case["initial.embedding"].shape
    model = T.init_classifier(
        np.random.default_rng(0), vocab_size, case["initial.w_out"].shape[1], d_model=d_model,
        n_heads=int(case["config.n_heads"].item()), d_ff=int(case["config.d_ff"].item()), n_layers=n_layers,
        norm_first=bool(case["config.norm_first"].item()), final_norm=bool(case["config.final_norm"].item()),
        activation="gelu" if case["config.gelu"].item() else "relu",
    )
    return T.load_parameters(model, {name: case["initial." + name] for name in names})


def numpy_adam_steps(case):
    """Our model and Adam on the case's batches and learning rates -> (parameters, losses)."""
    model = model_from_case(case)
    params = T.named_parameters(model)
    optimiser = T.Adam(params)                                       # the paper's betas and eps, as the script
    losses = []
    for step, lr in enumerate(case["lr"]):
        batch = T.CountingData(case["batch_token_ids"][step], case["batch_targets"][step], case["batch_mask"][step])
        loss, grads, _ = T.loss_and_grads(model, batch)
        losses.append(loss)
        optimiser.step(T.named_parameters(grads), float(lr))
    return params, np.array(losses)


def assert_same_training(case, params, losses):
    np.testing.assert_allclose(losses, case["expected_losses"], rtol=LOSS_TOL, atol=LOSS_TOL)
    for name, p in params.items():
        np.testing.assert_allclose(p, case["expected." + name], rtol=0, atol=PARAMETER_TOL, err_msg=name)
        moved = np.abs(case["expected." + name] - case["initial." + name]).max()
        assert moved > 100 * PARAMETER_TOL or name.endswith("b_k"), f"{name} hardly moved: the test would be blind"


@pytest.mark.parametrize("name", FIXTURE_CASES)
def test_five_adam_steps_match_pytorch_fixture(name):
    case = reference.load_reference(name)
    assert case["batch_token_ids"].shape[0] == len(case["lr"]) == 5
    assert not case["batch_mask"].all()                              # there is padding
    params, losses = numpy_adam_steps(case)
    assert_same_training(case, params, losses)


# ====================================================================== PyTorch parity (live)


@pytest.fixture(scope="module")
def fixture_script(torch):
    path = ROOT / "scripts" / "make_torch_training_fixtures.py"
    spec = importlib.util.spec_from_file_location("make_torch_training_fixtures", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_training_fixture_is_checked_here(fixture_script):
    assert sorted(fixture_script.CASES) == sorted(FIXTURE_CASES)


@pytest.mark.parametrize("name", FIXTURE_CASES)
def test_five_adam_steps_match_live_pytorch_and_the_committed_fixture(torch, fixture_script, name):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)                                         # as the script's main() does
    try:
        fresh = fixture_script.CASES[name]()
    finally:
        torch.set_num_threads(threads)
    params, losses = numpy_adam_steps(fresh)
    assert_same_training(fresh, params, losses)
    committed = reference.load_reference(name)
    assert set(fresh) == set(committed)
    for key, value in fresh.items():
        value, stored = np.asarray(value), committed[key]
        assert value.shape == stored.shape and value.dtype == stored.dtype, key
        if key.startswith("expected"):                               # torch's results: tolerance for the CPU
            # atol 1e-9: the key bias b_k has an exact gradient of 0 (softmax ignores a shift shared by
            # a query's scores), so its rounding-level gradient (~1e-17) moves it by lr * g / (sqrt(v) + eps)
            # ~ 1e-11, in a direction set by the CPU's summation order (seen on a Xeon against a fixture
            # made on an EPYC). Adam moves every other parameter by about the learning rate per step.
            np.testing.assert_allclose(value, stored, rtol=1e-12, atol=1e-9, err_msg=key)
        else:                                                        # seeded inputs: bit for bit
            np.testing.assert_array_equal(value, stored, err_msg=key)


def test_live_torch_model_computes_our_logits(torch, fixture_script):
    model, batch = tiny_model(norm_first=True), tiny_batch()
    tmodel = fixture_script.TorchClassifier(model, batch.token_ids.shape[1]).eval()
    with torch.no_grad():
        expected = tmodel(torch.from_numpy(batch.token_ids), torch.from_numpy(batch.mask)).numpy()
    logits, _ = T.classifier_forward(model, batch.token_ids, batch.mask)
    np.testing.assert_allclose(logits, expected, rtol=1e-10, atol=1e-10)   # float64, as test_torch_parity
