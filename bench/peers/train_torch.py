#!/usr/bin/env python3
"""PyTorch CPU peer for bench/train.bench.mjs: one training epoch of an MLP on MNIST.

    for each mini-batch (a shuffled permutation, batches by index slicing, the last one smaller):
        loss = F.cross_entropy(model(x[idx]), y[idx])        # mean over the batch
        opt.zero_grad(set_to_none=True); loss.backward(); opt.step()
        lr of the next step set from the cosine schedule (riverbed's learningRate, per step)

on the same model description and initial weights (.safetensors) and the same data (.npy) that
riverbed trains on. PyTorch at its best (DESIGN.md "Fair peers"): data already as tensors in
memory, optimizer foreach=True, no anomaly detection, intra-op threads as asked (--threads),
Debian's python3-torch with OpenBLAS (the bench sets OPENBLAS_CORETYPE from the CPU and
OPENBLAS_NUM_THREADS); min of --repeats epochs after --warmup epochs. The weights carry on from
epoch to epoch (as in real training); every epoch uses the schedule of a --epochs-long run.

Prints one JSON object on stdout.
"""
import argparse
import json
import math
import os
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hvp_torch import blas_report, build_model, read_safetensors  # noqa: E402


def learning_rate(base, t, total, warmup=0):
    """riverbed's src/train/schedule.ts, cosine, minFactor 0."""
    if t < warmup:
        return base * (t + 1) / warmup
    p = min(1.0, max(0.0, (t - warmup) / max(1, total - warmup)))
    return base * 0.5 * (1 + math.cos(math.pi * p))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True, help="model.json, weights.safetensors")
    ap.add_argument("--data", required=True, help="directory with x.npy [N, D] float32 and y.npy [N]")
    ap.add_argument("--batch", type=int, required=True)
    ap.add_argument("--optimizer", default="sgd", choices=["sgd", "adam", "adamw"])
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--weight-decay", type=float, default=0.0)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (intra-op)")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    torch.autograd.set_detect_anomaly(False)
    with open(os.path.join(a.dir, "model.json")) as f:
        desc = json.load(f)
    model = build_model(desc, read_safetensors(os.path.join(a.dir, "weights.safetensors")))
    x = torch.from_numpy(np.load(os.path.join(a.data, "x.npy")).astype(np.float32, copy=False))
    y = torch.from_numpy(np.load(os.path.join(a.data, "y.npy")).astype(np.int64))
    n = x.shape[0]
    steps = (n + a.batch - 1) // a.batch
    epochs = a.warmup + a.repeats
    total = steps * epochs
    params = list(model.parameters())
    if a.optimizer == "sgd":
        opt = torch.optim.SGD(params, lr=a.lr, momentum=a.momentum, weight_decay=a.weight_decay, foreach=True)
    elif a.optimizer == "adam":
        opt = torch.optim.Adam(params, lr=a.lr, weight_decay=a.weight_decay, foreach=True)
    else:
        opt = torch.optim.AdamW(params, lr=a.lr, weight_decay=a.weight_decay, foreach=True)
    group = opt.param_groups[0]

    t_step = 0
    times, cpu, losses = [], [], []
    for e in range(epochs):
        t0 = time.perf_counter()
        c0 = time.process_time()
        perm = torch.randperm(n)
        loss_sum = 0.0
        for s in range(steps):
            idx = perm[s * a.batch : (s + 1) * a.batch]
            xb, yb = x[idx], y[idx]
            group["lr"] = learning_rate(a.lr, t_step, total)
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += loss.detach() * idx.shape[0]
            t_step += 1
        mean = float(loss_sum) / n
        dt = time.perf_counter() - t0
        dc = time.process_time() - c0
        losses.append(mean)
        if e >= a.warmup:
            times.append(dt)
            cpu.append(dc)
    cfg = torch.__config__.show()
    blas_info = next((s.strip() for s in cfg.replace(",", "\n").splitlines() if "BLAS_INFO" in s), "?")
    print(json.dumps({
        "torch": torch.__version__,
        "num_threads": torch.get_num_threads(),
        "env": {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_NUM_THREADS", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")},
        "build_blas_info": blas_info,
        "blas": blas_report(),
        "samples": int(n),
        "batch": a.batch,
        "steps_per_epoch": steps,
        "epoch_loss": losses,
        "repeats": a.repeats,
        "min_ms": min(times) * 1e3,
        "median_ms": statistics.median(times) * 1e3,
        "all_ms": [round(t * 1e3, 2) for t in times],
        "cpu_ms": [round(t * 1e3, 2) for t in cpu],
    }))


if __name__ == "__main__":
    main()
