#!/usr/bin/env python3
"""Draws docs/img/replication.svg from the output of `cargo bench -p raft-benches`.

Usage: python3 benches/plot.py BENCH_OUTPUT.txt docs/img/replication.svg

Reads the "replication summary" table the replication bench prints (entries/s of ours,
raft-rs and raft-rs with batch_append for each payload and number in flight) and draws one
horizontal bar per library and case on a log scale. Standard library only.
"""
import math
import re
import sys

COLORS = {"ours": "#d62728", "raft-rs": "#1f77b4", "raft-rs-batch": "#9ecae1"}


def parse(text):
    rows = []
    in_table = False
    for line in text.splitlines():
        if line.startswith("== replication summary"):
            in_table = True
            continue
        if in_table:
            m = re.match(r"\s*(\d+)B\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)", line)
            if m:
                payload, inflight, ours, rs, batch = m.groups()
                rows.append((int(payload), int(inflight), float(ours), float(rs), float(batch)))
            elif rows:
                break
    return rows


def draw(rows, title):
    bar, gap, left, width = 14, 12, 150, 520
    top = 50
    lo, hi = 1.0, 1e7
    scale = lambda v: left + width * (math.log10(max(v, lo)) - math.log10(lo)) / (math.log10(hi) - math.log10(lo))
    height = top + len(rows) * (3 * bar + gap) + 60
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 140}" height="{height}" '
           'font-family="sans-serif" font-size="11">',
           f'<text x="10" y="20" font-size="13" font-weight="bold">{title}</text>',
           '<text x="10" y="36">entries committed and applied on 3 peers per second (log scale; higher is better)</text>']
    for exp in range(0, 8):
        x = scale(10 ** exp)
        out.append(f'<line x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{height - 50}" stroke="#ddd"/>')
        out.append(f'<text x="{x:.1f}" y="{height - 36}" text-anchor="middle">1e{exp}</text>')
    y = top
    for payload, inflight, ours, rs, batch in rows:
        out.append(f'<text x="{left - 8}" y="{y + 1.8 * bar}" text-anchor="end">{payload} B, {inflight} in flight</text>')
        for name, value in (("ours", ours), ("raft-rs", rs), ("raft-rs-batch", batch)):
            x2 = scale(value)
            out.append(f'<rect x="{left}" y="{y}" width="{x2 - left:.1f}" height="{bar - 2}" fill="{COLORS[name]}"/>')
            out.append(f'<text x="{x2 + 4:.1f}" y="{y + bar - 4}">{value:,.0f}</text>')
            y += bar
        y += gap
    lx = left
    for name, color in COLORS.items():
        out.append(f'<rect x="{lx}" y="{height - 22}" width="12" height="12" fill="{color}"/>')
        out.append(f'<text x="{lx + 16}" y="{height - 12}">{name}</text>')
        lx += 130
    out.append("</svg>")
    return "\n".join(out)


def main():
    source, target = sys.argv[1], sys.argv[2]
    rows = parse(open(source, encoding="utf-8").read())
    if not rows:
        sys.exit(f"no replication summary found in {source}")
    with open(target, "w", encoding="utf-8") as f:
        f.write(draw(rows, "Core replication: ours vs tikv/raft-rs 0.7 (one run)") + "\n")


if __name__ == "__main__":
    main()
