"""A trio WebSocket server with picows_like.trio (trio-websocket's API).

The handler sees each client's upgrade request first: it routes on the path,
picks a subprotocol from the client's offer, refuses what it does not serve
(an HTTP status with a body), and echoes on /echo or counts words on /count.
A small client in the same program exercises it, then everything stops.

    python examples/trio_server.py [--port 0]
"""
import argparse

import trio

from picows_like import trio as trio_websocket   # or: import trio_websocket


async def handler(request: trio_websocket.WebSocketRequest) -> None:
    if request.path not in ("/echo", "/count"):
        await request.reject(404, body=b"no such endpoint\n")
        return
    subprotocol = "v1" if "v1" in request.proposed_subprotocols else None
    ws = await request.accept(subprotocol=subprotocol)
    try:
        while True:
            message = await ws.get_message()
            if request.path == "/echo":
                await ws.send_message(message)
            else:
                await ws.send_message(str(len(str(message).split())))
    except trio_websocket.ConnectionClosed as exc:
        why = f"{exc.reason.code} {exc.reason.name}" if exc.reason else "?"
        print(f"server: {ws.remote} left: {why}")


async def client(port: int) -> None:
    url = f"ws://127.0.0.1:{port}"
    async with trio_websocket.open_websocket_url(f"{url}/echo", subprotocols=["v1"]) as ws:
        await ws.send_message("hello")
        print(f"client: echo {await ws.get_message()!r} (subprotocol {ws.subprotocol})")
        await ws.send_message(b"\x00\x01")
        print(f"client: echo {await ws.get_message()!r}")
    async with trio_websocket.open_websocket_url(f"{url}/count") as ws:
        await ws.send_message("the quick brown fox")
        print(f"client: {await ws.get_message()} words")
        await ws.aclose(1001, "going away")
    try:
        async with trio_websocket.open_websocket_url(f"{url}/nowhere"):
            pass
    except trio_websocket.ConnectionRejected as exc:
        print(f"client: refused with {exc.status_code}: {exc.body!r}")


async def main(port: int) -> None:
    async with trio.open_nursery() as nursery:
        server = await nursery.start(trio_websocket.serve_websocket, handler,
                                     "127.0.0.1", port, None)
        print(f"server: listening on {server.listeners[0].url}")
        with trio.fail_after(10):
            await client(server.port)
        nursery.cancel_scope.cancel()       # stops the server
    print("done")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    trio.run(main, parser.parse_args().port)
