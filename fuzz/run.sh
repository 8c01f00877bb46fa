#!/bin/sh
# Run every fuzz target for N seconds each (default 600, or $FUZZ_SECONDS).
#
#   sh fuzz/run.sh [seconds]          # coverage-guided, release build (picows_like/)
#   ASAN=1 sh fuzz/run.sh [seconds]   # the same, then a second pass of the same
#                                     # length from the grown corpus against an
#                                     # ASan+UBSan build (fuzz/build_asan.sh)
#
# Corpora persist in build/fuzz-corpus/<target>/ (each run continues from the
# last one), findings are written to build/fuzz-artifacts/.  Exits non-zero on
# the first finding.  Env: PY (default .venv/bin/python), FUZZ_TARGETS.
set -eu
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
SECS=${1:-${FUZZ_SECONDS:-600}}
TARGETS=${FUZZ_TARGETS:-"frame_parser upgrade_request"}
ASAN=${ASAN:-0}

if [ "$ASAN" = 1 ]; then
    PY="$PY" sh fuzz/build_asan.sh
    PRELOAD=$(PY="$PY" sh fuzz/build_asan.sh --preload)
fi

fuzz() {   # fuzz <target> <label> [libFuzzer flags...]
    target=$1 label=$2
    shift 2
    "$PY" "fuzz/fuzz_$target.py" -max_total_time="$SECS" -rss_limit_mb=4096 \
        -print_final_stats=1 -artifact_prefix="build/fuzz-artifacts/$target-$label-" "$@" \
        "build/fuzz-corpus/$target"
}

mkdir -p build/fuzz-artifacts
for t in $TARGETS; do
    mkdir -p "build/fuzz-corpus/$t"
    echo "== fuzz $t: ${SECS}s coverage-guided (release build)"
    fuzz "$t" release
    if [ "$ASAN" = 1 ]; then
        echo "== fuzz $t: ${SECS}s from that corpus with ASan+UBSan"
        # Python coverage plus the C code's comparison feedback (value profile).
        # detect_odr_violation=0: Cython modules share global names (benign).
        (
            export PYTHONPATH="$PWD/build/fuzz-asan" LD_PRELOAD="$PRELOAD"
            export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0:detect_odr_violation=0:allocator_may_return_null=1}"
            export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
            fuzz "$t" asan -use_value_profile=1
        )
    fi
done
echo "== fuzz: no findings"
