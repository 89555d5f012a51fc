#!/usr/bin/env python3
"""Draws an end-to-end plot (docs/img/end_to_end*.svg) from the output of the end_to_end bench.

Usage: python3 benches/plot_end_to_end.py BENCH_OUTPUT.txt OUT.svg

Reads the summary table the bench prints: its header names the sides and ratios, e.g.
"| clients | ours (loop threads) | ours (loop tasks) | openraft | threads / openraft | tasks /
openraft |" (older runs: "| clients | ours | openraft | ours / openraft |"). Every column
whose header has no "/" is a side; for each client count it draws one horizontal bar per
side (writes/s, log scale). Standard library only.
"""
import math
import re
import sys

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"]


def cells(line):
    return [c.strip() for c in line.strip().strip("|").split("|")]


def parse(text):
    """Returns (side names, rows of (clients, [writes/s per side]))."""
    sides, columns, rows = [], [], []
    for line in text.splitlines():
        if line.startswith("| clients |"):
            header = cells(line)
            columns = [i for i, name in enumerate(header) if i > 0 and "/" not in name]
            sides = [header[i] for i in columns]
            rows = []  # the last table in the output wins
            continue
        if sides and re.match(r"\|\s*\d+\s*\|", line):
            row = cells(line)
            try:
                values = [float(row[i]) for i in columns]
            except (ValueError, IndexError):
                continue
            rows.append((int(row[0]), values))
    return sides, rows


def draw(sides, rows):
    bar, gap, left, width, top = 16, 14, 110, 520, 50
    lo, hi = 1e3, 1e6
    scale = lambda v: left + width * (math.log10(min(max(v, lo), hi)) - math.log10(lo)) / (math.log10(hi) - math.log10(lo))
    height = top + len(rows) * (len(sides) * bar + gap) + 50
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 220}" height="{height}" '
           'font-family="sans-serif" font-size="12">',
           f'<text x="{left}" y="20" font-size="14">End to end, 3 peers in one process, in-memory storage: writes/s (log scale)</text>']
    for exp in range(3, 7):
        x = scale(10 ** exp)
        out.append(f'<line x1="{x:.1f}" y1="{top - 8}" x2="{x:.1f}" y2="{height - 40}" stroke="#ddd"/>')
        out.append(f'<text x="{x:.1f}" y="{height - 25}" text-anchor="middle">1e{exp}</text>')
    y = top
    for clients, values in rows:
        out.append(f'<text x="{left - 8}" y="{y + bar + 4}" text-anchor="end">{clients} client{"s" if clients > 1 else ""}</text>')
        for k, (name, value) in enumerate(zip(sides, values)):
            if math.isnan(value):  # a side the run skipped
                y += bar
                continue
            x = scale(value)
            color = PALETTE[k % len(PALETTE)]
            out.append(f'<rect x="{left}" y="{y}" width="{x - left:.1f}" height="{bar - 2}" fill="{color}"/>')
            out.append(f'<text x="{x + 4:.1f}" y="{y + bar - 5}">{name} {value:,.0f}</text>')
            y += bar
        y += gap
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sides, rows = parse(open(sys.argv[1], encoding="utf-8").read())
    if not rows:
        sys.exit("no end-to-end summary table found")
    open(sys.argv[2], "w", encoding="utf-8").write(draw(sides, rows))


if __name__ == "__main__":
    main()
