"""Time helpers.encoder_block against PyTorch's nn.TransformerEncoderLayer (forward, eval, float32).

Run:  make benchmark   (or .venv/bin/python -m benchmarks.encoder_speed [--repeats N] [--json FILE])
Both libraries get the same number of threads (all cores by default) and run interleaved in one
process: each round times ours, then PyTorch's, so a busy spell on a shared machine hits both.
Reports, per shape, the median over rounds of each side's median time, their ratio (also from the
best runs), and the fraction of NumPy's own float32 matmul peak that our encoder reaches (its matmul
FLOPs / time / peak). With --clock cpu the times are the process's CPU time instead of wall-clock
time: robust when other programs load the machine (use it with --threads 1, where no thread waits).
Targets (issue 20): ours <= 1.0x PyTorch at shapes a and b, <= 1.2x at c.
A benchmark, not a test: numbers vary by machine.
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

SHAPES = {  # name: (B, n, d_model, n_heads, d_ff)
    "a": (1, 10, 512, 8, 2048),
    "b": (8, 128, 512, 8, 2048),
    "c": (32, 128, 384, 12, 1536),
}
TARGETS = {"a": 1.0, "b": 1.0, "c": 1.2}
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def times_of(fn, repeats: int, clock=time.perf_counter) -> list[float]:
    times = []
    for _ in range(repeats):
        start = clock()
        fn()
        times.append(clock() - start)
    return times


def median_time(fn, repeats: int, clock=time.perf_counter) -> float:
    fn()  # warm-up: first calls allocate and load kernels
    return float(np.median(times_of(fn, repeats, clock)))


def encoder_flops(b: int, n: int, d: int, d_ff: int) -> float:
    """Multiply-adds x2 of the block's matrix products (projections, scores, weighted sum, FFN)."""
    projections = 4 * n * d * d          # Q, K, V, output
    attention = 2 * n * n * d            # scores and weights @ V, all heads together
    ffn = 2 * n * d * d_ff
    return 2.0 * b * (projections + attention + ffn)


def matmul_peak(threads: int, size: int = 2048, repeats: int = 5, clock=time.perf_counter) -> float:
    """NumPy's float32 GFLOP/s on a large square matmul: the ceiling for anything built on it."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size), dtype=np.float32)
    b = rng.standard_normal((size, size), dtype=np.float32)
    with threadpool_limits(threads):
        t = median_time(lambda: a @ b, repeats, clock)
    return 2 * size**3 / t / 1e9


def run(repeats: int, threads: int, rounds: int = 3, clock: str = "wall") -> dict:
    torch.set_num_threads(threads)
    tick = CLOCKS[clock]
    peak = matmul_peak(threads, clock=tick)
    rows = []
    for name, (b, n, d, h, d_ff) in SHAPES.items():
        rng = np.random.default_rng(0)
        params = helpers.init_encoder_block(rng, d, h, d_ff, dtype=np.float32)
        x = rng.standard_normal((b, n, d), dtype=np.float32)
        layer = torch.nn.TransformerEncoderLayer(d, h, d_ff, dropout=0.0, batch_first=True).eval()
        layer.load_state_dict({k: torch.from_numpy(v) for k, v in to_torch_encoder_layer(params).items()})
        xt = torch.from_numpy(x)
        ours, theirs = [], []
        with threadpool_limits(threads), torch.inference_mode():
            helpers.encoder_block(x, params)                  # warm-up both
            layer(xt)
            for _ in range(rounds):                           # interleaved: load hits both sides
                ours.append(times_of(lambda: helpers.encoder_block(x, params), repeats, tick))
                theirs.append(times_of(lambda: layer(xt), repeats, tick))
            max_diff = float(np.abs(layer(xt).numpy() - helpers.encoder_block(x, params)).max())
        t_numpy = float(np.median([np.median(r) for r in ours]))
        t_torch = float(np.median([np.median(r) for r in theirs]))
        best_ratio = min(map(min, ours)) / min(map(min, theirs))
        gflops = encoder_flops(b, n, d, d_ff) / t_numpy / 1e9
        rows.append({
            "shape": name, "B": b, "n": n, "d_model": d, "n_heads": h, "d_ff": d_ff,
            "numpy_ms": 1e3 * t_numpy, "torch_ms": 1e3 * t_torch,
            "numpy_over_torch": t_numpy / t_torch, "numpy_over_torch_best": best_ratio,
            "target": TARGETS[name],
            "numpy_gflops": gflops, "fraction_of_matmul_peak": gflops / peak,
            "max_abs_difference": max_diff,
        })
    blas = [{k: i.get(k) for k in ("internal_api", "version", "architecture", "num_threads")}
            for i in threadpool_info()]
    return {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {platform.system()}",
        "threads": threads, "clock": clock, "rounds": rounds, "numpy": np.__version__, "torch": torch.__version__, "blas": blas,
        "numpy_float32_matmul_peak_gflops": peak, "shapes": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10, help="timed calls per side per round")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (median of rounds)")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall",
                        help="wall-clock time, or the process's CPU time (for a loaded machine)")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    result = run(args.repeats, args.threads, args.rounds, args.clock)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    blas = ", ".join(f"{i['internal_api']} {i['version']} ({i['architecture']})"
                     for i in result["blas"] if i["internal_api"] != "openmp")
    print(f"{result['machine']}; {args.threads} threads; numpy {result['numpy']}, torch {result['torch']}; "
          f"NumPy's BLAS: {blas}")
    print(f"{args.clock} clock, {args.rounds} interleaved rounds x {args.repeats} calls per side; "
          f"load average {load:.1f} on {os.cpu_count()} cores{' (loaded: prefer --clock cpu --threads 1)' if load > os.cpu_count() else ''}")
    print(f"NumPy float32 matmul peak: {result['numpy_float32_matmul_peak_gflops']:.1f} GFLOP/s")
    print(f"{'':>2} {'B':>3} {'n':>4} {'d':>4} {'h':>2} {'d_ff':>5} | {'numpy ms':>9} {'torch ms':>9} "
          f"{'ratio':>6} {'best':>5} {'target':>7} | {'GFLOP/s':>8} {'of peak':>7} | max |diff|")
    for r in result["shapes"]:
        verdict = "meets" if r["numpy_over_torch"] <= r["target"] else "misses"
        print(f"{r['shape']:>2} {r['B']:>3} {r['n']:>4} {r['d_model']:>4} {r['n_heads']:>2} {r['d_ff']:>5} | "
              f"{r['numpy_ms']:9.2f} {r['torch_ms']:9.2f} {r['numpy_over_torch']:6.2f} {r['numpy_over_torch_best']:5.2f} "
              f"{'<= ' + format(r['target'], '.1f'):>7} | "
              f"{r['numpy_gflops']:8.1f} {r['fraction_of_matmul_peak']:7.0%} | {r['max_abs_difference']:.1e}  {verdict}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
