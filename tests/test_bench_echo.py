"""Smoke test of benchmarks/echo.py (the echo benchmark), bounded to ~15 s.

* The statistics: the sign-test interval for a median picks the order
  statistics the binomial distribution says (checked against a direct
  computation), and the verdict needs the whole interval beyond 1 +- the A/A
  deviation.
* One tiny end-to-end run (asyncio loop, 64 B over TCP and TLS, raw floor +
  picows baseline + A/A twin + picows_like, 6 rounds of 0.04 s windows, no
  pinning): it must exit 0 and write a report in which every contender ran every
  window, every ratio has an interval, and the content checks passed (a failed
  check would show up as an error).
The Cython contenders are left out (a cold build takes longer than this test may).
"""
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCH))
import echo  # noqa: E402

needs_picows = pytest.mark.skipif(
    subprocess.run([sys.executable, "-c", "import picows, trustme"]).returncode != 0,
    reason="picows and trustme are needed for the end-to-end run")
# The benchmark scripts use asyncio.Runner(loop_factory=...) and asyncio.timeout().
needs_py311 = pytest.mark.skipif(sys.version_info < (3, 11),
                                 reason="benchmarks/ needs Python >= 3.11")


@pytest.mark.parametrize("n", range(1, 31))
def test_median_ci_is_the_sign_test_interval(n):
    values = [float(v) for v in range(n, 0, -1)]          # sorted: 1..n
    ci = echo.median_ci(values)
    tail = lambda k: sum(math.comb(n, j) for j in range(k)) / 2 ** n   # P(B < k)
    ks = [k for k in range(1, n // 2 + 1) if tail(k) <= 0.025]
    if not ks:
        assert ci is None
        return
    k = max(ks)
    low, high, coverage = ci
    assert (low, high) == (float(k), float(n - k + 1))
    assert coverage == pytest.approx(1 - 2 * tail(k)) and coverage >= 0.95


def test_median_ci_known_values():
    assert echo.median_ci([1.0] * 5) is None
    assert echo.median_ci(list(range(9)))[:2] == (1, 7)        # [2nd, 8th] of 9
    assert echo.median_ci(list(range(15)))[:2] == (3, 11)      # [4th, 12th] of 15


def test_verdict_needs_the_interval_beyond_the_aa_deviation():
    r = lambda lo, hi: {"median": (lo + hi) / 2, "ci": [lo, hi]}
    assert echo.verdict(r(1.02, 1.10), 0.0) == "faster"
    assert echo.verdict(r(1.02, 1.10), 0.03) == "noise"       # A/A moved 3%: not enough
    assert echo.verdict(r(1.04, 1.10), 0.03) == "faster"
    assert echo.verdict(r(0.80, 0.96), 0.03) == "slower"
    assert echo.verdict(r(0.95, 1.20), 0.0) == "noise"        # interval contains 1
    assert echo.verdict({"median": 1.2, "ci": None}, 0.0) == "n/a"


@needs_picows
@needs_py311
def test_tiny_end_to_end_run(tmp_path):
    cmd = [sys.executable, str(BENCH / "echo.py"), "--no-pin", "--loops", "asyncio",
           "--transports", "tcp,tls", "--sizes", "64", "--tls-sizes", "64",
           "--contenders", "raw,picows,picows_aa,picows_like", "--rounds", "6",
           "--window", "0.04", "--settle", "0.01", "--warmup", "0.05", "--out-dir", str(tmp_path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=90, cwd=BENCH)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "wall time:" in proc.stdout
    (report_path,) = tmp_path.glob("echo-*.json")
    assert list(tmp_path.glob("echo-*.md"))
    report = json.loads(report_path.read_text())
    assert [(c["transport"], c["size"]) for c in report["cells"]] == [("tcp", 64), ("tls", 64)]
    keys = report["contender_order"]
    assert keys == ["picows", "picows_aa", "picows_like", "raw"]
    for cell in report["cells"]:
        assert cell["errors"] == {}
        summary = cell["summary"]
        assert summary["rounds_done"] == 6
        for key in keys:
            s = summary["contenders"][key]
            assert s["windows_done"] == 6 and s["rps_median"] > 0 and s["p50_us"] > 0
            assert s["latency_samples"] > 0
            if key != "picows":
                low, high = s["vs_baseline"]["ci"]
                assert low <= s["vs_baseline"]["median"] <= high
        # Every round ran every contender, in a shuffled order.
        assert all(sorted(r["order"]) == sorted(keys) for r in cell["rounds"])
