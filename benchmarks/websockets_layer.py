"""Echo benchmark of the websockets-style awaitable layers.

    python benchmarks/websockets_layer.py --quick      # 7 windows x 0.3 s per cell, ~1 minute
    python benchmarks/websockets_layer.py              # 15 windows x 0.5 s per cell, ~3 minutes
    python benchmarks/websockets_layer.py --same-cpu   # both ends on one CPU (see below)
    python benchmarks/websockets_layer.py --help

Contenders, each used on *both* ends (server handler ``async for msg in ws:
await ws.send(msg)``, client ``await ws.send(payload); await ws.recv()``),
so a cell measures what porting a websockets application to the layer gives:

* ``picows_like``: picows_like.websockets (this repository)
* ``picows``:      picows.websockets (picows 2.3.1's own compat layer)
* ``websockets``:  websockets.asyncio (the reference)
* ``raw``:         the floor: a pre-built frame sent over plain asyncio
                   protocols and echoed byte for byte without parsing, i.e.
                   what the event loop and the kernel alone cost (no
                   WebSocket work on either end); no layer can beat it

All with compression=None, ping_interval=None and a 16 MiB max_size.

Method: every contender gets one persistent server process and one
persistent client process holding one connection, all started up front.
For each size, rounds run one short window per contender back to back, in
a fresh random order each round, so machine drift hits all alike; a window
is a short warm-up then strict request/response with one binary message
for --duration seconds, checking every echo's size and every 64th echo's
content.  Reported per cell: the median round trips/s over the windows,
the medians of the windows' p50 / p99 latencies, and the *paired* ratios:
picows_like's window divided by the other contender's window of the same
round, as a median with a distribution-free ~95% interval.  ``cpu wait``
is how long client and server were runnable but not running
(/proc/PID/schedstat), as a share of the window: a busy machine shows
there.

Two modes, to be reported side by side:

* default: server on --server-cpu, client on --client-cpu.  On an idle
  VM much of a small message's round trip is the wake-up of the other,
  idle vCPU, which hides the per-message CPU cost of the libraries;
* ``--same-cpu``: both on --server-cpu, so a round trip costs the CPU
  time of both ends plus the kernel's loopback work -- the CPU cost a
  busy server would see.

--picows-like-root DIR benchmarks another picows_like build.

    python benchmarks/websockets_layer.py --instructions   # callgrind, ~3 minutes

counts CPU instructions per round trip instead (client and server in one
process, user space): the per-message cost without the scheduler noise.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import json
import math
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

IMPLS = ("picows_like", "picows", "websockets", "raw")
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

# -- the raw floor ----------------------------------------------------------------

class RawEchoServer(asyncio.Protocol):
    """Echoes bytes as they come, without parsing."""

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)


class RawClient(asyncio.Protocol):
    """send()/recv() like a layer's, over plain asyncio: one pre-built frame
    (header + payload, built once per payload) out, recv() returns the
    payload once the whole frame is back."""

    def __init__(self) -> None:
        self.payload = self.frame = None
        self.chunks, self.received, self.waiter = [], 0, None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.chunks.append(data)
        self.received += len(data)
        if self.received >= len(self.frame) and self.waiter is not None:
            self.waiter.set_result(b"".join(self.chunks)[len(self.frame) - len(self.payload):])
            self.chunks, self.received, self.waiter = [], 0, None

    async def send(self, payload: bytes) -> None:
        if payload is not self.payload:
            n = len(payload)
            header = (bytes([0x82, n]) if n < 126 else bytes([0x82, 126]) + n.to_bytes(2, "big")
                      if n < 65536 else bytes([0x82, 127]) + n.to_bytes(8, "big"))
            self.payload, self.frame = payload, header + payload
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(self.frame)

    async def recv(self) -> bytes:
        return await self.waiter


@contextlib.asynccontextmanager
async def echo_server(impl: str):
    """An echo server of `impl` on 127.0.0.1; yields its port."""
    if impl == "raw":
        server = await asyncio.get_running_loop().create_server(RawEchoServer, "127.0.0.1", 0)
        async with server:
            yield server.sockets[0].getsockname()[1]
        return
    _, serve = layer(impl)

    async def echo(ws) -> None:
        async for message in ws:
            await ws.send(message)

    async with serve(echo, "127.0.0.1", 0, **OPTIONS) as server:
        yield server.sockets[0].getsockname()[1]


@contextlib.asynccontextmanager
async def echo_client(impl: str, port: int):
    """A connected client of `impl` with send() / recv()."""
    if impl == "raw":
        transport, client = await asyncio.get_running_loop().create_connection(
            RawClient, "127.0.0.1", port)
        try:
            yield client
        finally:
            transport.close()
        return
    connect, _ = layer(impl)
    async with connect(f"ws://127.0.0.1:{port}/", **OPTIONS) as ws:
        yield ws


async def server_main(impl: str) -> None:
    async with echo_server(impl) as port:
        print(json.dumps({"port": port}), flush=True)
        await asyncio.get_running_loop().create_future()    # until killed


async def client_main(impl: str, port: int) -> None:
    """A persistent client: one connection, then one measurement window per
    command line on stdin (``SIZE SECONDS WARMUP``), one JSON line out each."""
    loop = asyncio.get_running_loop()
    async with echo_client(impl, port) as ws:
        print(json.dumps({"ready": True}), flush=True)
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line.strip():
                return
            size, duration, warmup = line.split()
            result = await window(ws, impl, int(size), float(duration), float(warmup))
            print(json.dumps(result), flush=True)


async def window(ws, impl: str, size: int, duration: float, warmup: float) -> dict:
    """Strict request/response for `duration` seconds after `warmup`."""
    payload = make_payload(size)
    latencies = array("q")
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
    payload = make_payload(size)
    async with echo_server(impl) as port:
        async with echo_client(impl, port) as ws:
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

class Contender:
    """A persistent server process and a persistent client process (with
    its one connection) for one library."""

    def __init__(self, impl: str, args) -> None:
        self.impl = impl
        server_cpu = args.server_cpu
        client_cpu = args.server_cpu if args.same_cpu else args.client_cpu
        self.server = subprocess.Popen(
            [sys.executable, __file__, "--role", "server", "--impl", impl, "--loop", args.loop,
             "--cpu", str(server_cpu)], stdout=subprocess.PIPE, text=True)
        line = self.server.stdout.readline()
        if not line:
            self.close()
            raise SystemExit(f"{impl} server did not start")
        port = json.loads(line)["port"]
        self.client = subprocess.Popen(
            [sys.executable, __file__, "--role", "client", "--impl", impl, "--loop", args.loop,
             "--cpu", str(client_cpu), "--port", str(port)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        if not self.client.stdout.readline():
            self.close()
            raise SystemExit(f"{impl} client did not connect")

    def run(self, size: int, duration: float, warmup: float) -> dict:
        swait0 = runqueue_wait_ns(self.server.pid) or 0
        self.client.stdin.write(f"{size} {duration} {warmup}\n")
        self.client.stdin.flush()
        line = self.client.stdout.readline()
        if not line:
            raise SystemExit(f"{self.impl} client died")
        result = json.loads(line)
        swait = (runqueue_wait_ns(self.server.pid) or 0) - swait0
        result["cpu_wait_pct"] = 100.0 * (result["client_wait_ns"] + max(0, swait)) / 1e9 \
            / max(result["elapsed"], 1e-9) / 2
        return result

    def close(self) -> None:
        for proc in (getattr(self, "client", None), self.server):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()


def fmt_size(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size // (1024 * 1024)} MiB"
    if size >= 1024:
        return f"{size // 1024} KiB"
    return f"{size} B"


def median_interval(values: list) -> tuple:
    """(median, low, high): a distribution-free ~95% confidence interval of
    the median from order statistics (binomial); (median, min, max) when
    there are too few values for that."""
    xs = sorted(values)
    n = len(xs)
    med = statistics.median(xs)
    # Largest k with P(Binomial(n, 1/2) < k) <= 2.5%: [x_k, x_(n-k+1)] (1-based).
    k, cum = 0, 0.0
    while True:
        cum += math.comb(n, k) / 2 ** n
        if cum > 0.025:
            break
        k += 1
    if k == 0:
        return med, xs[0], xs[-1]
    return med, xs[k - 1], xs[n - k]


def orchestrate(args) -> int:
    impls = [i for i in args.impls.split(",") if i]
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else list(SIZES)
    contenders = {}
    results = {size: {impl: [] for impl in impls} for size in sizes}
    started = time.perf_counter()
    try:
        for impl in impls:
            contenders[impl] = Contender(impl, args)
        for size in sizes:
            for rnd in range(args.rounds):
                order = list(impls)
                random.shuffle(order)
                line = []
                for impl in order:
                    r = contenders[impl].run(size, args.duration, args.warmup)
                    results[size][impl].append(r)
                    line.append(f"{impl} {r['rps']:.0f}")
                print(f"  {fmt_size(size):>8} round {rnd + 1:2}/{args.rounds}: "
                      + ", ".join(line), flush=True)
    finally:
        for contender in contenders.values():
            contender.close()
    total = time.perf_counter() - started

    fastpath = subprocess.run(
        [sys.executable, "-c", "import sys, os; sys.path.insert(0, os.environ.get("
         "'PICOWS_LIKE_ROOT', sys.argv[1])); import picows_like.websockets.asyncio._fastpath as f;"
         " print('compiled' if f.__file__.endswith('.so') else 'pure Python')", str(REPO_ROOT)],
        capture_output=True, text=True).stdout.strip()
    mode = (f"same cpu ({args.server_cpu}) for server and client" if args.same_cpu else
            f"server cpu {args.server_cpu}, client cpu {args.client_cpu}")
    others = [i for i in ("websockets", "picows") if i in impls and "picows_like" in impls]
    # Rows with paired ratios: ours, and the floor (the most any layer could get).
    rated = [i for i in ("picows_like", "raw") if i in impls]
    names = {"picows": "picows.websockets", "picows_like": "picows_like.websockets",
             "raw": "raw floor (no WebSocket)"}
    lines = [f"websockets-layer echo (picows_like fast path: {fastpath}), {args.loop}, "
             f"{mode}; {args.rounds} interleaved windows x {args.duration:g} s per contender "
             f"and size ({datetime.datetime.now():%Y-%m-%d %H:%M}, {total:.0f} s)", "",
             "| size | layer | median RPS | p50 us | p99 us | cpu wait |"
             + "".join(f" row / {names.get(o, o)} [95% CI] |" for o in others),
             "|---|---|---:|---:|---:|---:|" + "---:|" * len(others)]
    summary = {}
    for size in sizes:
        ratios = {}
        for impl in rated:
            for other in others:
                paired = [a["rps"] / b["rps"] for a, b in
                          zip(results[size][impl], results[size][other])]
                ratios[impl, other] = median_interval(paired)
        for impl in impls:
            runs = results[size][impl]
            med = statistics.median(r["rps"] for r in runs)
            p50 = statistics.median(r["p50_us"] for r in runs)
            p99 = statistics.median(r["p99_us"] for r in runs)
            wait = statistics.median(r["cpu_wait_pct"] for r in runs)
            cells = "".join(
                (f" {ratios[impl, o][0]:.2f}x [{ratios[impl, o][1]:.2f}-{ratios[impl, o][2]:.2f}] |"
                 if impl in rated else " |") for o in others)
            lines.append(f"| {fmt_size(size)} | {names.get(impl, impl)} | {med:.0f} | "
                         f"{p50:.1f} | {p99:.1f} | {wait:.1f}% |{cells}")
            summary.setdefault(str(size), {})[impl] = {
                "median_rps": med, "p50_us": p50, "p99_us": p99, "runs": runs}
        summary[str(size)]["ratios"] = {o: ratios["picows_like", o] for o in others
                                        if ("picows_like", o) in ratios}
        if "raw" in rated:
            summary[str(size)]["floor_ratios"] = {o: ratios["raw", o] for o in others}
    lines.append("")
    lines.append("Ratios are paired: each window of picows_like (or of the raw floor) is "
                 "divided by the same "
                 "round's window of the other layer (rounds run the contenders back to back "
                 "in shuffled order), then the median and its order-statistics ~95% "
                 "interval over the rounds.  cpu wait: runnable-but-not-running time of "
                 "client + server, a share of the window (a busy machine shows here"
                 + ("; with --same-cpu the two ends also wait for each other, so "
                    "a large share is expected" if args.same_cpu else "") + ").")
    table = "\n".join(lines)
    print()
    print(table)
    out_dir = HERE / "results"
    out_dir.mkdir(exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    kind = ("quick" if args.quick else "full") + ("-samecpu" if args.same_cpu else "")
    (out_dir / f"websockets_layer-{kind}-{stamp}.md").write_text(table + "\n")
    (out_dir / f"websockets_layer-{kind}-{stamp}.json").write_text(
        json.dumps({"args": vars(args), "results": summary}, indent=1))
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help="7 rounds x 0.3 s windows (about a minute)")
    ap.add_argument("--loop", default="uvloop", choices=("uvloop", "asyncio"))
    ap.add_argument("--impls", default=",".join(IMPLS))
    ap.add_argument("--sizes", default="", help="comma-separated byte sizes")
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--duration", type=float, default=None)
    ap.add_argument("--warmup", type=float, default=None)
    ap.add_argument("--picows-like-root", default=None,
                    help="import picows_like from this directory (e.g. a build with the "
                         "compiled fast path); default: the repository")
    ap.add_argument("--server-cpu", type=int, default=0)
    ap.add_argument("--client-cpu", type=int, default=1)
    ap.add_argument("--same-cpu", action="store_true",
                    help="pin server and client to --server-cpu: a round trip then costs "
                         "the CPU time of both ends plus the kernel, without idle-CPU "
                         "wake-ups")
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
        args.rounds = 7 if args.quick else 15
    if args.duration is None:
        args.duration = 0.3 if args.quick else 0.5
    if args.warmup is None:
        args.warmup = 0.05 if args.quick else 0.1

    if args.picows_like_root:
        os.environ["PICOWS_LIKE_ROOT"] = os.path.abspath(args.picows_like_root)
    if args.role == "server":
        pin_to_cpu(args.cpu)
        run_loop(args.loop, server_main(args.impl))
        return 0
    if args.role == "client":
        pin_to_cpu(args.cpu)
        run_loop(args.loop, client_main(args.impl, args.port))
        return 0
    if args.role == "inproc":
        run_loop(args.loop, inproc_main(args.impl, args.size, args.count))
        return 0
    if args.instructions:
        return instructions(args)
    return orchestrate(args)


if __name__ == "__main__":
    sys.exit(main())
