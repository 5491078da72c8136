"""Time helpers.encoder_block against PyTorch's nn.TransformerEncoderLayer (forward, eval, float32).

Run:  make benchmark   (or .venv/bin/python -m benchmarks.encoder_speed [--repeats N] [--json FILE])
Both libraries get the same number of threads (all cores by default). Reports, per shape, the
median time of each, their ratio, and the fraction of NumPy's own float32 matmul peak that our
encoder reaches (its matmul FLOPs / time / peak). A benchmark, not a test: numbers vary by machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np
import torch
from threadpoolctl import threadpool_info, threadpool_limits

import helpers
from helpers.interop import to_torch_encoder_layer

SHAPES = [  # (B, n, d_model, n_heads, d_ff)
    (1, 10, 512, 8, 2048),
    (8, 128, 512, 8, 2048),
]


def median_time(fn, repeats: int) -> float:
    fn()  # warm-up: first calls allocate and load kernels
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def encoder_flops(b: int, n: int, d: int, d_ff: int) -> float:
    """Multiply-adds x2 of the block's matrix products (projections, scores, weighted sum, FFN)."""
    projections = 4 * n * d * d          # Q, K, V, output
    attention = 2 * n * n * d            # scores and weights @ V, all heads together
    ffn = 2 * n * d * d_ff
    return 2.0 * b * (projections + attention + ffn)


def matmul_peak(threads: int, size: int = 2048, repeats: int = 5) -> float:
    """NumPy's float32 GFLOP/s on a large square matmul: the ceiling for anything built on it."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size), dtype=np.float32)
    b = rng.standard_normal((size, size), dtype=np.float32)
    with threadpool_limits(threads):
        t = median_time(lambda: a @ b, repeats)
    return 2 * size**3 / t / 1e9


def run(repeats: int, threads: int) -> dict:
    torch.set_num_threads(threads)
    peak = matmul_peak(threads)
    rows = []
    for b, n, d, h, d_ff in SHAPES:
        rng = np.random.default_rng(0)
        params = helpers.init_encoder_block(rng, d, h, d_ff, dtype=np.float32)
        x = rng.standard_normal((b, n, d), dtype=np.float32)
        layer = torch.nn.TransformerEncoderLayer(d, h, d_ff, dropout=0.0, batch_first=True).eval()
        layer.load_state_dict({k: torch.from_numpy(v) for k, v in to_torch_encoder_layer(params).items()})
        xt = torch.from_numpy(x)
        with threadpool_limits(threads):
            t_numpy = median_time(lambda: helpers.encoder_block(x, params), repeats)
        with torch.inference_mode():
            t_torch = median_time(lambda: layer(xt), repeats)
            max_diff = float(np.abs(layer(xt).numpy() - helpers.encoder_block(x, params)).max())
        gflops = encoder_flops(b, n, d, d_ff) / t_numpy / 1e9
        rows.append({
            "B": b, "n": n, "d_model": d, "n_heads": h, "d_ff": d_ff,
            "numpy_ms": 1e3 * t_numpy, "torch_ms": 1e3 * t_torch,
            "numpy_over_torch": t_numpy / t_torch,
            "numpy_gflops": gflops, "fraction_of_matmul_peak": gflops / peak,
            "max_abs_difference": max_diff,
        })
    blas = [{k: i.get(k) for k in ("internal_api", "version", "architecture", "num_threads")}
            for i in threadpool_info()]
    return {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {platform.system()}",
        "threads": threads, "numpy": np.__version__, "torch": torch.__version__, "blas": blas,
        "numpy_float32_matmul_peak_gflops": peak, "shapes": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    result = run(args.repeats, args.threads)
    print(f"{result['machine']}; {args.threads} threads; numpy {result['numpy']}, torch {result['torch']}")
    print(f"NumPy float32 matmul peak: {result['numpy_float32_matmul_peak_gflops']:.1f} GFLOP/s")
    print(f"{'B':>3} {'n':>4} {'d':>4} {'h':>2} {'d_ff':>5} | {'numpy ms':>9} {'torch ms':>9} "
          f"{'ratio':>6} | {'GFLOP/s':>8} {'of peak':>7} | max |diff|")
    for r in result["shapes"]:
        print(f"{r['B']:>3} {r['n']:>4} {r['d_model']:>4} {r['n_heads']:>2} {r['d_ff']:>5} | "
              f"{r['numpy_ms']:9.2f} {r['torch_ms']:9.2f} {r['numpy_over_torch']:6.2f} | "
              f"{r['numpy_gflops']:8.1f} {r['fraction_of_matmul_peak']:7.0%} | {r['max_abs_difference']:.1e}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
