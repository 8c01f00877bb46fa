"""A WebSocket server that routes by path, with a plain-HTTP health check
on the same port.

    python examples/routing_server.py --port 9001
    curl -i http://127.0.0.1:9001/health              # 200 "ok"
    # ws://127.0.0.1:9001/echo          echoes every message
    # ws://127.0.0.1:9001/ticks?n=5     sends n ticks, then closes
    # ws://127.0.0.1:9001/admin         101 only with "Authorization: Bearer secret"
    # ws://127.0.0.1:9001/v1/echo       307 redirect to /echo (clients follow it)
    # anything else                     404

The listener factory sees each request (method, path with query, headers)
and returns a listener (101), a WSUpgradeResponseWithListener (a custom 101,
or a plain-HTTP answer such as the health check, an error or a redirect,
after which the connection closes) or None (404).  --reuse-port lets
several processes share the port (kwargs of ws_create_server reach
loop.create_server).  Stops on Ctrl-C / SIGTERM.
"""
import argparse
import asyncio
import signal
import time
import urllib.parse
from http import HTTPStatus
from typing import Union

import picows_like as picows
from picows_like import (WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport,
                         WSUpgradeResponse, WSUpgradeResponseWithListener)

STARTED = time.monotonic()


class Echo(WSListener):
    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type in (WSMsgType.TEXT, WSMsgType.BINARY):
            transport.send(frame.msg_type, frame.get_payload_as_bytes())
        elif frame.msg_type == WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code(), frame.get_close_message())
            transport.disconnect()


class Ticks(WSListener):
    def __init__(self, count: int) -> None:
        self.count = count

    def on_ws_connected(self, transport: WSTransport) -> None:
        for seq in range(self.count):
            transport.send(WSMsgType.TEXT, b'{"seq":%d}' % seq)
        transport.send_close(WSCloseCode.OK, b"done")


def plain(response: WSUpgradeResponse) -> WSUpgradeResponseWithListener:
    """A plain-HTTP answer: sent as it is, then the connection closes."""
    return WSUpgradeResponseWithListener(response, None)


def route(request: picows.WSUpgradeRequest
          ) -> Union[WSListener, WSUpgradeResponseWithListener, None]:
    url = urllib.parse.urlsplit(request.path.decode("latin-1"))
    query = urllib.parse.parse_qs(url.query)
    if url.path == "/health":              # create_ok_response: a picows_like addition
        body = b"ok uptime=%.0fs\n" % (time.monotonic() - STARTED)
        return plain(WSUpgradeResponse.create_ok_response(body))
    if url.path == "/echo":
        return Echo()
    if url.path == "/ticks":
        try:
            count = int(query.get("n", ["10"])[0])
        except ValueError:
            return plain(WSUpgradeResponse.create_error_response(
                HTTPStatus.BAD_REQUEST, b"n must be an integer\n"))
        return Ticks(min(count, 10_000))
    if url.path == "/admin":
        if request.headers.get("Authorization") != "Bearer secret":
            return plain(WSUpgradeResponse.create_error_response(
                HTTPStatus.UNAUTHORIZED, b"token required\n",
                [("WWW-Authenticate", "Bearer")]))
        return WSUpgradeResponseWithListener(
            WSUpgradeResponse.create_101_response([("X-Role", "admin")]), Echo())
    if url.path.startswith("/v1/"):
        target = url.path[3:] + (f"?{url.query}" if url.query else "")
        return plain(WSUpgradeResponse.create_redirect_response(
            HTTPStatus.TEMPORARY_REDIRECT, target))
    return None                                      # 404


async def main(args: argparse.Namespace) -> None:
    server = await picows.ws_create_server(route, args.host, args.port,
                                           reuse_port=args.reuse_port or None)
    port = server.sockets[0].getsockname()[1]
    print(f"listening on ws://{args.host}:{port}/ (health: http://{args.host}:{port}/health)",
          flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    await stop.wait()
    server.close()
    await server.wait_closed()
    print("stopped", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9001, help="0 picks a free port")
    parser.add_argument("--reuse-port", action="store_true",
                        help="SO_REUSEPORT: share the port with other processes")
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop")
    args = parser.parse_args()
    if args.uvloop:
        import uvloop
        uvloop.run(main(args))
    else:
        asyncio.run(main(args))
