"""Blocking echo round trips per second: picows_like.websockets.sync against
websockets.sync and websocket-client, each as the client of one shared echo
server (picows_like's picows API on uvloop, in its own process:
benchmarks/_echo_server.py), so the figures compare the client side.

Each client sends one BINARY message, waits for the echo, repeats for
--seconds; compression is off everywhere (websocket-client has none).
Besides round trips per second, the client process's CPU time per round
trip is shown: on a shared machine it is the steadier figure.

    .venv/bin/python benchmarks/sync_echo.py [--seconds 2] [--sizes 256,4096,65536,1048576]

websocket-client is in the ``bench`` extra (pip install websocket-client).

One run on the project's shared 2-core machine (CI running beside it; Python 3.11,
websockets 17.4, websocket-client 1.9.2), round trips/s (client CPU per trip):
256 B 19,916 (30 µs) vs 12,036 (54 µs) vs 17,315 (33 µs); 64 KiB 11,594 (53) vs
8,266 (84) vs 2,757 (318); 1 MiB 1,606 (463) vs 885 (880) vs 202 (4,812).
"""
import argparse
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SIZES = (256, 4096, 65536, 1048576)


def start_server():
    proc = subprocess.Popen([sys.executable, os.path.join(HERE, "_echo_server.py"),
                             "--impl", "picows_like", "--loop", "uvloop"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if not line.startswith("PORT "):
        proc.kill()
        raise RuntimeError(f"echo server did not start: {line!r}")
    return proc, int(line.split()[1])


def run_picows_like(uri, payload, seconds):
    from picows_like.websockets.sync.client import connect
    with connect(uri, compression=None, max_size=None, ping_interval=None) as ws:
        return _loop(ws.send, ws.recv, payload, seconds)


def run_websockets(uri, payload, seconds):
    from websockets.sync.client import connect
    with connect(uri, compression=None, max_size=None, ping_interval=None) as ws:
        return _loop(ws.send, ws.recv, payload, seconds)


def run_websocket_client(uri, payload, seconds):
    import websocket
    ws = websocket.create_connection(uri, enable_multithread=False)
    try:
        return _loop(ws.send_bytes, ws.recv, payload, seconds)
    finally:
        ws.close()


def _loop(send, recv, payload, seconds):
    send(payload)                       # warm-up
    assert recv() == payload
    n = 0
    cpu = time.process_time()
    start = time.perf_counter()
    end = start + seconds
    while True:
        for _ in range(16):
            send(payload)
            got = recv()
        n += 16
        now = time.perf_counter()
        if now >= end:
            break
    assert got == payload
    cpu = time.process_time() - cpu
    return n / (now - start), cpu / n * 1e6


CLIENTS = {
    "picows_like.websockets.sync": run_picows_like,
    "websockets.sync": run_websockets,
    "websocket-client": run_websocket_client,
}


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)))
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    proc, port = start_server()
    uri = f"ws://127.0.0.1:{port}/"
    try:
        names = [n for n in CLIENTS if n != "websocket-client" or _has_websocket_client()]
        print("round trips/s (client CPU µs per round trip, both threads of this process)")
        print(f"{'size':>9} " + " ".join(f"{n:>30}" for n in names))
        for size in sizes:
            payload = os.urandom(size)
            row = [CLIENTS[n](uri, payload, args.seconds) for n in names]
            print(f"{size:>9} " + " ".join(f"{r:>18,.0f} ({c:>7,.0f} µs)" for r, c in row),
                  flush=True)
    finally:
        proc.stdin.close()
        proc.wait(10)


def _has_websocket_client():
    try:
        import websocket  # noqa: F401
        return True
    except ImportError:
        print("(websocket-client not installed: skipped)")
        return False


if __name__ == "__main__":
    main()
