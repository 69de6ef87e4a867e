#!/usr/bin/env python3
"""PyTorch CPU peer for bench/hvp.bench.mjs: the double-backward Hessian-vector product.

    loss = F.cross_entropy(model(x), y)                  # mean over the batch (PyTorch default)
    g    = torch.autograd.grad(loss, params, create_graph=True)
    Hv   = torch.autograd.grad(sum((g_i * v_i).sum()), params)

on the same model description, weights (.safetensors), inputs, labels and vector (.npy) that
riverbed reads. Run it as DESIGN.md "Fair peers" says (the bench sets this up): Debian's
python3-torch under /usr/bin/python3 with libopenblas0-pthread installed, OPENBLAS_CORETYPE from
the CPU, OPENBLAS_NUM_THREADS=2, torch.set_num_threads(1), MALLOC_MMAP_THRESHOLD_=33554432,
MALLOC_TRIM_THRESHOLD_=4294967296. Without OpenBLAS Debian's torch falls back to the reference
BLAS (~60x slower): the script reports which BLAS library the process actually mapped.

Prints one JSON object on stdout; writes Hv (float32, flat, parameter order) with --out.
"""
import argparse
import ctypes
import json
import os
import statistics
import struct
import time

import numpy as np
import torch
import torch.nn.functional as F

DTYPES = {"F32": np.float32, "F64": np.float64, "F16": np.float16}


def read_safetensors(path):
    """Minimal reader (the safetensors package is not in Debian's python): name -> ndarray."""
    with open(path, "rb") as f:
        buf = f.read()
    (n,) = struct.unpack("<Q", buf[:8])
    header = json.loads(buf[8 : 8 + n])
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, end = e["data_offsets"]
        arr = np.frombuffer(buf[8 + n + b : 8 + n + end], dtype=DTYPES[e["dtype"]]).reshape(e["shape"])
        out[name] = arr.astype(np.float32)
    return out


ACT = {"relu": torch.nn.ReLU, "tanh": torch.nn.Tanh, "sigmoid": torch.nn.Sigmoid, "gelu": torch.nn.GELU}


def build_model(desc, weights):
    mods = []
    for layer in desc["layers"]:
        if layer["type"] == "linear":
            mods.append(torch.nn.Linear(layer["in"], layer["out"], bias=layer.get("bias", True)))
        else:
            mods.append(ACT[layer["type"]]())
    model = torch.nn.Sequential(*mods)
    model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in weights.items()}, strict=True)
    return model


def blas_report():
    """Which BLAS the process mapped, and OpenBLAS's own view of its kernel and threads."""
    libs = set()
    with open("/proc/self/maps") as f:
        for line in f:
            p = line.split()[-1]
            if "blas" in p.lower() or "lapack" in p.lower() or "mkl" in os.path.basename(p).lower():
                libs.add(p)
    rep = {"mapped": sorted(libs)}
    for p in sorted(libs):
        if "openblas" not in p:
            continue
        try:
            lib = ctypes.CDLL(p)
            lib.openblas_get_corename.restype = ctypes.c_char_p
            lib.openblas_get_config.restype = ctypes.c_char_p
            rep["openblas_core"] = lib.openblas_get_corename().decode()
            rep["openblas_config"] = lib.openblas_get_config().decode().strip()
            rep["openblas_threads"] = lib.openblas_get_num_threads()
            break
        except (OSError, AttributeError):
            continue
    rep["reference_blas"] = not any("openblas" in p for p in libs)
    return rep


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True, help="model.json, weights.safetensors, x.npy, y.npy, v.npy")
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--out", help="write Hv (float32 [P]) here")
    ap.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (intra-op)")
    ap.add_argument("--f64-out", help="also compute Hv once in float64 (the reference both float32 results are judged by) and write it here")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    with open(os.path.join(a.dir, "model.json")) as f:
        desc = json.load(f)
    model = build_model(desc, read_safetensors(os.path.join(a.dir, "weights.safetensors")))
    x = torch.from_numpy(np.load(os.path.join(a.dir, "x.npy")).astype(np.float32))
    y = torch.from_numpy(np.load(os.path.join(a.dir, "y.npy")).astype(np.int64))
    vflat = torch.from_numpy(np.load(os.path.join(a.dir, "v.npy")).astype(np.float32))
    params = list(model.parameters())  # Sequential order: layer by layer, weight then bias
    vs, off = [], 0
    for p in params:
        vs.append(vflat[off : off + p.numel()].view_as(p))
        off += p.numel()
    assert off == vflat.numel(), f"vector has {vflat.numel()} entries, the model {off}"

    def hvp():
        loss = F.cross_entropy(model(x), y)
        g = torch.autograd.grad(loss, params, create_graph=True)
        dot = sum((gi * vi).sum() for gi, vi in zip(g, vs))
        return torch.autograd.grad(dot, params)

    for _ in range(a.warmup):
        hv = hvp()
    times = []
    for _ in range(a.repeats):
        t = time.perf_counter()
        hv = hvp()
        times.append(time.perf_counter() - t)
    if a.out:
        np.save(a.out, torch.cat([h.reshape(-1) for h in hv]).numpy().astype(np.float32))
    if a.f64_out:
        model64 = build_model(desc, read_safetensors(os.path.join(a.dir, "weights.safetensors"))).double()
        p64 = list(model64.parameters())
        loss = F.cross_entropy(model64(x.double()), y)
        g = torch.autograd.grad(loss, p64, create_graph=True)
        dot = sum((gi * vi.double()).sum() for gi, vi in zip(g, vs))
        hv64 = torch.autograd.grad(dot, p64)
        np.save(a.f64_out, torch.cat([h.reshape(-1) for h in hv64]).numpy())
    cfg = torch.__config__.show()
    blas_info = next((s.strip() for s in cfg.replace(",", "\n").splitlines() if "BLAS_INFO" in s), "?")
    print(json.dumps({
        "torch": torch.__version__,
        "python": os.path.realpath("/proc/self/exe"),
        "num_threads": torch.get_num_threads(),
        "env": {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_NUM_THREADS", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")},
        "build_blas_info": blas_info,
        "blas": blas_report(),
        "parameters": int(vflat.numel()),
        "batch": int(x.shape[0]),
        "repeats": a.repeats,
        "min_ms": min(times) * 1e3,
        "median_ms": statistics.median(times) * 1e3,
        "all_ms": [round(t * 1e3, 3) for t in times],
    }))


if __name__ == "__main__":
    main()
