#!/usr/bin/env bash
# Planted bugs: source mutants of the sans-IO core (docs/conformance.md, "Planted bugs").
#
# Each file conformance/mutants/NN-name.mutant is one small source edit of impl/src/core:
#
#     rule: <the docs/protocol.md rule it breaks>
#     file: <path from the repository root>
#     what: <one line>
#     --- old
#     <exact whole lines, which must occur exactly once in the file>
#     --- new
#     <its replacement>
#     --- end
#
# For each mutant (all, or the ones named on the command line, by file or by NN-name), the
# script applies the edit, runs the fixed test command below, restores the file with git
# (also on failure or interrupt), and records: caught (some test failed, or the build
# failed, or the wall-clock cap passed) / survived, which tests failed, and the wall time
# (build + tests). The unmutated tree is run first and must pass (SKIP_BASELINE=1 skips it).
#
# The test command is what a developer runs by default on the core and its checker:
#     cargo test -p raft-impl --lib --no-fail-fast core
#     cargo test -p raft-conformance --no-fail-fast
# both always run (no fail-fast), so "caught by" lists every failing test.
#
# Output: target/core-mutants/<name>.log (the test output) and
# target/core-mutants/results.tsv (name, rule, verdict, caught by, seconds).
# Environment: MUTANT_LIB_CAP and MUTANT_CAP, the wall-clock caps in seconds of the two
# commands (default 60 and 300; unmutated they take about 5 and 70 s on 2 shared cores).
set -uo pipefail
cd "$(dirname "$0")/.."

CAP=${MUTANT_CAP:-300}
LIB_CAP=${MUTANT_LIB_CAP:-60}
OUT=target/core-mutants
mkdir -p "$OUT"
RESULTS=$OUT/results.tsv

if ! git diff --quiet -- impl/src conformance/proptest-regressions ||
    [ -n "$(git ls-files --others --exclude-standard -- conformance/proptest-regressions)" ]; then
    echo "impl/src or conformance/proptest-regressions has uncommitted changes; the script" \
        "restores them with git after each mutant and would lose them" >&2
    exit 2
fi

MUTATED_FILE=""
restore() {
    if [ -n "$MUTATED_FILE" ]; then
        git checkout --quiet -- "$MUTATED_FILE"
        MUTATED_FILE=""
    fi
}
trap restore EXIT
trap 'restore; exit 130' INT TERM

# Runs the test command, each half under its own cap (a mutant that stops elections can
# make a test loop forever; the other half still runs); writes the log; prints "rc", 137
# if a cap was reached, else the first non-zero exit status.
run_tests() {
    local log=$1 rc=0 r
    timeout -s KILL "$LIB_CAP" cargo test -p raft-impl --lib --no-fail-fast core >"$log" 2>&1
    r=$?; [ $r = 0 ] || rc=$r
    timeout -s KILL "$CAP" cargo test -p raft-conformance --no-fail-fast >>"$log" 2>&1
    r=$?; { [ $rc = 0 ] || [ $r = 137 ]; } && [ $r != 0 ] && rc=$r
    # proptest saves the failing cases it found in the mutant: they are not the project's.
    git checkout --quiet -- conformance/proptest-regressions
    git clean --quiet -f -- conformance/proptest-regressions
    echo $rc
}

# The failing tests of a log, as binary::test, comma-separated.
failing_tests() {
    awk '
        /^ *Running / {
            bin = ($2 == "unittests") ? $3 : $2
            sub(/^.*\//, "", bin); sub(/\.rs$/, "", bin)
            if ($2 == "unittests") bin = (bin == "lib") ? "lib" : bin
        }
        /^test .* \.\.\. FAILED$/ { sub(/^test /, ""); sub(/ \.\.\. FAILED$/, ""); printf "%s%s::%s", sep, bin, $0; sep = ", " }
    ' "$1"
}

field() { sed -n "s/^$1: //p" "$2" | head -n 1; }

apply_mutant() {
    python3 - "$1" <<'PY'
import sys
spec = open(sys.argv[1]).read()
head, rest = spec.split("--- old\n", 1)
old, rest = rest.split("--- new\n", 1)
new, _ = rest.split("--- end\n", 1)
path = [l[len("file: "):] for l in head.splitlines() if l.startswith("file: ")][0]
text = open(path).read()
count = text.count(old)
if count != 1:
    sys.exit(f"{sys.argv[1]}: the old text occurs {count} times in {path}, not once")
open(path, "w").write(text.replace(old, new))
PY
}

if [ "${SKIP_BASELINE:-0}" != 1 ]; then
    echo "== baseline (unmutated) =="
    start=$(date +%s)
    rc=$(run_tests "$OUT/baseline.log")
    secs=$(( $(date +%s) - start ))
    if [ "$rc" != 0 ]; then
        echo "baseline FAILED (rc $rc, ${secs}s): $(failing_tests "$OUT/baseline.log"); see $OUT/baseline.log" >&2
        exit 1
    fi
    echo "baseline passes (${secs}s)"
fi

if [ $# -eq 0 ]; then
    set -- conformance/mutants/*.mutant
fi
[ -f "$RESULTS" ] || printf 'mutant\trule\tverdict\tcaught by\tseconds\n' >"$RESULTS"

for arg in "$@"; do
    spec=$arg
    [ -f "$spec" ] || spec=conformance/mutants/$arg.mutant
    name=$(basename "$spec" .mutant)
    rule=$(field rule "$spec")
    file=$(field file "$spec")
    echo "== $name ($rule; $file) =="
    MUTATED_FILE=$file
    if ! apply_mutant "$spec"; then
        restore
        printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$rule" "not applied" "-" 0 >>"$RESULTS"
        continue
    fi
    start=$(date +%s)
    rc=$(run_tests "$OUT/$name.log")
    secs=$(( $(date +%s) - start ))
    restore
    caught_by=$(failing_tests "$OUT/$name.log")
    if [ "$rc" = 0 ]; then
        verdict=survived
        caught_by=-
    elif [ "$rc" = 137 ]; then
        verdict=caught
        caught_by="timeout (a test ran past its cap)${caught_by:+; $caught_by}"
    elif grep -q '^error\(\[E[0-9]*\]\)\?: ' "$OUT/$name.log" && [ -z "$caught_by" ]; then
        verdict="build error"
        caught_by=$(grep -m1 '^error' "$OUT/$name.log")
    else
        verdict=caught
        [ -n "$caught_by" ] || caught_by="rc $rc: $(grep -m1 -E 'error|panicked' "$OUT/$name.log")"
    fi
    echo "$verdict (${secs}s): $caught_by"
    printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$rule" "$verdict" "$caught_by" "$secs" >>"$RESULTS"
done
