#!/usr/bin/env python3
"""Draws docs/img/end_to_end.svg from the output of the end_to_end bench.

Usage: python3 benches/plot_end_to_end.py BENCH_OUTPUT.txt docs/img/end_to_end.svg

Reads the summary table the bench prints ("| clients | ours | openraft | ours / openraft |")
and draws, for each client count, one horizontal bar per library (writes/s, log scale).
Standard library only.
"""
import math
import re
import sys

COLORS = {"ours": "#d62728", "openraft": "#2ca02c"}


def parse(text):
    rows = []
    for line in text.splitlines():
        m = re.match(r"\|\s*(\d+)\s*\|\s*([\d.]+)\s*\|\s*([\d.]+)\s*\|\s*([\d.]+)\s*\|", line)
        if m:
            clients, ours, openraft, _ratio = m.groups()
            rows.append((int(clients), float(ours), float(openraft)))
    return rows


def draw(rows):
    bar, gap, left, width, top = 16, 14, 110, 520, 50
    lo, hi = 1e3, 1e6
    scale = lambda v: left + width * (math.log10(max(v, lo)) - math.log10(lo)) / (math.log10(hi) - math.log10(lo))
    height = top + len(rows) * (2 * bar + gap) + 50
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 150}" height="{height}" '
           'font-family="sans-serif" font-size="12">',
           f'<text x="{left}" y="20" font-size="14">End to end, 3 peers in one process, in-memory storage: writes/s (log scale)</text>']
    for exp in range(3, 7):
        x = scale(10 ** exp)
        out.append(f'<line x1="{x:.1f}" y1="{top - 8}" x2="{x:.1f}" y2="{height - 40}" stroke="#ddd"/>')
        out.append(f'<text x="{x:.1f}" y="{height - 25}" text-anchor="middle">1e{exp}</text>')
    y = top
    for clients, ours, openraft in rows:
        out.append(f'<text x="{left - 8}" y="{y + bar + 4}" text-anchor="end">{clients} client{"s" if clients > 1 else ""}</text>')
        for name, value in (("ours", ours), ("openraft", openraft)):
            x = scale(value)
            out.append(f'<rect x="{left}" y="{y}" width="{x - left:.1f}" height="{bar - 2}" fill="{COLORS[name]}"/>')
            out.append(f'<text x="{x + 4:.1f}" y="{y + bar - 5}">{name} {value:,.0f}</text>')
            y += bar
        y += gap
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    rows = parse(open(sys.argv[1], encoding="utf-8").read())
    if not rows:
        sys.exit("no end-to-end summary table found")
    open(sys.argv[2], "w", encoding="utf-8").write(draw(rows))


if __name__ == "__main__":
    main()
