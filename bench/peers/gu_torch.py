#!/usr/bin/env python3
"""PyTorch CPU peer for bench/gu.bench.mjs: one GU step of an MLP, as riverbed's GuStepper does it
(src/unlearn/gu.ts, per-tensor scope, sgd geometry, H = I):

    g_r = grad of mean CE on the retain batch, g_f = the same on the forget batch
    per parameter tensor (a ring of the last k accepted retain gradients U):
        residual of g_r against the rows that stay (all but the oldest once full): accept if
        ||r|| >= 1e-3 ||g_r|| (then g_r replaces the oldest row)
        g_perp = g_f - U (U^T U)^{-1} U^T g_f   (U Uᵀ and U g by BLAS in float32, the k×k solve in float64)
        p <- p - lr * (-g_perp + alpha * g_r)

on the same weights and batches riverbed uses. PyTorch at its best (DESIGN.md "Fair peers"): data as
tensors in memory, no anomaly detection, intra-op threads as asked. The median of --repeats steps
after one warm-up step. Prints one JSON object on stdout.
"""
import argparse
import json
import os
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hvp_torch import blas_report, build_model, read_safetensors  # noqa: E402


class Ring:
    """The last k accepted retain gradients of one tensor: a preallocated [k, n] float32 ring."""

    def __init__(self, k, n):
        self.U = torch.zeros(k, n)
        self.k, self.first, self.count = k, 0, 0

    def rows(self, skip_oldest=False):
        start = self.first + (1 if skip_oldest else 0)
        m = self.count - (1 if skip_oldest else 0)
        return [(start + j) % self.k for j in range(m)]

    def project(self, g, rows):
        """g - U (U^T U)^{-1} U^T g over the given slots: one GEMM-shaped pass for U Uᵀ and U g
        over the whole ring (BLAS, float32), the small solve in float64, one pass for g - aᵀU."""
        if not rows:
            return g
        U = self.U if len(rows) == self.k else self.U[rows]
        gram = (U @ U.T).double()
        c = (U @ g).double()
        a = torch.linalg.solve(gram, c).float()
        return g - a @ U

    def insert(self, u):
        slot = self.first if self.count == self.k else (self.first + self.count) % self.k
        self.U[slot].copy_(u)
        if self.count == self.k:
            self.first = (self.first + 1) % self.k
        else:
            self.count += 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True, help="model.json, weights.safetensors, xr/yr/xf/yf .npy")
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--alpha", type=float, default=1.0)
    ap.add_argument("--accept", type=float, default=1e-3)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.autograd.set_detect_anomaly(False)
    with open(os.path.join(a.dir, "model.json")) as f:
        desc = json.load(f)
    model = build_model(desc, read_safetensors(os.path.join(a.dir, "weights.safetensors")))
    load = lambda name, dt: torch.from_numpy(np.load(os.path.join(a.dir, name)).astype(dt, copy=False))
    xr, yr = load("xr.npy", np.float32), load("yr.npy", np.int64)
    xf, yf = load("xf.npy", np.float32), load("yf.npy", np.int64)
    params = list(model.parameters())
    rings = [Ring(a.k, p.numel()) for p in params]

    def grads(x, y):
        loss = F.cross_entropy(model(x), y)
        return [g.reshape(-1) for g in torch.autograd.grad(loss, params)]

    def step():
        gr = grads(xr, yr)
        gf = grads(xf, yf)
        with torch.no_grad():
            for i, p in enumerate(params):
                ring = rings[i]
                u = gr[i]
                r = ring.project(u, ring.rows(skip_oldest=ring.count == a.k))
                un = float(u.norm())
                if un > 0 and float(r.norm()) >= a.accept * un:
                    ring.insert(u)
                gp = ring.project(gf[i], ring.rows())
                d = -gp + a.alpha * u
                p.sub_(a.lr * d.reshape(p.shape))

    step()
    times = []
    for _ in range(a.repeats):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    print(json.dumps({
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "blas": blas_report(),
        "k": a.k,
        "ms": statistics.median(times) * 1e3,
        "min_ms": min(times) * 1e3,
        "all_ms": [round(t * 1e3, 2) for t in times],
    }))


if __name__ == "__main__":
    main()
