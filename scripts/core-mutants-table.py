#!/usr/bin/env python3
# The table of docs/conformance.md §4b from target/core-mutants/results.tsv
# (scripts/core-mutants.sh): one row per mutant (its last run), failing tests by technique.
import sys, csv
# Columns: the core's unit tests, then each conformance technique.
groups = [
    ("unit", lambda b, t: b == "lib"),
    ("simulator", lambda b, t: b == "simulator"),
    ("trace validation", lambda b, t: b == "trace_validation"),
    ("model-driven", lambda b, t: b == "model_driven"),
    ("proptest", lambda b, t: b.startswith("prop_")),
    ("mutations.rs", lambda b, t: b == "mutations"),
    ("other (findings, durable_disk, …)", lambda b, t: True),
]
rows = {}
for r in list(csv.reader(open(sys.argv[1]), delimiter="\t"))[1:]:
    rows[r[0]] = r  # a re-run replaces the earlier row
rows = [rows[k] for k in sorted(rows)]
print("| mutant | rule | verdict | " + " | ".join(g for g, _ in groups) + " | time |")
print("|---|---|---|" + "---|" * len(groups) + "---|")
for name, rule, verdict, caught, secs in rows:
    counts = {g: [] for g, _ in groups}
    if verdict == "caught" and "::" in caught:
        for item in caught.split(", "):
            b, t = item.split("::", 1)
            for g, pred in groups:
                if pred(b, t):
                    counts[g].append(t); break
    cells = []
    for g, _ in groups:
        c = counts[g]
        if not c: cells.append("")
        elif g == "unit":
            names = ["`" + t.split("::")[-1] + "`" for t in c]
            more = f" and {len(names) - 2} more" if len(names) > 2 else ""
            cells.append(", ".join(names[:2]) + more)
        else: cells.append(str(len(c)))
    if caught.startswith("timeout"):
        cells[-1] = "timeout"
    elif verdict == "caught" and "::" not in caught:
        cells[-1] = caught
    print(f"| `{name}` | {rule} | {verdict} | " + " | ".join(cells) + f" | {secs} s |")
