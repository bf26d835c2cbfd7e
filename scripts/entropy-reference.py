"""TensorRT-style entropy calibration, written the way NVIDIA's pytorch-quantization states it
(np.digitize, per-group counts spread over non-empty bins, scipy-style KL), as an independent
reference for HalfPipe's Calibrator tests.

usage: entropy-reference.py histograms.npy  → JSON: for each row, the KL divergence of every
candidate i (128 … bins) and the percentile bin where the CDF reaches 99.9 / 99.99 %.
Rows are |x| histograms with equal-width bins starting at 0 (the caller knows the bin width).
"""
import json
import sys

import numpy as np


def kl(p, q):
    # scipy.stats.entropy(p, q): both normalised; a p > 0 where q == 0 is infinite.
    p = p / p.sum()
    q = q / q.sum()
    mask = p > 0
    if np.any(q[mask] == 0):
        return float("inf")
    return float(np.sum(p[mask] * np.log(p[mask] / q[mask])))


def divergences(counts, num_levels=128):
    bins = counts.astype(np.float64).copy()
    bins[0] = bins[1]
    out = []
    for i in range(num_levels, len(bins) + 1):
        space = np.linspace(0, i, num=num_levels + 1)
        digitized = np.digitize(range(i), space) - 1
        digitized[bins[:i] == 0] = -1
        new_counts = np.zeros(num_levels)
        for idx, d in enumerate(digitized):
            if d != -1:
                new_counts[d] += bins[idx]
        members = np.zeros(num_levels)
        for d in digitized:
            if d != -1:
                members[d] += 1
        new_density = np.zeros(i)
        for idx, d in enumerate(digitized):
            if d != -1:
                new_density[idx] = new_counts[d] / members[d]
        reference = bins[:i].copy()
        reference[-1] += bins[i:].sum()
        out.append(kl(reference, new_density) if new_density.sum() > 0 else float("inf"))
    return out


def percentile_bin(counts, percent):
    cdf = np.cumsum(counts) / counts.sum()
    return int(np.searchsorted(cdf, percent / 100))


def main():
    rows = np.load(sys.argv[1])
    result = []
    for row in rows:
        result.append({
            "divergences": divergences(row),
            "percentile_99_9": percentile_bin(row, 99.9),
            "percentile_99_99": percentile_bin(row, 99.99),
        })
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
