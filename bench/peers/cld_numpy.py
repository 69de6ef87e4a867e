#!/usr/bin/env python3
"""The official CLD formula (Compute_CLD_scores.py) in numpy, on riverbed's benchmark arrays.

Reproduces the script's per-class loop as written (float64: the script stacks with dtype=float;
per class: masks, mean validation loss per epoch, np.diff, standardise with zero std -> 1,
r = mean(Xz * yz), argsort descending), on the same .npy files the riverbed CLI reads. numpy runs
as installed (see DESIGN.md "Fair peers"). Times the load (np.load of the four files + the float64
conversion the script does) and the formula separately; prints one JSON object on stdout.
"""
import argparse
import json
import os
import statistics
import sys
import time

import numpy as np


def load(data_dir):
    train_losses = np.load(os.path.join(data_dir, "train_loss.npy"))
    val_losses = np.load(os.path.join(data_dir, "val_loss.npy"))
    train_labels = np.load(os.path.join(data_dir, "train_labels.npy"))
    val_labels = np.load(os.path.join(data_dir, "val_labels.npy"))
    # the official script builds float64 (E, N) arrays: np.asarray(x, dtype=float)
    train_losses = np.asarray(train_losses, dtype=float)
    val_losses = np.asarray(val_losses, dtype=float)
    return train_losses, val_losses, train_labels, val_labels


def official_formula(train_losses, val_losses, train_labels, val_labels, num_classes):
    E, N_train = train_losses.shape
    E2, N_val = val_losses.shape
    assert E == E2, "Train and val losses must have same number of epochs"
    d_train = np.diff(train_losses, axis=0)
    r_all = np.full(N_train, np.nan)
    cld_sort = {}
    for i in range(num_classes):
        train_mask = train_labels == i
        val_mask = val_labels == i
        if not np.any(train_mask) or not np.any(val_mask):
            cld_sort[str(i)] = np.array([], dtype=int)
            continue
        avg_val_loss = val_losses[:, val_mask].mean(axis=1)
        d_avg_val = np.diff(avg_val_loss)
        X = d_train[:, train_mask]
        X_mean = X.mean(axis=0)
        X_std = X.std(axis=0)
        y = d_avg_val
        y_mean = y.mean()
        y_std = y.std()
        X_std_safe = np.where(X_std == 0, 1.0, X_std)
        y_std_safe = 1.0 if y_std == 0 else y_std
        Xz = (X - X_mean) / X_std_safe
        yz = (y - y_mean) / y_std_safe
        r = (Xz * yz[:, None]).mean(axis=0)
        order = np.argsort(r)[::-1]
        positions = np.flatnonzero(train_mask)
        cld_sort[str(i)] = positions[order]
        r_all[positions] = r
    return cld_sort, r_all


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--save-r", help="write r (float64, NaN for skipped classes) here once")
    args = ap.parse_args()
    loads, formulas = [], []
    r_all = None
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        tl, vl, ty, vy = load(args.data)
        t1 = time.perf_counter()
        num_classes = int(max(ty.max(), vy.max())) + 1
        _, r_all = official_formula(tl, vl, ty, vy, num_classes)
        t2 = time.perf_counter()
        loads.append(t1 - t0)
        formulas.append(t2 - t1)
        del tl, vl, ty, vy
    if args.save_r:
        np.save(args.save_r, r_all)
    totals = [a + b for a, b in zip(loads, formulas)]
    cfg = {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS") if os.environ.get(k)}
    json.dump(
        {
            "peer": "numpy official Compute_CLD_scores.py formula (float64, per-class loop incl. argsort)",
            "numpy": np.__version__,
            "python": sys.version.split()[0],
            "config": cfg or "numpy as installed, default environment",
            "repeats": args.repeats,
            "load_s": {"min": min(loads), "median": statistics.median(loads), "all": loads},
            "formula_s": {"min": min(formulas), "median": statistics.median(formulas), "all": formulas},
            "total_s": {"min": min(totals), "median": statistics.median(totals), "all": totals},
        },
        sys.stdout,
    )
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
