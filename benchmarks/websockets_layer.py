"""Echo benchmark of the websockets-style awaitable layers.

    python benchmarks/websockets_layer.py --quick      # 3 rounds x 1.2 s per cell, < 2 minutes
    python benchmarks/websockets_layer.py              # 5 rounds x 3 s per cell, ~5 minutes
    python benchmarks/websockets_layer.py --help

Contenders, each used on *both* ends (server handler ``async for msg in ws:
await ws.send(msg)``, client ``await ws.send(payload); await ws.recv()``),
so a cell measures what porting a websockets application to the layer gives:

* ``picows_like``: picows_like.websockets (this repository)
* ``picows``:      picows.websockets (picows 2.3.1's own compat layer)
* ``websockets``:  websockets.asyncio (the reference)

All with compression=None, ping_interval=None and a 16 MiB max_size.
Method: one server process per contender, pinned to --server-cpu; every
client run is a fresh process pinned to --client-cpu that opens one
connection, warms up, then does strict request/response with one binary
message for --duration seconds, checking every echo's size and every 64th
echo's content.  Per size, contenders run round by round (first round in
listed order, later rounds shuffled) so machine drift hits all alike.
Reported: median round trips/s over the rounds, and the median over the
rounds of each run's p50 / p99 round-trip latency (us).  ``cpu wait`` is
how long the client and server were runnable but not running
(/proc/PID/schedstat) as a share of the run: a busy shared machine shows
up there: a run above --max-cpu-wait (5%) is retried (quick: once, full:
twice) and medians use the clean runs when there are any (else all, marked
with *).  --picows-like-root DIR benchmarks another picows_like build, e.g.
one with the compiled fast path.

    python benchmarks/websockets_layer.py --instructions   # callgrind, ~3 minutes

counts CPU instructions per round trip instead (client and server in one
process, user space): the per-message cost without the scheduler noise.
"""
from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import random
import statistics
import subprocess
import sys
import time
from array import array
from pathlib import Path
from time import perf_counter_ns

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _bench_common import (REPO_ROOT, make_payload, pin_to_cpu,  # noqa: E402
                           runqueue_wait_ns)

IMPLS = ("picows_like", "picows", "websockets")
SIZES = (256, 8 * 1024, 100 * 1024, 1024 * 1024)
MAX_SIZE = 16 * 1024 * 1024
OPTIONS = dict(compression=None, ping_interval=None, max_size=MAX_SIZE)


def layer(impl: str):
    """(connect, serve) of a contender."""
    if impl == "picows_like":
        root = os.environ.get("PICOWS_LIKE_ROOT", str(REPO_ROOT))
        if root not in sys.path:
            sys.path.insert(0, root)
        from picows_like.websockets import connect, serve
    elif impl == "picows":
        from picows.websockets import connect, serve
    elif impl == "websockets":
        from websockets.asyncio.client import connect
        from websockets.asyncio.server import serve
    else:
        raise ValueError(impl)
    return connect, serve


def run_loop(loop_name: str, coro) -> object:
    if loop_name == "uvloop":
        import uvloop
        return uvloop.run(coro)
    return asyncio.run(coro)


# -- child processes ------------------------------------------------------------

async def server_main(impl: str) -> None:
    _, serve = layer(impl)

    async def echo(ws) -> None:
        async for message in ws:
            await ws.send(message)

    async with serve(echo, "127.0.0.1", 0, **OPTIONS) as server:
        port = server.sockets[0].getsockname()[1]
        print(json.dumps({"port": port}), flush=True)
        await asyncio.get_running_loop().create_future()    # until killed


async def client_main(impl: str, port: int, size: int, duration: float, warmup: float) -> dict:
    connect, _ = layer(impl)
    payload = make_payload(size)
    latencies = array("q")
    async with connect(f"ws://127.0.0.1:{port}/", **OPTIONS) as ws:
        end = time.perf_counter() + warmup
        while time.perf_counter() < end:
            await ws.send(payload)
            await ws.recv()
        wait0 = runqueue_wait_ns() or 0
        count = 0
        start = perf_counter_ns()
        stop_at = start + int(duration * 1e9)
        t1 = start
        while t1 < stop_at:
            t0 = perf_counter_ns()
            await ws.send(payload)
            echo = await ws.recv()
            t1 = perf_counter_ns()
            latencies.append(t1 - t0)
            if len(echo) != size or (count % 64 == 0 and echo != payload):
                raise SystemExit(f"bad echo from {impl}: {len(echo)} bytes")
            count += 1
        elapsed = (t1 - start) / 1e9
        wait = (runqueue_wait_ns() or 0) - wait0
    lat = sorted(latencies)
    return {"rps": count / elapsed, "count": count, "elapsed": elapsed,
            "p50_us": lat[len(lat) // 2] / 1e3,
            "p99_us": lat[min(len(lat) - 1, int(len(lat) * 0.99))] / 1e3,
            "client_wait_ns": wait}


async def inproc_main(impl: str, size: int, count: int) -> None:
    """Client and server in one process, `count` round trips (for callgrind)."""
    connect, serve = layer(impl)

    async def echo(ws) -> None:
        async for message in ws:
            await ws.send(message)

    payload = make_payload(size)
    async with serve(echo, "127.0.0.1", 0, **OPTIONS) as server:
        port = server.sockets[0].getsockname()[1]
        async with connect(f"ws://127.0.0.1:{port}/", **OPTIONS) as ws:
            for _ in range(count):
                await ws.send(payload)
                await ws.recv()


def count_instructions(impl: str, size: int, count: int, args) -> int:
    cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable,
           __file__, "--role", "inproc", "--impl", impl, "--loop", args.loop,
           "--size", str(size), "--count", str(count)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    found = [line for line in out.stderr.splitlines() if "Collected :" in line]
    if out.returncode != 0 or not found:
        raise SystemExit(f"callgrind run failed: {out.stderr[-2000:]}")
    return int(found[-1].split(":")[-1])


def instructions(args) -> int:
    """CPU instructions per round trip (both ends, user space), by callgrind:
    (I(n2) - I(n1)) / (n2 - n1) cancels start-up.  Unlike wall-clock rates on
    a shared VM, these repeat to a fraction of a percent."""
    impls = [i for i in args.impls.split(",") if i]
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else list(SIZES)
    others = [i for i in impls if i != "picows_like"] if "picows_like" in impls else []
    lines = [f"instructions per echo round trip (client + server, user space, callgrind), "
             f"{args.loop}", "",
             "| size | " + " | ".join(impls) + " |" +
             "".join(f" picows_like / {i} |" for i in others),
             "|---|" + "---:|" * (len(impls) + len(others))]
    for size in sizes:
        n1, n2 = (300, 900) if size <= 8192 else (100, 300) if size <= 102400 else (20, 60)
        per = {}
        for impl in impls:
            per[impl] = (count_instructions(impl, size, n2, args)
                         - count_instructions(impl, size, n1, args)) / (n2 - n1)
            print(f"  {fmt_size(size):>8} {impl:<12} {per[impl]:>12,.0f} instructions", flush=True)
        lines.append(f"| {fmt_size(size)} | " + " | ".join(f"{per[i]:,.0f}" for i in impls)
                     + " |" + "".join(f" {per['picows_like'] / per[i]:.2f} |" for i in others))
    print()
    print("\n".join(lines))
    return 0


# -- orchestration --------------------------------------------------------------

def start_server(impl: str, args) -> tuple:
    cmd = [sys.executable, __file__, "--role", "server", "--impl", impl, "--loop", args.loop,
           "--cpu", str(args.server_cpu)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if not line:
        proc.kill()
        raise SystemExit(f"{impl} server did not start")
    return proc, json.loads(line)["port"]


def run_client(impl: str, port: int, size: int, args, server_pid: int) -> dict:
    cmd = [sys.executable, __file__, "--role", "client", "--impl", impl, "--loop", args.loop,
           "--cpu", str(args.client_cpu), "--port", str(port), "--size", str(size),
           "--duration", str(args.duration), "--warmup", str(args.warmup)]
    swait0 = runqueue_wait_ns(server_pid) or 0
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True,
                         timeout=args.duration + args.warmup + 30)
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        raise SystemExit(f"{impl} client failed: {out.stderr[-2000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    swait = (runqueue_wait_ns(server_pid) or 0) - swait0
    result["cpu_wait_pct"] = 100.0 * (result["client_wait_ns"] + max(0, swait)) / 1e9 \
        / max(result["elapsed"], 1e-9) / 2
    result["wall"] = wall
    return result


def fmt_size(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size // (1024 * 1024)} MiB"
    if size >= 1024:
        return f"{size // 1024} KiB"
    return f"{size} B"


def orchestrate(args) -> int:
    impls = [i for i in args.impls.split(",") if i]
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else list(SIZES)
    servers = {}
    try:
        for impl in impls:
            servers[impl] = start_server(impl, args)
        results = {size: {impl: [] for impl in impls} for size in sizes}
        started = time.perf_counter()
        for size in sizes:
            for rnd in range(args.rounds):
                order = list(impls)
                if rnd:
                    random.shuffle(order)
                for impl in order:
                    proc, port = servers[impl]
                    for attempt in range(args.retries + 1):
                        r = run_client(impl, port, size, args, proc.pid)
                        r["clean"] = r["cpu_wait_pct"] <= args.max_cpu_wait
                        results[size][impl].append(r)
                        print(f"  {fmt_size(size):>8} round {rnd + 1}/{args.rounds} {impl:<12} "
                              f"{r['rps']:>9.0f} rps  p50 {r['p50_us']:7.1f} us  "
                              f"cpu wait {r['cpu_wait_pct']:4.1f}%"
                              f"{'' if r['clean'] else '  (disturbed)'}", flush=True)
                        if r["clean"]:
                            break
        total = time.perf_counter() - started
    finally:
        for proc, _ in servers.values():
            proc.kill()
            proc.wait()

    fastpath = subprocess.run(
        [sys.executable, "-c", "import sys, os; sys.path.insert(0, os.environ.get("
         "'PICOWS_LIKE_ROOT', sys.argv[1])); import picows_like.websockets.asyncio._fastpath as f;"
         " print('compiled' if f.__file__.endswith('.so') else 'pure Python')", str(REPO_ROOT)],
        capture_output=True, text=True).stdout.strip()
    lines = [f"websockets-layer echo (picows_like fast path: {fastpath}), "
             f"{args.loop}, {args.rounds} rounds x {args.duration:g} s, "
             f"server cpu {args.server_cpu}, client cpu {args.client_cpu} "
             f"({datetime.datetime.now():%Y-%m-%d %H:%M}, {total:.0f} s)", "",
             "| size | layer | median RPS | p50 us | p99 us | vs websockets | vs picows.websockets "
             "| cpu wait |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    summary = {}
    used = {}
    for size in sizes:
        for impl in impls:
            clean = [r for r in results[size][impl] if r["clean"]]
            used[size, impl] = (clean or results[size][impl], bool(clean))
        med = {impl: statistics.median(r["rps"] for r in used[size, impl][0]) for impl in impls}
        for impl in impls:
            runs, all_clean = used[size, impl]
            p50 = statistics.median(r["p50_us"] for r in runs)
            p99 = statistics.median(r["p99_us"] for r in runs)
            wait = statistics.median(r["cpu_wait_pct"] for r in runs)
            vs_ws = f"{med[impl] / med['websockets']:.2f}x" if "websockets" in med else "-"
            vs_pw = f"{med[impl] / med['picows']:.2f}x" if "picows" in med else "-"
            name = {"picows": "picows.websockets", "picows_like": "picows_like.websockets"}.get(
                impl, impl)
            mark = "" if all_clean else "*"
            lines.append(f"| {fmt_size(size)} | {name} | {med[impl]:.0f}{mark} | {p50:.1f} | "
                         f"{p99:.1f} | {vs_ws} | {vs_pw} | {wait:.1f}% |")
            summary.setdefault(str(size), {})[impl] = {"median_rps": med[impl], "p50_us": p50,
                                                       "p99_us": p99, "runs": runs}
    lines.append("")
    lines.append(f"Medians over the rounds whose cpu wait was <= {args.max_cpu_wait:g}% "
                 "(disturbed runs are retried); * = no clean run, all runs used.")
    table = "\n".join(lines)
    print()
    print(table)
    out_dir = HERE / "results"
    out_dir.mkdir(exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    kind = "quick" if args.quick else "full"
    (out_dir / f"websockets_layer-{kind}-{stamp}.md").write_text(table + "\n")
    (out_dir / f"websockets_layer-{kind}-{stamp}.json").write_text(
        json.dumps({"args": vars(args), "results": summary}, indent=1))
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="3 rounds x 1.2 s (under 2 minutes)")
    ap.add_argument("--loop", default="uvloop", choices=("uvloop", "asyncio"))
    ap.add_argument("--impls", default=",".join(IMPLS))
    ap.add_argument("--sizes", default="", help="comma-separated byte sizes")
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--duration", type=float, default=None)
    ap.add_argument("--warmup", type=float, default=None)
    ap.add_argument("--picows-like-root", default=None,
                    help="import picows_like from this directory (e.g. a build with the "
                         "compiled fast path); default: the repository")
    ap.add_argument("--max-cpu-wait", type=float, default=5.0,
                    help="a run with more cpu wait (%%) is disturbed and retried")
    ap.add_argument("--retries", type=int, default=None,
                    help="retries of a disturbed run (quick: 1, full: 2)")
    ap.add_argument("--server-cpu", type=int, default=0)
    ap.add_argument("--client-cpu", type=int, default=1)
    # child process options
    ap.add_argument("--instructions", action="store_true",
                    help="instead of the echo rates: CPU instructions per round trip under "
                         "callgrind (client and server in one process; needs valgrind)")
    ap.add_argument("--role", choices=("server", "client", "inproc"), help=argparse.SUPPRESS)
    ap.add_argument("--count", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--impl", help=argparse.SUPPRESS)
    ap.add_argument("--cpu", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--size", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.rounds is None:
        args.rounds = 3 if args.quick else 5
    if args.duration is None:
        args.duration = 1.2 if args.quick else 3.0
    if args.retries is None:
        args.retries = 1 if args.quick else 2
    if args.warmup is None:
        args.warmup = 0.2 if args.quick else 0.5

    if args.picows_like_root:
        os.environ["PICOWS_LIKE_ROOT"] = os.path.abspath(args.picows_like_root)
    if args.role == "server":
        pin_to_cpu(args.cpu)
        run_loop(args.loop, server_main(args.impl))
        return 0
    if args.role == "client":
        pin_to_cpu(args.cpu)
        result = run_loop(args.loop, client_main(args.impl, args.port, args.size,
                                                 args.duration, args.warmup))
        print(json.dumps(result))
        return 0
    if args.role == "inproc":
        run_loop(args.loop, inproc_main(args.impl, args.size, args.count))
        return 0
    if args.instructions:
        return instructions(args)
    return orchestrate(args)


if __name__ == "__main__":
    sys.exit(main())
