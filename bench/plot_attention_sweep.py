#!/usr/bin/env python3
"""bench/attention_sweep.jsonl -> bench/attention_sweep.svg: latency and peak RSS against tokens
per image, log-log, one line per kernel (vitc full, vitc tiled, PyTorch). Standard library only
(Debian's python3 here has no matplotlib): the SVG is written by hand.

    python3 bench/plot_attention_sweep.py bench/attention_sweep.jsonl bench/attention_sweep.svg
"""
import json
import math
import sys

COLOURS = {"vitc full": "#1f77b4", "vitc tiled": "#d62728", "pytorch": "#2ca02c"}


def series(rows, key):
    lines = {}
    for r in rows:
        if "skipped" in r or key not in r:
            continue
        name = "vitc " + r["attention"] if r["runtime"] == "vitc" else "pytorch"
        lines.setdefault(name, []).append((r["tokens"], r[key]))
    return {k: sorted(v) for k, v in lines.items()}


def panel(x0, title, unit, lines, width=380, height=260):
    xs = [t for pts in lines.values() for t, _ in pts]
    ys = [v for pts in lines.values() for _, v in pts]
    lx = (math.log10(min(xs)) - 0.1, math.log10(max(xs)) + 0.1)
    ly = (math.floor(math.log10(min(ys))), math.ceil(math.log10(max(ys))))
    def px(t): return x0 + 50 + (math.log10(t) - lx[0]) / (lx[1] - lx[0]) * (width - 60)
    def py(v): return 30 + (ly[1] - math.log10(v)) / (ly[1] - ly[0]) * (height - 70)
    out = ['<text x="%d" y="18" font-size="13">%s</text>' % (x0 + 50, title)]
    for e in range(ly[0], ly[1] + 1):
        y = py(10 ** e)
        out.append('<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#ddd"/>' % (px(10 ** lx[0]), x0 + width - 10, y, y))
        out.append('<text x="%d" y="%.1f" font-size="10" text-anchor="end">%g %s</text>' % (x0 + 46, y + 3, 10 ** e, unit))
    for t in sorted(set(xs)):
        out.append('<text x="%.1f" y="%d" font-size="10" text-anchor="middle">%d</text>' % (px(t), height - 25, t))
    out.append('<text x="%d" y="%d" font-size="11">tokens per image (log)</text>' % (x0 + width / 2 - 40, height - 8))
    for name, pts in lines.items():
        path = " ".join("%.1f,%.1f" % (px(t), py(v)) for t, v in pts)
        out.append('<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>' % (COLOURS[name], path))
        out += ['<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>' % (px(t), py(v), COLOURS[name]) for t, v in pts]
    return out


def main():
    rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip() and not l.startswith("#")]
    body = panel(0, "latency, batch 1 (ms)", "", series(rows, "latency_ms_median"))
    body += panel(400, "peak resident memory (MiB)", "", series(rows, "peak_resident_mb"))
    for i, (name, colour) in enumerate(COLOURS.items()):
        body.append('<rect x="%d" y="272" width="12" height="4" fill="%s"/><text x="%d" y="278" font-size="11">%s</text>'
                    % (60 + 150 * i, colour, 76 + 150 * i, name))
    svg = ['<svg xmlns="http://www.w3.org/2000/svg" width="800" height="290" font-family="sans-serif">',
           '<rect width="800" height="290" fill="white"/>'] + body + ["</svg>"]
    open(sys.argv[2], "w").write("\n".join(svg) + "\n")


if __name__ == "__main__":
    main()
