#!/usr/bin/env python3
"""Peers for bench/bisim.bench.mjs: the bisimulation loss of a batch paired by a permutation and its
gradient w.r.t. the embeddings z (the target held constant), as riverbed's bisimulationLoss op:

    j = perm[i], dist_i = ||z_i - z_j||_2, W_i = sqrt(||mu_i - mu_j||^2 + ||sigma_i - sigma_j||^2)
    res_i = dist_i - (|r_i - r_j| + gamma * W_i), loss = mean(res_i^2), grad = d loss / d z

--impl numpy        vectorised numpy with a hand-written gradient (coef_i * (z_i - z_j) added to
                    row i and subtracted from row j: g[perm] -= v, perm being a permutation)
--impl torch        PyTorch as DBC's update_encoder writes it (h[perm], the target under no_grad),
                    with torch.linalg.vector_norm for the Euclidean distance, loss.backward()
--impl torch-manual PyTorch tensors with the numpy peer's hand-written gradient (no autograd)

Inputs are .npy files in --dir (z, reward, mu, sigma float32; perm int32), written by the bench.
Each at its best: float32, data already in memory, intra-op threads as asked (--threads). Times
--samples samples of a call (loss and gradient complete), each sample enough calls for 20 ms, after
--warmup calls; prints one JSON object:
the min and median wall time, the min CPU time (time.process_time) of a call, the loss and the
gradient for the bench's agreement check.
"""
import argparse
import json
import os
import statistics
import time

import numpy as np


def numpy_impl(z, r, mu, sigma, perm, gamma):
    b = z.shape[0]

    def run():
        diff = z - z[perm]
        dist = np.sqrt(np.einsum('ij,ij->i', diff, diff))
        dm = mu - mu[perm]
        ds = sigma - sigma[perm]
        w = np.sqrt(np.einsum('ij,ij->i', dm, dm) + np.einsum('ij,ij->i', ds, ds))
        res = dist - (np.abs(r - r[perm]) + gamma * w)
        loss = np.mean(res * res)
        with np.errstate(divide='ignore', invalid='ignore'):
            coef = np.where(dist > 0, 2 * res / (b * dist), 0).astype(np.float32)
        v = coef[:, None] * diff
        g = v.copy()
        g[perm] -= v
        return float(loss), g

    return run


def torch_impl(z, r, mu, sigma, perm, gamma, manual):
    import torch

    zt, rt, mt, st = (torch.from_numpy(a) for a in (z, r, mu, sigma))
    pt = torch.from_numpy(perm.astype(np.int64))
    b = z.shape[0]

    def autograd():
        h = zt.detach().requires_grad_(True)
        with torch.no_grad():
            w = torch.sqrt((mt - mt[pt]).pow(2).sum(1) + (st - st[pt]).pow(2).sum(1))
            target = (rt - rt[pt]).abs() + gamma * w
        dist = torch.linalg.vector_norm(h - h[pt], dim=1)
        loss = (dist - target).pow(2).mean()
        loss.backward()
        return float(loss), h.grad

    def hand():
        with torch.no_grad():
            diff = zt - zt[pt]
            dist = torch.linalg.vector_norm(diff, dim=1)
            w = torch.sqrt((mt - mt[pt]).pow(2).sum(1) + (st - st[pt]).pow(2).sum(1))
            res = dist - ((rt - rt[pt]).abs() + gamma * w)
            loss = (res * res).mean()
            coef = torch.where(dist > 0, 2 * res / (b * dist), torch.zeros_like(dist))
            v = coef[:, None] * diff
            g = v.clone()
            g.index_add_(0, pt, v, alpha=-1)
            return float(loss), g

    return hand if manual else autograd


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--dir', required=True)
    ap.add_argument('--impl', choices=['numpy', 'torch', 'torch-manual'], required=True)
    ap.add_argument('--gamma', type=float, default=0.99)
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--samples', type=int, default=10)
    ap.add_argument('--warmup', type=int, default=3)
    args = ap.parse_args()
    load = lambda n: np.load(os.path.join(args.dir, n + '.npy'))  # noqa: E731
    z, r, mu, sigma, perm = load('z'), load('reward'), load('mu'), load('sigma'), load('perm')
    info = {'impl': args.impl, 'threads': args.threads, 'numpy': np.__version__}
    if args.impl == 'numpy':
        run = numpy_impl(z, r, mu, sigma, perm, np.float32(args.gamma))
    else:
        import torch

        torch.set_num_threads(args.threads)
        info['torch'] = torch.__version__
        run = torch_impl(z, r, mu, sigma, perm, args.gamma, args.impl == 'torch-manual')
    for _ in range(args.warmup):
        run()
    # Samples of `inner` calls, a sample ≥ 20 ms: CPU time is accounted in clock ticks.
    t0 = time.perf_counter()
    run()
    inner = max(1, int(np.ceil(0.02 / max(time.perf_counter() - t0, 1e-6))))
    wall, cpu = [], []
    for _ in range(args.samples):
        c0, t0 = time.process_time(), time.perf_counter()
        for _ in range(inner):
            loss, g = run()
        wall.append((time.perf_counter() - t0) * 1000 / inner)
        cpu.append((time.process_time() - c0) * 1000 / inner)
    g = np.asarray(g, dtype=np.float32)
    np.save(os.path.join(args.dir, f'grad-{args.impl}.npy'), g)
    print(json.dumps({**info, 'loss': loss, 'min_ms': min(wall), 'median_ms': statistics.median(wall), 'cpu_min_ms': min(cpu), 'inner': inner}))


if __name__ == '__main__':
    main()
