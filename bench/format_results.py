#!/usr/bin/env python3
"""Turns bench/results.jsonl (written by bench/compare.sh) into bench/RESULTS.md."""
import datetime
import json
import platform
import subprocess
import sys


def cpu_line():
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def main():
    rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
    main_rows = [r for r in rows if r["runtime"] != "vitc-sweep"]
    sweep = [r for r in rows if r["runtime"] == "vitc-sweep"]
    flags = open("/proc/cpuinfo").read()
    isa = ", ".join(f for f in ("avx512f", "avx512_bf16", "amx_bf16", "amx_tile", "avx512_vnni") if f in flags)
    out = ["# Benchmark results", "",
           "Made by `bench/compare.sh` on %s." % datetime.date.today().isoformat(), "",
           "- CPU: %s (%d cores visible; ISA flags: %s)" % (cpu_line(), len([l for l in open('/proc/cpuinfo') if l.startswith('processor')]), isa),
           "- Model: ViT-B/16, 224x224, random weights, 2 threads for every runtime; median of the timed runs.", ""]
    vitc = {(r["precision"], r["batch"]): r for r in main_rows if r["runtime"] == "vitc"}
    flops = next((r["flops_per_image"] for r in main_rows if r["runtime"] == "vitc"), None)
    out += ["| runtime | precision | batch | median ms | images/s | GFLOP/s | vitc speed-up (same precision, batch) |",
            "|---|---|---|---|---|---|---|"]
    methods = {}
    for r in main_rows:
        gflops = flops * r["batch"] / (r["latency_ms_median"] / 1000) / 1e9 if flops else 0
        ref = vitc.get((r["precision"], r["batch"]))
        ratio = "%.2fx" % (r["latency_ms_median"] / ref["latency_ms_median"]) if ref and r["runtime"] != "vitc" else ""
        out.append("| %s | %s | %d | %.1f | %.1f | %.0f | %s |" % (r["runtime"], r["precision"], r["batch"],
                                                                r["latency_ms_median"], r["images_per_second"], gflops, ratio))
        if r.get("method") and r["precision"] != "f32":
            methods["%s %s" % (r["runtime"], r["precision"])] = r["method"]
    out.append("")
    for name, method in methods.items():
        out.append("- %s: %s." % (name, method))
    for b in (1, 32):
        f = vitc.get(("f32", b))
        for p in ("bf16", "int8"):
            h = vitc.get((p, b))
            if f and h:
                out.append("- vitc %s vs f32 at batch %d: %.2fx faster." % (p, b, f["latency_ms_median"] / h["latency_ms_median"]))
    for p in ("f32", "bf16", "int8"):
        r = vitc.get((p, 32))
        unit = "GOP/s" if p == "int8" else "GFLOP/s"
        if r:
            out.append("- vitc %s batch 32: %.0f %s = %.0f%% of the %s matmul peak measured in the same run (%.0f %s, 2048^3)."
                       % (p, r["gflops"], unit, 100 * r["fraction_of_peak"], p, r["matmul_peak_gflops"], unit))
    if "amx" not in flags:
        f, h = vitc.get(("f32", 32)), vitc.get(("bf16", 32))
        if f and h:
            out += ["", "This CPU has no AMX. Its bf16 instruction (AVX512_BF16 `vdpbf16ps`) does two multiply-adds per",
                    "32-bit lane where f32 FMA does one, so its bf16 peak is 2x its f32 peak (this run measured %.0f"
                    % h["matmul_peak_gflops"],
                    "against %.0f GFLOP/s; single peak measurements move by 20%% on this shared machine), and bf16"
                    % f["matmul_peak_gflops"],
                    "cannot be 2.5x faster than f32 here. int8 (AVX-512 VNNI) is the faster format on it."]
    out += ["", "## Memory (vitc, ViT-B/16, batch 1)", "",
            "Peak RSS is the process's high-water mark while the batch-1 session was created and run (the mark",
            "is reset after loading, so the load's transient copy of the weights is not in it).", "",
            "| precision | process before loading MiB | weights MiB | session buffers MiB | sum | peak RSS MiB |",
            "|---|---|---|---|---|---|"]
    for p in ("f32", "bf16", "int8"):
        r = vitc.get((p, 1))
        if r and "buffers_mb" in r:
            base = r.get("resident_before_loading_mb", 0)
            total = base + r["weights_resident_mb"] + r["buffers_mb"]
            out.append("| %s | %.0f | %.0f | %.1f | %.0f | %.0f |" % (p, base, r["weights_resident_mb"], r["buffers_mb"],
                                                                   total, r["peak_resident_mb"]))
    out += ["", "## Cost growth with tokens (vitc, ViT-B shape, f32, batch 1)", "",
            "| image | patch | tokens | GFLOP/image | median ms | ms per GFLOP | attention share of FLOPs |",
            "|---|---|---|---|---|---|---|"]
    for r in sweep:
        tokens = (r["image_size"] // r["patch_size"]) ** 2 + 1
        d, layers = 768, 12
        attention = layers * 2 * 2 * tokens * tokens * d  # QK^T and PV
        out.append("| %d | %d | %d | %.1f | %.1f | %.2f | %.0f%% |" % (
            r["image_size"], r["patch_size"], tokens, r["flops_per_image"] / 1e9, r["latency_ms_median"],
            r["latency_ms_median"] / (r["flops_per_image"] / 1e9), 100 * attention / r["flops_per_image"]))
    print("\n".join(out))


if __name__ == "__main__":
    main()
