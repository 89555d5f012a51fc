#!/usr/bin/env bash
# Planted source bugs ("mutants") against the model's default check.
#
# Each file in model/mutants/*.diff is one small source edit of the model's rule code
# (a `rule:` and a `what:` line, then a unified diff). For each one this script copies
# the workspace to a scratch directory, applies the diff there (the repository itself is
# never modified), builds `raft-model` in release and runs the default check
# (`raft-model check`, the portfolio of model/src/portfolio.rs) under a wall-clock cap.
# The unmutated baseline runs first and must PASS. Checks run one at a time.
#
# Usage: scripts/model-mutants.sh [model/mutants/NN-name.diff ...]   (default: all)
# Environment:
#   MUTANTS_SCRATCH  scratch directory (default: ${TMPDIR:-/tmp}/raft-model-mutants);
#                    it holds the copied sources, their target dir and the results
#   MUTANT_TIMEOUT   wall-clock cap per check in seconds (default 600)
#   MUTANT_ARGS      extra arguments for `raft-model check` (default: none)
#
# Output: progress on stderr; one line per mutant in $MUTANTS_SCRATCH/results.tsv
# (mutant, rule, verdict, exit code, property, bound, unique states, seconds), then the
# same as a markdown table on stdout. Verdicts: caught (exit 1: FAIL), SURVIVED (exit 0:
# PASS), incomplete (exit 3), timeout (killed at MUTANT_TIMEOUT), no-change (the mutated
# binary is identical to the baseline's). A diff that does not apply or build stops the
# script: a mutant that does not compile is not a mutant.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
scratch=${MUTANTS_SCRATCH:-${TMPDIR:-/tmp}/raft-model-mutants}
cap=${MUTANT_TIMEOUT:-600}
read -r -a extra <<<"${MUTANT_ARGS:-}"
src=$scratch/src
export CARGO_TARGET_DIR=$scratch/target
bin=$CARGO_TARGET_DIR/release/raft-model
results=$scratch/results.tsv

if [ $# -gt 0 ]; then
    mutants=("$@")
else
    mutants=("$repo"/model/mutants/*.diff)
fi

mkdir -p "$scratch"
case "$scratch/" in
"$repo"/*)
    echo "MUTANTS_SCRATCH must be outside the repository" >&2
    exit 2
    ;;
esac

# The workspace as it is now (tracked and untracked files, not ignored ones). `tar -m`
# gives every file a fresh mtime, so cargo never mistakes a restored file for a built one.
copy_workspace() {
    rm -rf "$src"
    mkdir -p "$src"
    (cd "$repo" && git ls-files -z --cached --others --exclude-standard) |
        (cd "$repo" && tar --null -T - -cf -) | (cd "$src" && tar -xmf -)
}

# Restores the model's sources from the copy taken at the start (fresh mtimes, as above),
# so that editing the repository during a run changes nothing in it.
restore_model() {
    rm -rf "$src/model/src"
    (cd "$scratch/pristine" && tar -cf - model/src) | (cd "$src" && tar -xmf -)
}

build() {
    (cd "$src" && cargo build --release --quiet -p raft-model)
}

# Runs the default check; prints "exit property bound states seconds".
check() {
    local json=$1 code=0
    timeout "$cap" "$bin" check --json "${extra[@]}" >"$json" 2>"$json.stderr" || code=$?
    if [ "$code" = 124 ] || ! jq -e . "$json" >/dev/null 2>&1; then
        echo "$code - - - -"
        return
    fi
    jq -r --arg code "$code" '
        ([.portfolio[] | select(.result == "fail")] | first) as $b
        | ($b.properties // [] | map(select(.result == "fail" or .result == "not_reached"))
           | map(.name + (if .result == "not_reached" then "(not-reached)" else "" end))
           | join(",")) as $p
        | [$code, (if $p == "" then "-" else $p end), (.caught_by // "-"),
           .unique_states, (.seconds * 10 | round / 10)] | map(tostring) | join(" ")' "$json"
}

verdict() {
    case $1 in
    0) echo SURVIVED ;;
    1) echo caught ;;
    3) echo incomplete ;;
    124) echo timeout ;;
    *) echo "error($1)" ;;
    esac
}

echo "scratch: $scratch (cap ${cap}s per check)" >&2
copy_workspace
rm -rf "$scratch/pristine"
mkdir -p "$scratch/pristine/model"
cp -r "$src/model/src" "$scratch/pristine/model/src"
echo "[baseline] building" >&2
build
base_sum=$(sha256sum "$bin" | cut -d' ' -f1)
read -r code prop bound states secs < <(check "$scratch/baseline.json")
echo "[baseline] exit $code, $states states, ${secs}s" >&2
if [ "$code" != 0 ]; then
    echo "the unmutated baseline does not PASS (exit $code): see $scratch/baseline.json" >&2
    exit 1
fi
printf 'mutant\trule\tverdict\texit\tproperty\tbound\tstates\tseconds\n' >"$results"
printf 'baseline\t-\tPASS\t0\t-\t-\t%s\t%s\n' "$states" "$secs" >>"$results"

n=${#mutants[@]}
k=0
for diff in "${mutants[@]}"; do
    k=$((k + 1))
    name=$(basename "$diff" .diff)
    rule=$(sed -n 's/^rule: //p' "$diff" | head -1)
    restore_model
    if ! (cd "$src" && patch -p1 --batch --quiet --no-backup-if-mismatch <"$diff"); then
        echo "[$k/$n] $name: the diff does not apply" >&2
        exit 1
    fi
    echo "[$k/$n] $name ($rule): building" >&2
    if ! build; then
        echo "[$k/$n] $name: does not compile (fix or drop it)" >&2
        exit 1
    fi
    if [ "$(sha256sum "$bin" | cut -d' ' -f1)" = "$base_sum" ]; then
        printf '%s\t%s\tno-change\t-\t-\t-\t-\t-\n' "$name" "$rule" >>"$results"
        echo "[$k/$n] $name: binary identical to the baseline" >&2
        continue
    fi
    read -r code prop bound states secs < <(check "$scratch/$name.json")
    v=$(verdict "$code")
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$rule" "$v" "$code" "$prop" "$bound" \
        "$states" "$secs" >>"$results"
    echo "[$k/$n] $name: $v (exit $code) $prop at $bound, $states states, ${secs}s" >&2
done
restore_model

echo "| mutant | rule | verdict | exit | property | bound | states | seconds |"
echo "|---|---|---|---|---|---|---|---|"
tail -n +2 "$results" | while IFS=$'\t' read -r a b c d e f g h; do
    echo "| \`$a\` | $b | $c | $d | $e | $f | $g | $h |"
done
echo "results: $results" >&2
