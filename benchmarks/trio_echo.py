"""Echo round trips: picows_like.trio against trio-websocket.

Two figures per message size, both with the client and the server of the
same library in one trio process over loopback TCP (one BINARY message
sent, its echo awaited, repeat; no compression, trio-websocket has none):

* callgrind instructions per round trip (both ends): I(N2) - I(N1) over
  N2 - N1 round trips, start-up cancelled out.  Deterministic to a fraction
  of a percent whatever else the machine does; kernel time not counted.
* round trips per second, wall clock: each round runs every contender for
  --seconds in a fresh process pinned to one core (taskset, when there), the
  contenders interleaved round by round; the median over --rounds is shown
  with the spread.  picows_like.trio runs twice per round ("A/A"): the
  difference between its two medians is the noise of the machine.

    .venv/bin/python benchmarks/trio_echo.py [--sizes 256,8192,65536,1048576]
        [--rounds 5] [--seconds 1] [--no-callgrind] [--no-wall]
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.abspath(__file__)
SIZES = (256, 8192, 65536, 1048576)
LIBS = ("picows_like.trio", "trio_websocket")
MAX = 2 ** 22


def _module(lib):
    if lib == "picows_like.trio":
        from picows_like import trio as tw
    else:
        import trio_websocket as tw
    return tw


async def _echo(lib, size, count, seconds):
    """`count` round trips (or as many as fit in `seconds`); returns (n, elapsed)."""
    import trio
    tw = _module(lib)

    async def handler(request):
        ws = await request.accept()
        try:
            while True:
                await ws.send_message(await ws.get_message())
        except tw.ConnectionClosed:
            pass

    payload = os.urandom(size)
    async with trio.open_nursery() as nursery:
        server = await nursery.start(lambda task_status=trio.TASK_STATUS_IGNORED: tw.serve_websocket(
            handler, "127.0.0.1", 0, None, max_message_size=MAX, task_status=task_status))
        async with tw.open_websocket("127.0.0.1", server.port, "/", use_ssl=False,
                                     max_message_size=MAX) as ws:
            await ws.send_message(payload)          # warm-up
            assert await ws.get_message() == payload
            n = 0
            start = time.perf_counter()
            if seconds:
                end = start + seconds
                while True:
                    for _ in range(8):
                        await ws.send_message(payload)
                        got = await ws.get_message()
                    n += 8
                    if time.perf_counter() >= end:
                        break
            else:
                for _ in range(count):
                    await ws.send_message(payload)
                    got = await ws.get_message()
                n = count
            elapsed = time.perf_counter() - start
            assert got == payload
        nursery.cancel_scope.cancel()
    return n, elapsed


def child(lib, size, count, seconds):
    import trio
    n, elapsed = trio.run(_echo, lib, size, count, seconds)
    print(f"RESULT {n} {elapsed}")


def _run_child(lib, size, count=0, seconds=0.0, prefix=()):
    cmd = [*prefix, sys.executable, HERE, "--child", lib, str(size), str(count), str(seconds)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{out.stderr[-2000:]}")
    return out


def instructions(lib, size, n1, n2):
    counts = []
    for n in (n1, n2):
        out = _run_child(lib, size, count=n, prefix=(
            "valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"))
        counts.append(int(re.search(r"Collected : (\d+)", out.stderr).group(1)))
    return (counts[1] - counts[0]) / (n2 - n1)


def rate(lib, size, seconds, core):
    prefix = ("taskset", "-c", str(core)) if core is not None and shutil.which("taskset") else ()
    out = _run_child(lib, size, seconds=seconds, prefix=prefix)
    n, elapsed = out.stdout.split()[1:3]
    return int(n) / float(elapsed)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    ap.add_argument("--sizes", default=",".join(map(str, SIZES)))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=1.0)
    ap.add_argument("--core", type=int, default=1, help="core to pin to (-1: no pinning)")
    ap.add_argument("--no-callgrind", action="store_true")
    ap.add_argument("--no-wall", action="store_true")
    args = ap.parse_args()
    if args.child:
        lib, size, count, seconds = args.child
        child(lib, int(size), int(count), float(seconds))
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    import trio
    import trio_websocket
    print(f"python {sys.version.split()[0]}, trio {trio.__version__}, "
          f"trio-websocket {trio_websocket.__version__}")
    if not args.no_callgrind:
        print("\ncallgrind instructions per round trip (client + server, one process)")
        print(f"{'size':>9} {'picows_like.trio':>18} {'trio_websocket':>18} {'ratio':>7}")
        for size in sizes:
            n1, n2 = (200, 1000) if size < 500_000 else (20, 100)
            row = [instructions(lib, size, n1, n2) for lib in LIBS]
            print(f"{size:>9} {row[0]:>18,.0f} {row[1]:>18,.0f} {row[0] / row[1]:>7.3f}",
                  flush=True)
    if not args.no_wall:
        core = None if args.core < 0 else args.core
        print(f"\nround trips/s, median of {args.rounds} interleaved rounds of {args.seconds} s "
              f"(min-max); pinned to core {core}; A/A = picows_like.trio run twice")
        names = ["picows_like.trio", "picows_like.trio (A/A)", "trio_websocket"]
        print(f"{'size':>9} " + " ".join(f"{n:>28}" for n in names) + f" {'ratio':>6} {'A/A':>6}")
        for size in sizes:
            got = {n: [] for n in names}
            for _ in range(args.rounds):
                for name in names:
                    got[name].append(rate(name.split()[0], size, args.seconds, core))
            med = {n: statistics.median(v) for n, v in got.items()}
            cells = [f"{med[n]:>10,.0f} ({min(got[n]):,.0f}-{max(got[n]):,.0f})" for n in names]
            aa = abs(med[names[0]] - med[names[1]]) / max(med[names[0]], med[names[1]])
            print(f"{size:>9} " + " ".join(f"{c:>28}" for c in cells)
                  + f" {med[names[0]] / med[names[2]]:>6.2f} {aa:>6.1%}", flush=True)


if __name__ == "__main__":
    main()
