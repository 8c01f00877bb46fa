"""A blocking market-data client: no event loop, just a thread and a socket.

    python examples/blocking_feed.py [--ticks 200] [--uri ws://host:port/feed]

``picows_like.websockets.sync`` gives scripts, notebooks and WSGI apps
websockets' threaded API with frames handled in C.  The script subscribes to
a few symbols, reads JSON ticks with ``recv(timeout=...)`` (a quiet feed is
noticed rather than waited on forever), keeps a running VWAP per symbol,
measures the round trip with ``ping()``, and closes with 1000.

It survives the feed going away: ``connect(uri, legacy=False)`` is an endless
iterator of connections (``reconnect`` in websockets' terms).  When the
server closes with "service restart" (1012), the loop body catches
``ConnectionClosed`` and continues; the iterator backs off (1001, 1006 and
1011-1014 are picows_like's RECONNECT_CLOSE_CODES) and connects again, and the
client resubscribes from the last sequence number it saw.  Connection errors
(refused, timeouts, HTTP 5xx) are retried with the same backoff; anything
else, a 403 say, is raised.

Without --uri it starts a local demo feed (a threaded server from the same
package) that publishes random ticks for the subscribed symbols, and (with
--restart-after N, default 120) restarts once after N ticks.
"""
import argparse
import json
import random
import threading
import time
from typing import Dict, Iterator

from picows_like.websockets.exceptions import ConnectionClosed
from picows_like.websockets.sync.client import backoff, connect
from picows_like.websockets.sync.server import ServerConnection, serve

SYMBOLS = ["AAPL", "MSFT", "NVDA"]


class DemoFeed:
    """Server side: publish ticks for the symbols the client asks for,
    from the sequence number it asks for; once, after `restart_after`
    ticks, close with 1012 (service restart) as a redeployed feed would."""

    def __init__(self, restart_after: int) -> None:
        self.restart_after = restart_after

    def __call__(self, ws: ServerConnection) -> None:
        request = json.loads(ws.recv(timeout=5))
        symbols = request["subscribe"]
        price = {s: 100.0 + 10 * i for i, s in enumerate(symbols)}
        rng = random.Random(42)
        try:
            for seq in range(request.get("from", 0), request.get("limit", 10 ** 9)):
                if seq == self.restart_after:
                    self.restart_after = -1
                    ws.close(1012, "restarting")
                    return
                symbol = rng.choice(symbols)
                price[symbol] *= 1 + rng.uniform(-0.001, 0.001)
                ws.send(json.dumps({"seq": seq, "s": symbol, "p": round(price[symbol], 4),
                                    "q": rng.randint(1, 500)}))
        except ConnectionClosed:
            pass        # the client had enough
        ws.wait_closed(5)


def quick_backoff() -> Iterator[float]:
    """Reconnection delays for the demo: 0.1 s growing to 5 s (the default,
    websockets' and picows_like's, starts with up to 5 s of jitter)."""
    return backoff(initial_delay=0.1, min_delay=0.1, max_delay=5.0)


def consume(uri: str, ticks: int) -> int:
    volume: Dict[str, int] = {s: 0 for s in SYMBOLS}
    notional: Dict[str, float] = {s: 0.0 for s in SYMBOLS}
    start = time.perf_counter()
    received = 0
    connections = 0
    for ws in connect(uri, legacy=False, compression=None, reconnect_delays=quick_backoff):
        connections += 1
        try:
            ws.send(json.dumps({"subscribe": SYMBOLS, "from": received, "limit": ticks}))
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
        except ConnectionClosed as exc:
            print(f"feed went away after {received} ticks ({exc}); reconnecting")
            continue
        # Done.  Close before leaving the loop: a connection the loop still
        # holds when it is abandoned is closed with 1011, as in websockets.
        ws.close()
        break
    elapsed = time.perf_counter() - start
    for s in SYMBOLS:
        if volume[s]:
            print(f"{s}: volume {volume[s]:>7}  vwap {notional[s] / volume[s]:.4f}")
    print(f"{received} ticks in {elapsed:.3f} s over {connections} connection(s); "
          f"closed with {ws.close_code}")
    return received


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ticks", type=int, default=200)
    parser.add_argument("--uri", help="a real feed (default: a local demo feed)")
    parser.add_argument("--restart-after", type=int, default=120,
                        help="the demo feed restarts once after this many ticks (-1: never)")
    args = parser.parse_args()
    if args.uri:
        consume(args.uri, args.ticks)
        return
    with serve(DemoFeed(args.restart_after), "127.0.0.1", 0, compression=None) as server:
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
