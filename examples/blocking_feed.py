"""A blocking market-data client: no event loop, just a thread and a socket.

    python examples/blocking_feed.py [--ticks 200] [--uri ws://host:port/feed]

``picows_like.websockets.sync`` gives scripts, notebooks and WSGI apps
websockets' threaded API with frames handled in C.  The script subscribes to
a few symbols, reads JSON ticks with ``recv(timeout=...)`` (a quiet feed is
noticed rather than waited on forever), keeps a running VWAP per symbol,
measures the round trip with ``ping()``, and closes with 1000.

Without --uri it starts a local demo feed (a threaded server from the same
package) that publishes random ticks for the subscribed symbols.
"""
import argparse
import json
import random
import threading
import time
from typing import Dict

from picows_like.websockets.exceptions import ConnectionClosed
from picows_like.websockets.sync.client import connect
from picows_like.websockets.sync.server import ServerConnection, serve

SYMBOLS = ["AAPL", "MSFT", "NVDA"]


def demo_feed(ws: ServerConnection) -> None:
    """Server side: publish ticks for the symbols the client asks for."""
    request = json.loads(ws.recv(timeout=5))
    symbols = request["subscribe"]
    price = {s: 100.0 + 10 * i for i, s in enumerate(symbols)}
    rng = random.Random(42)
    try:
        for seq in range(request.get("limit", 10 ** 9)):
            symbol = rng.choice(symbols)
            price[symbol] *= 1 + rng.uniform(-0.001, 0.001)
            ws.send(json.dumps({"seq": seq, "s": symbol, "p": round(price[symbol], 4),
                                "q": rng.randint(1, 500)}))
    except ConnectionClosed:
        pass        # the client had enough
    ws.wait_closed(5)


def consume(uri: str, ticks: int) -> int:
    volume: Dict[str, int] = {s: 0 for s in SYMBOLS}
    notional: Dict[str, float] = {s: 0.0 for s in SYMBOLS}
    start = time.perf_counter()
    with connect(uri, compression=None) as ws:
        ws.send(json.dumps({"subscribe": SYMBOLS, "limit": ticks}))
        received = 0
        while received < ticks:
            try:
                tick = json.loads(ws.recv(timeout=5))
            except TimeoutError:
                print("feed is quiet for 5 s; giving up")
                break
            volume[tick["s"]] += tick["q"]
            notional[tick["s"]] += tick["p"] * tick["q"]
            received += 1
        pong = ws.ping()
        if pong.wait(5):
            print(f"round trip: {ws.latency * 1e3:.2f} ms")
    elapsed = time.perf_counter() - start
    for s in SYMBOLS:
        if volume[s]:
            print(f"{s}: volume {volume[s]:>7}  vwap {notional[s] / volume[s]:.4f}")
    print(f"{received} ticks in {elapsed:.3f} s; closed with {ws.close_code}")
    return received


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ticks", type=int, default=200)
    parser.add_argument("--uri", help="a real feed (default: a local demo feed)")
    args = parser.parse_args()
    if args.uri:
        consume(args.uri, args.ticks)
        return
    with serve(demo_feed, "127.0.0.1", 0, compression=None) as server:
        thread = threading.Thread(target=server.serve_forever)
        thread.start()
        try:
            port = server.socket.getsockname()[1]
            received = consume(f"ws://127.0.0.1:{port}/feed", args.ticks)
        finally:
            server.shutdown()
            thread.join(5)
    print("done" if received == args.ticks else "incomplete")


if __name__ == "__main__":
    main()
