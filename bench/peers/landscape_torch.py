#!/usr/bin/env python3
"""PyTorch CPU peer for bench/landscape.bench.mjs: a 2-D loss landscape the usual way.

Li et al.'s `loss-landscape` (plot_surface.py crunch + net_plotter.set_weights) and the
`loss-landscapes` package both do, for every grid point (α, β):

    for p, w, d1, d2 in zip(model.parameters(), weights, dir1, dir2):
        p.data = w + α·d1 + β·d2            # load the point's weights into the model
    loss, acc = evaluate(model, data)        # one forward pass over the evaluation samples

Here with torch.no_grad(), float32, the 2 000 samples in one forward (their loader's largest
useful batch), the directions given (the same files riverbed uses, so the grids are comparable).
Run as DESIGN.md "Fair peers" says (the bench sets it up): Debian's python3-torch under
/usr/bin/python3 with libopenblas0-pthread, OPENBLAS_CORETYPE from the CPU, OPENBLAS_NUM_THREADS=2,
torch.set_num_threads(1), MALLOC_MMAP_THRESHOLD_=33554432, MALLOC_TRIM_THRESHOLD_=4294967296.

Evaluates the first --rows rows of the grid (all by default); prints one JSON object; writes the
losses of the evaluated points ([rows, nx] float64) with --out.
"""
import argparse
import json
import os
import time

import numpy as np
import torch
import torch.nn.functional as F

from hvp_torch import blas_report, build_model, read_safetensors


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True, help="model.json, weights.safetensors, dx.safetensors, dy.safetensors, x.npy, y.npy")
    ap.add_argument("--nx", type=int, required=True)
    ap.add_argument("--ny", type=int, required=True)
    ap.add_argument("--range", type=float, default=1.0, help="both axes span [-range, range]")
    ap.add_argument("--rows", type=int, default=0, help="evaluate only the first rows of the grid (0: all)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    with open(os.path.join(a.dir, "model.json")) as f:
        desc = json.load(f)
    w = read_safetensors(os.path.join(a.dir, "weights.safetensors"))
    d1 = read_safetensors(os.path.join(a.dir, "dx.safetensors"))
    d2 = read_safetensors(os.path.join(a.dir, "dy.safetensors"))
    model = build_model(desc, w)
    model.eval()
    names = [n for n, _ in model.named_parameters()]
    W = [torch.from_numpy(w[n].copy()) for n in names]
    D1 = [torch.from_numpy(d1[n].copy()) for n in names]
    D2 = [torch.from_numpy(d2[n].copy()) for n in names]
    params = list(model.parameters())
    x = torch.from_numpy(np.load(os.path.join(a.dir, "x.npy")).astype(np.float32))
    y = torch.from_numpy(np.load(os.path.join(a.dir, "y.npy")).astype(np.int64))
    xs = np.linspace(-a.range, a.range, a.nx)
    ys = np.linspace(-a.range, a.range, a.ny)
    rows = a.rows or a.ny
    loss = np.zeros((rows, a.nx))
    acc = np.zeros((rows, a.nx))

    def point(alpha, beta):
        with torch.no_grad():
            for p, w0, u, v in zip(params, W, D1, D2):
                p.data = w0 + alpha * u + beta * v
            z = model(x)
            return F.cross_entropy(z, y, reduction="sum").item() / len(y), (z.argmax(1) == y).float().mean().item()

    point(0.0, 0.0)  # warm-up (first-call allocations)
    t = time.perf_counter()
    for iy in range(rows):
        for ix in range(a.nx):
            loss[iy, ix], acc[iy, ix] = point(float(xs[ix]), float(ys[iy]))
    seconds = time.perf_counter() - t
    if a.out:
        np.save(a.out, loss)
    print(json.dumps({
        "torch": torch.__version__,
        "num_threads": torch.get_num_threads(),
        "points": rows * a.nx,
        "seconds": seconds,
        "ms_per_point": 1000 * seconds / (rows * a.nx),
        "blas": blas_report(),
    }))


if __name__ == "__main__":
    main()
