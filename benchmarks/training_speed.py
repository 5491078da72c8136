"""Time one training step (forward, backward, Adam) of helpers.training's model against the same model in PyTorch.

Run:  make benchmark   (or .venv/bin/python -m benchmarks.training_speed [--repeats N] [--threads T] [--json FILE])
Both libraries get the same number of threads (all cores by default), float64 as the NumPy model
trains. The PyTorch model is scripts/make_torch_training_fixtures.py's TorchClassifier (nn.Embedding,
nn.TransformerEncoder, nn.Linear) with the same weights, trained by torch.optim.Adam. Reports, per
shape, the median time of a step in each and their ratio. A benchmark, not a test: numbers vary by machine.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from helpers import training as T

ROOT = Path(__file__).resolve().parents[1]
SHAPES = [  # (B, max_len, d_model, n_heads, d_ff, n_layers)
    (32, 12, 32, 2, 64, 2),        # notebook 13's model
    (16, 8, 16, 2, 32, 8),         # notebook 13's deep stack
    (32, 63, 128, 4, 512, 4),      # a larger model: the matrix products dominate
]


def torch_classifier():
    spec = importlib.util.spec_from_file_location("make_torch_training_fixtures",
                                                  ROOT / "scripts" / "make_torch_training_fixtures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.TorchClassifier, module.torch_adam


def median_time(fn, repeats: int) -> float:
    for _ in range(3):   # warm-up: first calls allocate and load kernels; Adam's state gets created
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def run(repeats: int, threads: int) -> dict:
    torch.set_num_threads(threads)
    TorchClassifier, torch_adam = torch_classifier()
    rows = []
    for b, max_len, d, h, d_ff, n_layers in SHAPES:
        rng = np.random.default_rng(0)
        data = T.make_counting_data(rng, b, max_len=max_len, min_len=max_len // 2)
        model = T.init_classifier(rng, 8, max_len + 1, d_model=d, n_heads=h, d_ff=d_ff, n_layers=n_layers)
        tmodel = TorchClassifier(model, data.token_ids.shape[1]).train()
        params = T.named_parameters(model)
        optimiser = T.Adam(params)
        torch_optimiser = torch_adam(tmodel, lr=1e-4)
        ids, mask, targets = (torch.from_numpy(a) for a in (data.token_ids, data.mask, data.targets))

        def numpy_step():
            _, grads, _ = T.loss_and_grads(model, data)
            optimiser.step(T.named_parameters(grads), 1e-4)

        def torch_step():
            torch_optimiser.zero_grad()
            tmodel.loss(ids, mask, targets).backward()
            torch_optimiser.step()

        with threadpool_limits(threads):
            t_numpy = median_time(numpy_step, repeats)
        t_torch = median_time(torch_step, repeats)
        rows.append({"B": b, "n": max_len + 1, "d_model": d, "n_heads": h, "d_ff": d_ff, "n_layers": n_layers,
                     "numpy_ms": 1e3 * t_numpy, "torch_ms": 1e3 * t_torch, "numpy_over_torch": t_numpy / t_torch})
    return {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {platform.system()}",
        "threads": threads, "numpy": np.__version__, "torch": torch.__version__, "dtype": "float64",
        "shapes": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    result = run(args.repeats, args.threads)
    print(f"one training step (forward, backward, Adam), float64; {result['machine']}; {args.threads} threads; "
          f"numpy {result['numpy']}, torch {result['torch']}")
    print(f"{'B':>3} {'n':>3} {'d':>4} {'h':>2} {'d_ff':>5} {'N':>2} | {'numpy ms':>9} {'torch ms':>9} {'ratio':>6}")
    for r in result["shapes"]:
        print(f"{r['B']:>3} {r['n']:>3} {r['d_model']:>4} {r['n_heads']:>2} {r['d_ff']:>5} {r['n_layers']:>2} | "
              f"{r['numpy_ms']:9.2f} {r['torch_ms']:9.2f} {r['numpy_over_torch']:6.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
