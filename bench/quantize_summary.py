"""Summary of bench/quantize.sh's results (one JSON object per line): a table per model and the
benchmark's last line, {"bench":"quantize", ...}, with the worst model for each ratio except the
latency ratio (its median over the models)."""
import json
import statistics
import sys


def main(path):
    rows = [json.loads(line) for line in open(path) if line.strip()]
    models = list(dict.fromkeys(r["model"] for r in rows))
    speedups, memory_growth, latency_ratios = {}, {}, {}
    for m in models:
        print(f"== {m}")
        runs = {r["images"]: r for r in rows if r["model"] == m and "images" in r}
        for n, r in sorted(runs.items()):
            ours, ort = r["ours"], r["ort"]
            ort_state = "ok" if ort.get("ok") else f"FAILED ({ort.get('error', 'rc ' + str(ort.get('rc')))[:80]})"
            print(f"  {n} images: ours {ours['seconds']:.1f} s, {ours['peak_rss_mb']:.0f} MiB peak (rc {ours['rc']}); "
                  f"ORT quantize_static {ort.get('seconds', float('nan')):.1f} s, {ort.get('peak_rss_mb', float('nan')):.0f} MiB peak, {ort_state}")
        # The ratio at the most images where ORT finished; a run stopped at our time limit gives a
        # lower bound; a run that failed (out of memory) gives none.
        for n in (200, 50):
            r = runs.get(n)
            if not r or r["ours"]["rc"] != 0 or not r["ort"].get("seconds") or not (r["ort"].get("ok") or r["ort"].get("stopped")):
                continue
            speedups[m] = r["ort"]["seconds"] / r["ours"]["seconds"]
            bound = "≥ " if r["ort"].get("stopped") else ""
            print(f"  whole command, {n} images: ORT / ours = {bound}{speedups[m]:.1f}x")
            break
        if 50 in runs and 200 in runs:
            memory_growth[m] = runs[200]["ours"]["peak_rss_mb"] / runs[50]["ours"]["peak_rss_mb"]
            if runs[50]["ort"].get("peak_rss_mb") and runs[200]["ort"].get("peak_rss_mb"):
                print(f"  peak memory 200/50 images: ours {memory_growth[m]:.2f}, ORT {runs[200]['ort']['peak_rss_mb'] / runs[50]['ort']['peak_rss_mb']:.2f}")
        for r in rows:
            if r["model"] == m and "accuracy" in r:
                acc = r["result"]
                keys = [k for k in ("agreement", "agree", "samples", "decided_samples", "decided_agreement", "recall", "precision", "identical", "identical_rate", "rel_l2_max", "rel_l2_mean", "binary_flip_max") if k in acc]
                print(f"  accuracy {r['accuracy']}: " + (", ".join(f"{k} {acc[k]}" for k in keys) or "none"))
        for r in rows:
            if r["model"] == m and "defaults_exit" in r:
                print(f"  defaults: exit {r['defaults_exit']}" + (" (the accuracy guard refused: no model)" if r["defaults_exit"] == 1 else ""))
        lat = [r for r in rows if r["model"] == m and "latency" in r]
        ratios = []
        for key in sorted({(r["batch"], r["threads"]) for r in lat}):
            by = {r["latency"]: r["p50_ms"] for r in lat if (r["batch"], r["threads"]) == key}
            if by.get("fp32") and by.get("ours"):
                ratios.append(by["ours"] / by["fp32"])
                ort = f", ORT's INT8 {by['ort'] / by['fp32']:.2f}x" if by.get("ort") else ""
                defaults = f", defaults INT8 {by['defaults']:.2f} ms ({by['defaults'] / by['fp32']:.2f}x)" if by.get("defaults") else ""
                print(f"  latency b{key[0]} t{key[1]}: FP32 {by['fp32']:.2f} ms, ours INT8 {by['ours']:.2f} ms ({by['ours'] / by['fp32']:.2f}x){defaults}{ort}")
        if ratios:
            latency_ratios[m] = statistics.median(ratios)
    # Mixed precision: ours against onnxconverter-common, model by model.
    mixed_ratio, most = None, -1
    for r in rows:
        if "mixed" not in r:
            continue
        ours, occ = r["mixed"]["ours"], r["mixed"]["onnxconverter_common"]
        state = "ok" if occ.get("ok") else f"FAILED ({str(occ.get('error'))[:80]})"
        print(f"== {r['model']} mixed precision (allclose rtol 1e-2, atol 1e-3): ours {ours.get('runs')} runs, {ours.get('seconds')} s, "
              f"{ours.get('fp16_nodes')} nodes float16 / {ours.get('fp32_nodes')} float32; onnxconverter-common {occ.get('runs')} runs, "
              f"{occ.get('command_seconds', occ.get('seconds'))} s, {occ.get('nodes_fp16', '-')} float16 / {occ.get('nodes_fp32', '-')} float32 ({occ.get('casts', '-')} Casts), {state}")
        if occ.get("runs") and ours.get("runs") and occ["runs"] > most:
            most, mixed_ratio = occ["runs"], ours["runs"] / occ["runs"]
    summary = {
        "bench": "quantize",
        "calibration_speedup_vs_ort": round(min(speedups.values()), 2) if speedups else None,
        "peak_memory_200_over_50_images": round(max(memory_growth.values()), 3) if memory_growth else None,
        "int8_latency_over_fp32": round(statistics.median(latency_ratios.values()), 3) if latency_ratios else None,
        # Ours ÷ onnxconverter-common's runs on the model where it needs the most (a lower bound of
        # its runs where it was stopped or crashed: see the lines above).
        "mixed_runs_vs_onnxconverter_common": round(mixed_ratio, 3) if mixed_ratio is not None else None,
        "per_model": {m: {"calibration_speedup_vs_ort": round(speedups[m], 2) if m in speedups else None,
                          "int8_latency_over_fp32": round(latency_ratios[m], 3) if m in latency_ratios else None}
                      for m in models},
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main(sys.argv[1])
