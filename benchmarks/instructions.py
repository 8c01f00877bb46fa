"""CPU instructions per echo round trip, counted by callgrind.

Wall-clock echo rates on a shared 2-core VM are dominated by scheduler
wake-ups (see echo.py's A/A noise); instruction counts are not: they repeat
to within a fraction of a percent whatever else the machine does.  For each
contender, loop and size we run N1 and N2 round trips (client and server of
the same library in one process) and report (I(N2) - I(N1)) / (N2 - N1):
the work one round trip costs both ends, start-up cancelled out.  Kernel
time (the syscalls themselves) is not counted; Python, the event loop and
the library are.

    python benchmarks/instructions.py [--quick]
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CONTENDERS = ["picows_like", "picows-afn-off", "picows-afn-on", "raw"]
# also available: "picows_like-autoping" (auto-ping on, 0.5 s idle timeout)


def count_instructions(lib: str, size: int, n: int, loop: str) -> int:
    cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
           sys.executable, str(HERE / "_cg_echo.py"), lib, str(size), str(n), loop]
    # A fixed hash seed: the interpreter's own work (dict lookups) then repeats
    # exactly between runs, so two builds differ only by what they execute.
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600,
                         env={**os.environ, "PYTHONHASHSEED": "0"})
    found = re.search(r"Collected : (\d+)", out.stderr)
    if out.returncode != 0 or not found:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{out.stderr[-2000:]}")
    return int(found.group(1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer sizes and round trips")
    ap.add_argument("--sizes", default=None, help="comma-separated sizes in bytes")
    ap.add_argument("--loops", default="asyncio,uvloop")
    ap.add_argument("--contenders", default=",".join(CONTENDERS))
    args = ap.parse_args()
    sizes = [int(s) for s in (args.sizes or ("256,102400" if args.quick else
                                             "256,8192,102400,1048576")).split(",")]
    n1, n2 = (200, 1200) if args.quick else (500, 2500)
    results = {}
    t0 = time.time()
    print(f"instructions per round trip (both ends), N = {n2} - {n1}; python {sys.version.split()[0]}")
    header = f"{'loop':8} {'size':>8} " + " ".join(f"{c:>15}" for c in args.contenders.split(","))
    print(header + "   picows_like / picows-afn-off")
    for loop in args.loops.split(","):
        for size in sizes:
            row = {}
            for lib in args.contenders.split(","):
                scale = 1 if size < 500_000 else 4      # big messages: fewer trips
                a = count_instructions(lib, size, n1 // scale, loop)
                b = count_instructions(lib, size, n2 // scale, loop)
                row[lib] = (b - a) / ((n2 - n1) // scale)
            results[f"{loop}/{size}"] = row
            ratio = row.get("picows_like", 0) / row["picows-afn-off"] if "picows-afn-off" in row else float("nan")
            print(f"{loop:8} {size:>8} " + " ".join(f"{row[c]:>15,.0f}" for c in row)
                  + f"   {ratio:.3f}", flush=True)
    out = HERE / "results" / "instructions.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=1))
    print(f"done in {time.time() - t0:.0f} s; lower is better; written to {out}")


if __name__ == "__main__":
    main()
