#!/usr/bin/env python3
"""GEMM peak of this machine for bench/hvp.bench.mjs: numpy float32 matmul n x n (default 2048).

Run with OPENBLAS_CORETYPE set from the CPU (the bench detects it: OpenBLAS mis-detects Zen 5 as
Haswell and runs at half speed) and OPENBLAS_NUM_THREADS as wanted. Reports the kernel OpenBLAS
actually chose (threadpoolctl if installed, else openblas_get_corename through ctypes on the
library the process mapped). Prints one JSON object.
"""
import argparse
import ctypes
import json
import os
import time

import numpy as np


def openblas_info():
    try:
        import threadpoolctl  # noqa: PLC0415

        for m in threadpoolctl.threadpool_info():
            if m.get("internal_api") == "openblas":
                return {"via": "threadpoolctl", "core": m.get("architecture"), "threads": m.get("num_threads"), "library": m.get("filepath")}
    except ImportError:
        pass
    with open("/proc/self/maps") as f:
        libs = sorted({line.split()[-1] for line in f if "openblas" in line.lower()})
    for p in libs:
        try:
            lib = ctypes.CDLL(p)
        except OSError:
            continue
        for prefix in ("scipy_openblas_", "openblas_"):
            for suffix in ("64_", ""):
                try:
                    core = getattr(lib, f"{prefix}get_corename{suffix}")
                    threads = getattr(lib, f"{prefix}get_num_threads{suffix}")
                except AttributeError:
                    continue
                core.restype = ctypes.c_char_p
                return {"via": "ctypes", "core": core().decode(), "threads": threads(), "library": p}
    return {"via": None, "core": None, "threads": None, "library": libs[0] if libs else None}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2048)
    ap.add_argument("--repeats", type=int, default=10)
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    A = rng.standard_normal((a.n, a.n), dtype=np.float32)
    B = rng.standard_normal((a.n, a.n), dtype=np.float32)
    C = A @ B  # warm-up: threads started, pages touched
    times, cpu = [], []
    for _ in range(a.repeats):
        t = time.perf_counter()
        c = time.process_time()
        np.matmul(A, B, out=C)
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    flops = 2.0 * a.n**3
    print(json.dumps({
        "numpy": np.__version__,
        "n": a.n,
        "env": {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_NUM_THREADS", "OPENBLAS_L2_SIZE")},
        "openblas": openblas_info(),
        "min_ms": min(times) * 1e3,
        "gflops": flops / min(times) / 1e9,
        "gflops_median": flops / sorted(times)[len(times) // 2] / 1e9,
        # Per CPU-second of this process (all its threads): the work rate a busy machine distorts less.
        "gflops_cpu": flops / min(cpu) / 1e9,
    }))


if __name__ == "__main__":
    main()
