"""Fan-in client process for benchmarks/fanin.py (not meant to be run by hand).

Holds N WebSocket connections (picows or picows_like, aiofastnet off) to
the fan-in server and talks to the orchestrator over stdin/stdout:

    -> WARM {rss}        one warm-up connection is open (one-time costs paid)
    <- GO
    -> CONNECTED {...}   N more connections open and idle; RSS before/after
    <- MEASURE           (the server has been told to START)
    -> MEASURED {...}    frames received in a fixed window after a warm-up
    <- FINISH            (the server has been told to STOP)
    -> DONE {...}        every connection got the server's "END <sent>" frame;
                         per-connection counts checked against it

Memory is RSS (/proc/self/statm) after gc.collect(), or, with --tracemalloc,
also the bytes traced by tracemalloc (Python's allocators only; tracing is
stopped before streaming).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import time
import tracemalloc

from _bench_common import HOST, import_ws_library, loop_factory, pin_to_cpu
from _fanin_common import END_PREFIX, StdinLines, cpu_and_wait_s, raise_nofile, rss_bytes, say

CONNECT_BATCH = 100      # concurrent handshakes (the server's accept backlog is larger)


def make_listener_class(ws, size: int):
    class FanInListener(ws.WSListener):
        """Counts every frame; the server's END frame is the only one of another size."""

        def __init__(self):
            super().__init__()
            self.count = 0
            self.end_count = None

        def on_ws_frame(self, transport, frame):
            self.count += 1
            if frame.payload_size != size:
                payload = frame.get_payload_as_bytes()
                if payload.startswith(END_PREFIX):
                    self.count -= 1
                    self.end_count = int(payload[len(END_PREFIX):])

    return FanInListener


def memory(traced: bool) -> dict:
    gc.collect()
    out = {"rss": rss_bytes()}
    if traced:
        out["traced"] = tracemalloc.get_traced_memory()[0]
    return out


async def expect(commands: StdinLines, wanted: str) -> None:
    got = await commands.get()
    if got != wanted:
        raise RuntimeError(f"expected {wanted!r} from the orchestrator, got {got!r}")


async def run(args) -> None:
    ws = import_ws_library(args.impl)
    listener_class = make_listener_class(ws, args.size)
    url = f"ws://{HOST}:{args.port}/"
    loop = asyncio.get_running_loop()
    commands = StdinLines(loop)
    listeners = []
    transports = []

    async def connect_one() -> None:
        transport, listener = await ws.ws_connect(listener_class, url, use_aiofastnet=False)
        transports.append(transport)
        listeners.append(listener)

    if args.tracemalloc:
        tracemalloc.start()
    await connect_one()
    await asyncio.sleep(0.1)
    before = memory(args.tracemalloc)
    say("WARM", json.dumps(before))
    await expect(commands, "GO")

    t0 = time.monotonic()
    remaining = args.connections
    while remaining:
        n = min(CONNECT_BATCH, remaining)
        await asyncio.gather(*(connect_one() for _ in range(n)))
        remaining -= n
    connect_s = time.monotonic() - t0
    await asyncio.sleep(0.2)
    after = memory(args.tracemalloc)
    if args.tracemalloc:
        tracemalloc.stop()
    say("CONNECTED", json.dumps({"before": before, "after": after, "connect_s": connect_s,
                                 "connections": len(listeners)}))

    await expect(commands, "MEASURE")
    total = lambda: sum(l.count for l in listeners)
    waited = 0.0
    while total() == 0:             # wait for the stream to reach us
        await asyncio.sleep(0.01)
        waited += 0.01
        if waited > 10:
            raise RuntimeError("no frame received within 10 s of MEASURE")
    await asyncio.sleep(args.warmup)
    sched0 = cpu_and_wait_s(), cpu_and_wait_s(args.server_pid)
    c0, t0 = total(), time.perf_counter()
    await asyncio.sleep(args.duration)
    c1, t1 = total(), time.perf_counter()
    sched1 = cpu_and_wait_s(), cpu_and_wait_s(args.server_pid)
    share = lambda who, what: (sched1[who][what] - sched0[who][what]) / (t1 - t0)
    active = sum(1 for l in listeners if l.count > 0)
    say("MEASURED", json.dumps({"frames": c1 - c0, "seconds": t1 - t0,
                                "fps": (c1 - c0) / (t1 - t0), "active_connections": active,
                                "client_cpu": share(0, 0), "client_wait": share(0, 1),
                                "server_cpu": share(1, 0), "server_wait": share(1, 1)}))

    await expect(commands, "FINISH")
    deadline = time.monotonic() + args.drain_timeout
    while any(l.end_count is None for l in listeners):
        if time.monotonic() > deadline:
            break
        await asyncio.sleep(0.02)
    missing = sum(1 for l in listeners if l.end_count is None)
    mismatched = [(l.count, l.end_count) for l in listeners
                  if l.end_count is not None and l.count != l.end_count]
    say("DONE", json.dumps({"received": sum(l.count for l in listeners),
                            "server_sent": sum(l.end_count or 0 for l in listeners),
                            "missing_end": missing, "mismatched": len(mismatched),
                            "mismatch_examples": mismatched[:5],
                            "ok": missing == 0 and not mismatched}))
    await commands.get()            # stdin closed: done
    for transport in transports:
        transport.disconnect()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--impl", choices=("picows", "picows_like"), required=True)
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    parser.add_argument("--cpu", type=int, default=None)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--server-pid", type=int, required=True,
                        help="to report the server's CPU use in the same window")
    parser.add_argument("--connections", type=int, required=True)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--warmup", type=float, default=0.5)
    parser.add_argument("--duration", type=float, default=2.0)
    parser.add_argument("--drain-timeout", type=float, default=60.0)
    parser.add_argument("--tracemalloc", action="store_true")
    args = parser.parse_args()
    raise_nofile(args.connections + 64)
    pin_to_cpu(args.cpu)
    with asyncio.Runner(loop_factory=loop_factory(args.loop)) as runner:
        runner.run(run(args))


if __name__ == "__main__":
    main()
