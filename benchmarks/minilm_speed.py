"""Embed 256 sentences with all-MiniLM-L6-v2: our NumPy encoder against sentence-transformers (PyTorch).

Run from the project folder:   .venv/bin/python -m benchmarks.minilm_speed [--threads N] [--rounds R]
(needs `make reference` for the PyTorch side; ours alone: --only ours). A benchmark, not a test.

Fair play: both get the same sentences (sorted by length and run in batches of 32 -- both
libraries do that), the same number of threads and the CPU only. PyTorch gets
torch.set_num_threads(N). Ours runs N batches at once in N threads, each with a one-thread BLAS
(``encode(workers=N)``): NumPy's element-wise steps (GELU, softmax, layer norm) use one core per
call, so this is how our run uses N cores for them; with N > 1 the table also shows ours with
batches one at a time and an N-thread BLAS ("ours, serial"). Each side runs in its own fresh process, the
two alternating for R rounds, so that neither inherits the other's thread pools or warm caches.
Reported per side: sentences/s from the best and the median run (wall clock), sentences/s per
CPU-second (robust when other programs share the machine), peak RSS of the process (weights
included) and, for ours, the peak of NumPy's allocations during one encode (tracemalloc).
Also the largest difference between the two sides' embeddings. Target: ours >= 1.0x theirs (best runs).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np

N_SENTENCES = 256
BATCH_SIZE = 32
TARGET = 1.0

_SUBJECTS = ["The cat", "A young engineer", "My neighbour's dog", "The committee", "Our small team",
             "A tired student", "The old fisherman", "This transformer model", "The city council",
             "An experienced pilot", "The orchestra", "A curious child"]
_VERBS = ["reads", "builds", "watches", "explains", "paints", "repairs", "studies", "describes",
          "questions", "celebrates", "ignores", "measures"]
_OBJECTS = ["the long report", "a wooden boat", "the evening news", "every word of the sentence",
            "a bright red kite", "the broken bicycle", "the history of the region", "a new recipe",
            "the results of the experiment", "the quiet river", "an unusual painting", "the budget"]
_TAILS = ["before breakfast", "with great care", "despite the heavy rain", "while the others sleep",
          "because nobody else will", "in the small room at the end of the corridor", "every Sunday",
          "after a long and difficult week at work", "without saying a single word", "for the third time",
          "as the sun slowly sets behind the hills and the birds return to their nests",
          "although it is late, the lights are still on and everyone is waiting for the final decision"]


def benchmark_sentences(n: int = N_SENTENCES, seed: int = 0) -> list[str]:
    """n English sentences of 5 to about 45 words, the same every run."""
    rng = np.random.default_rng(seed)
    sentences = []
    for _ in range(n):
        words = [rng.choice(_SUBJECTS), rng.choice(_VERBS), rng.choice(_OBJECTS)]
        words += [str(t) for t in rng.choice(_TAILS, size=int(rng.integers(0, 4)), replace=False)]
        sentences.append(" ".join(words) + rng.choice([".", "!", "?", "."]))
    return sentences


# --- one side, in its own process ----------------------------------------------------------------

def _worker(side: str, threads: int, repeats: int, out_path: str) -> None:
    import resource

    sentences = benchmark_sentences()
    if side.startswith("ours"):
        from threadpoolctl import threadpool_limits

        from helpers.pretrained import load_minilm

        limiter = threadpool_limits(threads)          # noqa: F841  (kept alive for the whole run)
        model = load_minilm()
        workers = 1 if side == "ours_serial" else threads

        def encode():
            return model.encode(sentences, batch_size=BATCH_SIZE, workers=workers)
    else:
        os.environ["HF_HUB_OFFLINE"] = "1"
        import torch
        from sentence_transformers import SentenceTransformer

        from helpers.pretrained import model_dir

        torch.set_num_threads(threads)
        model = SentenceTransformer(str(model_dir()), device="cpu")

        def encode():
            with torch.inference_mode():
                return model.encode(sentences, batch_size=BATCH_SIZE, convert_to_numpy=True)

    embeddings = encode()                              # warm-up: first calls allocate, load kernels,
    encode()                                           # and size the allocator's pools
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        encode()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    result = {"walls": walls, "cpus": cpus}
    if side.startswith("ours"):
        import tracemalloc

        tracemalloc.start()
        encode()
        result["tracemalloc_peak_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    result["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    np.save(out_path, np.asarray(embeddings, dtype=np.float32))
    print(json.dumps(result))


def _run_side(side: str, threads: int, repeats: int, out_path: str) -> dict:
    cmd = [sys.executable, "-m", "benchmarks.minilm_speed", "--worker", side, "--threads", str(threads),
           "--repeats", str(repeats), "--out", out_path]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"the {side} worker failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(threads: int, rounds: int, repeats: int, sides: list[str]) -> dict:
    results = {side: {"walls": [], "cpus": []} for side in sides}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(rounds):
            for side in sides:                        # alternate: a busy spell hits both sides
                r = _run_side(side, threads, repeats, os.path.join(tmp, f"{side}.npy"))
                results[side]["walls"] += r.pop("walls")
                results[side]["cpus"] += r.pop("cpus")
                results[side].update(r)               # memory: the last round's
        embeddings = {side: np.load(os.path.join(tmp, f"{side}.npy")) for side in sides}
    summary = {}
    for side, r in results.items():
        summary[side] = {
            "sentences_per_s_best": N_SENTENCES / min(r["walls"]),
            "sentences_per_s_median": N_SENTENCES / float(np.median(r["walls"])),
            "sentences_per_cpu_s": N_SENTENCES / float(np.median(r["cpus"])),
            "max_rss_mb": r["max_rss_mb"],
            **({"tracemalloc_peak_mb": r["tracemalloc_peak_mb"]} if "tracemalloc_peak_mb" in r else {}),
        }
    out = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "threads": threads, "sentences": N_SENTENCES, "batch_size": BATCH_SIZE,
        "runs_per_side": rounds * repeats, "numpy": np.__version__, "results": summary,
    }
    if "ours" in summary and "reference" in summary:
        ours, theirs = summary["ours"], summary["reference"]
        out["ratio_best"] = ours["sentences_per_s_best"] / theirs["sentences_per_s_best"]
        out["ratio_median"] = ours["sentences_per_s_median"] / theirs["sentences_per_s_median"]
        out["ratio_per_cpu_s"] = ours["sentences_per_cpu_s"] / theirs["sentences_per_cpu_s"]
        out["max_abs_difference"] = float(np.abs(embeddings["ours"] - embeddings["reference"]).max())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=os.cpu_count(),
                        help="threads for both sides (default: all cores)")
    parser.add_argument("--rounds", type=int, default=2, help="fresh processes per side, alternating")
    parser.add_argument("--repeats", type=int, default=5, help="timed encodes per process")
    parser.add_argument("--only", choices=["ours", "ours_serial", "reference"], help="time one side alone")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--worker", choices=["ours", "ours_serial", "reference"], help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        _worker(args.worker, args.threads, args.repeats, args.out)
        return
    sides = [args.only] if args.only else ["ours", "reference"] + (["ours_serial"] if args.threads > 1 else [])
    result = run(args.threads, args.rounds, args.repeats, sides)
    print(f"all-MiniLM-L6-v2, {N_SENTENCES} sentences, batches of {BATCH_SIZE}; {result['machine']}; "
          f"{args.threads} thread(s) each; {result['runs_per_side']} timed runs per side")
    print(f"{'':>26} {'best sent/s':>12} {'median sent/s':>14} {'sent/CPU-s':>11} {'peak RSS':>9} {'peak NumPy':>11}")
    names = {"ours": "ours (NumPy)", "reference": "sentence-transformers", "ours_serial": "ours, serial"}
    for side, r in result["results"].items():
        numpy_peak = f"{r['tracemalloc_peak_mb']:9.0f} MB" if "tracemalloc_peak_mb" in r else f"{'-':>11}"
        print(f"{names[side]:>26} {r['sentences_per_s_best']:12.0f} {r['sentences_per_s_median']:14.0f} "
              f"{r['sentences_per_cpu_s']:11.0f} {r['max_rss_mb']:6.0f} MB {numpy_peak}")
    if "ratio_best" in result:
        verdict = "meets" if result["ratio_best"] >= TARGET else "misses"
        print(f"ours / theirs: {result['ratio_best']:.2f}x (best), {result['ratio_median']:.2f}x (median), "
              f"{result['ratio_per_cpu_s']:.2f}x (per CPU-second); {verdict} the {TARGET}x target (best runs)")
        print(f"max |difference| between the two sides' embeddings: {result['max_abs_difference']:.1e}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
