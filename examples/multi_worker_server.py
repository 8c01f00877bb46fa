"""Use every core: N worker processes serve one port with reuse_port=True.

    python examples/multi_worker_server.py --serve --workers 4 --port 9001
    python examples/multi_worker_server.py            # benchmark: 1 vs 2 workers

An asyncio event loop runs on one core.  To use more, start one process per
core and let each call ``ws_create_server(..., port=PORT, reuse_port=True)``:
the kernel (Linux SO_REUSEPORT) then spreads incoming connections over the
processes' listening sockets by a hash of the connection's addresses.  Each
connection stays in the process that accepted it, so per-connection state
needs no locking; state shared by all connections (a broadcast hub, a
session store) must live outside the workers (Redis, a message bus) or be
partitioned.

The benchmark starts the server with 1, then 2 workers, and a separate load
process opening --clients connections that each do echo round trips (one
message in flight per connection) for --seconds; it prints messages per
second and how the connections were spread over the workers.  It runs once
with a bare echo (where the single load process is the bottleneck on a
small machine) and once with --work-us of simulated application work per
message (where the server is, and a second worker helps).  On 2 cores the
load generator competes with the workers for CPU: compare on a machine with
more cores than processes.
"""
import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from typing import Dict, List

import picows_like as picows
from picows_like import WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport

HERE = os.path.abspath(__file__)


# -----------------------------------------------------------------------------
# A worker: one process, one event loop, one listening socket in the group
# -----------------------------------------------------------------------------

class Echo(WSListener):
    def __init__(self, work_us: float) -> None:
        self.work_s = work_us / 1e6

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.TEXT and frame.get_payload_as_bytes() == b"whoami":
            transport.send(WSMsgType.TEXT, str(os.getpid()))
        elif frame.msg_type in (WSMsgType.TEXT, WSMsgType.BINARY):
            if self.work_s:                 # stands for application work per message
                end = time.perf_counter() + self.work_s
                while time.perf_counter() < end:
                    pass
            transport.send(frame.msg_type, frame.get_payload_as_bytes())


async def worker(host: str, port: int, work_us: float) -> None:
    server = await picows.ws_create_server(lambda request: Echo(work_us), host, port, reuse_port=True)
    print(f"worker {os.getpid()}: listening on ws://{host}:{port}/", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    await stop.wait()
    server.close()


def start_workers(n: int, host: str, port: int, work_us: float = 0
                  ) -> List["subprocess.Popen[str]"]:
    procs = [subprocess.Popen([sys.executable, HERE, "--worker", "--host", host,
                               "--port", str(port), "--work-us", str(work_us)], stdout=subprocess.PIPE, text=True)
             for _ in range(n)]
    for proc in procs:                      # wait until each one listens
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if "listening" not in line:
            raise RuntimeError(f"worker failed to start: {line!r}")
    return procs


def stop_workers(procs: List["subprocess.Popen[str]"]) -> None:
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


# -----------------------------------------------------------------------------
# The load generator (its own process)
# -----------------------------------------------------------------------------

class LoadClient(WSListener):
    def __init__(self) -> None:
        self.count = 0
        self.running = True
        self.pid: "asyncio.Future[str]" = asyncio.get_running_loop().create_future()

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type != WSMsgType.TEXT:
            return
        if not self.pid.done():
            self.pid.set_result(frame.get_payload_as_ascii_text())
        else:
            self.count += 1
        if self.running:
            transport.send(WSMsgType.TEXT, b'{"op":"quote","px":101.25,"qty":3}')


async def load(url: str, clients: int, seconds: float) -> Dict[str, object]:
    conns = [await picows.ws_connect(LoadClient, url) for _ in range(clients)]
    listeners: List[LoadClient] = [c for _, c in conns]
    for transport, _ in conns:
        transport.send(WSMsgType.TEXT, b"whoami")
    pids = await asyncio.wait_for(asyncio.gather(*(c.pid for c in listeners)), 10)
    t0 = time.perf_counter()
    await asyncio.sleep(seconds)
    total = sum(c.count for c in listeners)
    elapsed = time.perf_counter() - t0
    for c in listeners:
        c.running = False
    for transport, _ in conns:
        transport.send_close(WSCloseCode.OK)
    await asyncio.wait_for(asyncio.gather(*(t.wait_disconnected() for t, _ in conns)), 10)
    spread: Dict[str, int] = {}
    for pid in pids:
        spread[pid] = spread.get(pid, 0) + 1
    return {"msg_per_s": total / elapsed, "spread": sorted(spread.values(), reverse=True)}


def run_load(url: str, clients: int, seconds: float) -> Dict[str, object]:
    out = subprocess.run([sys.executable, HERE, "--load", url, "--clients", str(clients),
                          "--seconds", str(seconds)],
                         capture_output=True, text=True, timeout=60 + seconds, check=True)
    result: Dict[str, object] = json.loads(out.stdout)
    return result


def bench(host: str, clients: int, seconds: float, work: List[float]) -> int:
    print(f"echo round trips, {clients} connections, {seconds:g} s per run, "
          f"{os.cpu_count()} CPUs")
    for work_us in work:
        rates = []
        for n in (1, 2):
            port = free_port(host)
            procs = start_workers(n, host, port, work_us)
            try:
                result = run_load(f"ws://{host}:{port}/", clients, seconds)
            finally:
                stop_workers(procs)
            rate = float(result["msg_per_s"])    # type: ignore[arg-type]
            rates.append(rate)
            print(f"work {work_us:>4g} us/msg, {n} worker{'s' if n > 1 else ' '}: "
                  f"{rate:>9,.0f} msg/s, connections per worker {result['spread']}", flush=True)
        print(f"work {work_us:>4g} us/msg: 2 workers / 1 worker = {rates[1] / rates[0]:.2f}x")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--serve", action="store_true", help="run N workers until Ctrl-C")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9001)
    parser.add_argument("--clients", type=int, default=64, help="benchmark connections")
    parser.add_argument("--seconds", type=float, default=2.0, help="benchmark run length")
    parser.add_argument("--work-us", type=float, nargs="*", default=[0.0, 100.0],
                        help="simulated application work per message in the server "
                             "(benchmark: one run per value; default 0 100)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--load", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        asyncio.run(worker(args.host, args.port, args.work_us[0]))
        return 0
    if args.load:
        print(json.dumps(asyncio.run(load(args.load, args.clients, args.seconds))))
        return 0
    if args.serve:
        procs = start_workers(args.workers, args.host, args.port, args.work_us[0])
        print(f"{args.workers} workers on ws://{args.host}:{args.port}/ (Ctrl-C stops)")
        try:
            signal.sigwait({signal.SIGINT, signal.SIGTERM})
        finally:
            stop_workers(procs)
        return 0
    return bench(args.host, args.clients, args.seconds, args.work_us)


if __name__ == "__main__":
    sys.exit(main())
