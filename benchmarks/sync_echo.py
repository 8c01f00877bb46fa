"""Blocking echo round trips, paired: picows_like.websockets.sync against
websockets.sync and websocket-client, each as the client of one shared echo
server (picows_like's picows API on uvloop, in its own process:
benchmarks/_echo_server.py), so the figures compare the client side.

Method (the machine is shared and noisy, so nothing is compared across
time): the server is pinned to one CPU, every contender's client is a
long-lived process pinned to the other CPU, started once.  For each size the
coordinator runs --rounds rounds; in each round every contender, in a new
random order, opens a fresh connection, does a few unmeasured round trips,
then measures a --window long run (send one BINARY message, wait for its
echo, repeat) and reports round trips, span and its process's CPU time (all
its threads).  Only one client talks at a time.  ``picows_like (A/A)`` is
a second process running exactly our client: its paired ratio to ours is
the noise level.  Per round each contender's rate is divided by ours of the
same round; the table gives median round trips/s, median client CPU µs per
round trip, the median paired ratio ours / contender (> 1: we are faster)
and in how many rounds ours was the faster, next to the same for the A/A
twin.

    .venv/bin/python benchmarks/sync_echo.py [--rounds 11] [--window 0.4]
        [--sizes 256,8192,65536,1048576] [--server-cpu 0] [--client-cpu 1] [--no-pin]

websocket-client is in the ``bench`` extra (pip install websocket-client);
without it that column is skipped.  Compression is off everywhere
(websocket-client has none); max_size unlimited; keepalive pings off.
"""
import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SIZES = (256, 8192, 65536, 1048576)
CONTENDERS = ("picows_like", "picows_like (A/A)", "websockets.sync", "websocket-client")
BASE = "picows_like"


# -- the client processes ------------------------------------------------------------

def _open(kind, uri):
    """(send, recv, close) of a fresh connection."""
    if kind.startswith("picows_like"):
        from picows_like.websockets.sync.client import connect
        ws = connect(uri, compression=None, max_size=None, ping_interval=None, proxy=None)
        return ws.send, ws.recv, ws.close
    if kind == "websockets.sync":
        from websockets.sync.client import connect as ws_connect
        ws = ws_connect(uri, compression=None, max_size=None, ping_interval=None, proxy=None,
                        legacy=True)
        return ws.send, ws.recv, ws.close
    import websocket
    wsc = websocket.create_connection(uri, enable_multithread=False)
    return wsc.send_bytes, wsc.recv, wsc.close


def _measure(kind, uri, payload, window):
    send, recv, close = _open(kind, uri)
    try:
        for _ in range(8):                  # wake things up, not measured
            send(payload)
            recv()
        n = 0
        cpu = time.process_time()
        start = time.perf_counter()
        end = start + window
        while True:
            for _ in range(4):
                send(payload)
                got = recv()
            n += 4
            now = time.perf_counter()
            if now >= end:
                break
        cpu = time.process_time() - cpu
        if got != payload:
            raise AssertionError("echo differs")
        return {"trips": n, "span": now - start, "cpu": cpu}
    finally:
        close()


def child(kind, uri, cpu):
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    print("READY", flush=True)
    payloads = {}
    for line in sys.stdin:
        size, window = line.split()
        size = int(size)
        if size not in payloads:
            payloads[size] = os.urandom(size)
        print(json.dumps(_measure(kind, uri, payloads[size], float(window))), flush=True)


# -- the coordinator -----------------------------------------------------------------

def _spawn(args, cpu):
    proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    return proc


def start_server(cpu):
    args = [sys.executable, os.path.join(HERE, "_echo_server.py"),
            "--impl", "picows_like", "--loop", "uvloop", "--max-lifetime", "3600"]
    if cpu is not None:
        args += ["--cpu", str(cpu)]
    proc = _spawn(args, cpu)
    line = proc.stdout.readline()
    if not line.startswith("PORT "):
        proc.kill()
        raise RuntimeError(f"echo server did not start: {line!r}")
    return proc, int(line.split()[1])


def start_client(kind, uri, cpu):
    args = [sys.executable, os.path.abspath(__file__), "--child", kind, "--uri", uri]
    if cpu is not None:
        args += ["--client-cpu", str(cpu)]
    proc = _spawn(args, cpu)
    if proc.stdout.readline().strip() != "READY":
        proc.kill()
        raise RuntimeError(f"{kind} client did not start")
    return proc


def _has_websocket_client():
    try:
        import websocket  # noqa: F401
        return True
    except ImportError:
        print("(websocket-client not installed: skipped)")
        return False


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--window", type=float, default=0.4, help="seconds per measurement")
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)))
    parser.add_argument("--server-cpu", type=int, default=0)
    parser.add_argument("--client-cpu", type=int, default=1)
    parser.add_argument("--no-pin", action="store_true")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--uri", help=argparse.SUPPRESS)
    args = parser.parse_args()
    pin = not args.no_pin and hasattr(os, "sched_setaffinity") and len(os.sched_getaffinity(0)) > 1
    if args.child:
        child(args.child, args.uri, args.client_cpu if pin else None)
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    names = [n for n in CONTENDERS if n != "websocket-client" or _has_websocket_client()]
    started = time.perf_counter()
    server, port = start_server(args.server_cpu if pin else None)
    uri = f"ws://127.0.0.1:{port}/"
    clients = {}
    try:
        for name in names:
            clients[name] = start_client(name, uri, args.client_cpu if pin else None)
        print(f"{args.rounds} interleaved rounds of {args.window} s per contender and size; "
              f"server on CPU {args.server_cpu}, clients on CPU {args.client_cpu}"
              if pin else f"{args.rounds} interleaved rounds, unpinned")
        header = f"{'size':>8} | " + " | ".join(f"{n:>32}" for n in names)
        print("median round trips/s (client CPU µs per round trip) [median paired ratio "
              "ours / it, rounds ours was faster]")
        print(header)
        rows = {}
        for size in sizes:
            results = {n: [] for n in names}
            for _ in range(args.rounds):
                order = list(names)
                random.shuffle(order)
                for name in order:
                    proc = clients[name]
                    proc.stdin.write(f"{size} {args.window}\n")
                    proc.stdin.flush()
                    line = proc.stdout.readline()
                    if not line:
                        raise RuntimeError(f"{name} client died")
                    results[name].append(json.loads(line))
            rows[size] = results
            cells = []
            for name in names:
                rates = [r["trips"] / r["span"] for r in results[name]]
                cpus = [r["cpu"] / r["trips"] * 1e6 for r in results[name]]
                ratios = [b["trips"] / b["span"] / (r["trips"] / r["span"])
                          for b, r in zip(results[BASE], results[name])]
                wins = sum(ratio > 1 for ratio in ratios)
                tag = "" if name == BASE else \
                    f" [{statistics.median(ratios):.2f}, {wins}/{len(ratios)}]"
                cells.append(f"{statistics.median(rates):>7,.0f} ({statistics.median(cpus):>5,.0f})"
                             f"{tag}")
            print(f"{size:>8} | " + " | ".join(f"{c:>32}" for c in cells), flush=True)
        print(f"wall time {time.perf_counter() - started:.0f} s")
    finally:
        for proc in clients.values():
            proc.stdin.close()
        for proc in clients.values():
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        server.stdin.close()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()


if __name__ == "__main__":
    main()
