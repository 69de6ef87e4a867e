#!/usr/bin/env python3
"""PyTorch CPU peer for bench/conv.bench.mjs: one convolution layer's forward and backward.

    forward   y = F.conv2d(x, w, b, stride, padding)
    backward  torch.ops.aten.convolution_backward(gy, x, w, ...) with the output mask a training
              step needs: the weight and bias gradients, and the input gradient unless the layer
              reads the data (--no-input-grad) — the autograd engine's own backward call, without
              the graph around it

At its best (DESIGN.md "Fair peers"): channels-first contiguous float32 tensors made once,
torch.set_num_threads(--threads), no autograd (inference mode for the forward), the oneDNN
(mkldnn) path on and off (--mkldnn 1|0; the bench keeps the faster). Min and median of --repeats
calls after --warmup, wall time and this process's CPU time. Prints one JSON object.
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shape", required=True, help='JSON {"n","c","h","w","o","k","stride","pad"}')
    ap.add_argument("--no-input-grad", action="store_true")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--mkldnn", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    a = ap.parse_args()
    s = json.loads(a.shape)
    torch.set_num_threads(a.threads)
    torch.backends.mkldnn.enabled = bool(a.mkldnn)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(s["n"], s["c"], s["h"], s["w"], generator=g) - 0.5
    w = torch.rand(s["o"], s["c"], s["k"], s["k"], generator=g) - 0.5
    b = torch.rand(s["o"], generator=g) - 0.5
    st, pd = [s["stride"]] * 2, [s["pad"]] * 2
    with torch.inference_mode():
        y = F.conv2d(x, w, b, st, pd)
    gy = torch.rand(y.shape, generator=g) - 0.5
    mask = [not a.no_input_grad, True, True]

    def forward():
        with torch.inference_mode():
            return F.conv2d(x, w, b, st, pd)

    def backward():
        with torch.no_grad():
            return torch.ops.aten.convolution_backward(gy, x, w, [s["o"]], st, pd, [1, 1], False, [0, 0], 1, mask)

    out = {"torch": torch.__version__, "threads": a.threads, "mkldnn": bool(a.mkldnn)}
    for name, fn in (("forward", forward), ("backward", backward)):
        for _ in range(a.warmup):
            fn()
        wall, cpu = [], []
        for _ in range(a.repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            fn()
            wall.append((time.perf_counter() - t0) * 1e3)
            cpu.append((time.process_time() - c0) * 1e3)
        out[name] = {"min_ms": min(wall), "median_ms": statistics.median(wall), "cpu_min_ms": min(cpu)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
