#!/bin/sh
# Build picows_like's C extensions with AddressSanitizer + UBSan into
# build/fuzz-asan/ (a complete importable copy of the package), leaving the
# in-place release build in picows_like/ untouched.
#
#   PY=.venv/bin/python sh fuzz/build_asan.sh
#   then: PYTHONPATH=build/fuzz-asan LD_PRELOAD="$(sh fuzz/build_asan.sh --preload)" ...
#
# With gcc (the default) the C code gets comparison tracing for libFuzzer's
# value profile; with CC=clang it gets full edge coverage (fuzzer-no-link).
set -eu
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
CC=${CC:-gcc}
OUT=build/fuzz-asan

preload() {
    # The runtime that also carries libFuzzer: gcc-instrumented code links
    # against it fine (same ASan/UBSan ABI), and libFuzzer then receives the
    # comparison feedback of the C code (-fsanitize-coverage=trace-cmp, used
    # with -use_value_profile=1).  The shim supplies the floating-point
    # comparison hooks gcc emits and libFuzzer does not define.
    shim=""
    [ -f "$OUT/libcovshim.so" ] && shim=" $PWD/$OUT/libcovshim.so"
    echo "$("$PY" -c 'import atheris; print(atheris.path())')/asan_with_fuzzer.so$shim"
}

if [ "${1:-}" = "--preload" ]; then
    preload
    exit 0
fi

case "$CC" in
    *clang*) SAN="-fsanitize=address,undefined,fuzzer-no-link" ;;
    *)       SAN="-fsanitize=address,undefined -fsanitize-coverage=trace-cmp" ;;
esac
rm -rf "$OUT"
mkdir -p "$OUT"
# The Python part of the package as it is; the extensions rebuilt below.
cp -r picows_like "$OUT/"
find "$OUT/picows_like" \( -name '*.so' -o -name '*.c' -o -name '*.html' \
    -o -name __pycache__ \) -prune -exec rm -rf {} +
case "$CC" in
    *clang*) ;;
    *) printf '%s\n' \
        'void __sanitizer_cov_trace_cmpf(float a, float b) { (void)a; (void)b; }' \
        'void __sanitizer_cov_trace_cmpd(double a, double b) { (void)a; (void)b; }' \
        > "$OUT/covshim.c"
       "$CC" -shared -fPIC -O2 -o "$OUT/libcovshim.so" "$OUT/covshim.c" ;;
esac
# Sanitizer flags go into CC (compile only) and not into the link: the
# runtime comes from the preloaded library, not from the compiler's own
# libasan (two ASan runtimes in one process do not work).
LINK_CC="$CC"
CC="$CC $SAN -fno-omit-frame-pointer -g" LDSHARED="$LINK_CC -shared" \
    "$PY" setup.py -q build_ext --build-lib "$OUT" --build-temp "$OUT/tmp" --force -j 2
echo "ASan build in $OUT; preload: $(preload)"
