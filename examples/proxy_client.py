"""Connect to an echoing WebSocket server through a proxy, send one message,
print the reply.

    python examples/proxy_client.py ws://127.0.0.1:9001/ --proxy http://127.0.0.1:3128
    python examples/proxy_client.py ws://host:9001/ --proxy http://user:pass@proxy:3128
    python examples/proxy_client.py wss://host/feed --proxy socks5://user:pass@proxy:1080 --cafile ca.pem
    python examples/proxy_client.py wss://host/feed --proxy https://proxy:3129 --proxy-cafile proxy-ca.pem

Proxy schemes: http:// (HTTP CONNECT, Basic auth from the URL), https://
(the same over TLS to the proxy; --proxy-cafile when its certificate is not
from a system CA), socks4:// and socks5:// (pip install 'picows_like[socks]').
For wss:// the TLS session runs end to end through the tunnel: the proxy
sees only ciphertext.

Every failure a user can act on ends with one line and exit status 1:
proxy refused (407/403/SOCKS auth), proxy or server unreachable, TLS
verification, a non-101 answer from the server.
"""
import argparse
import asyncio
import socket
import ssl
import sys
from typing import Any, Callable, Coroutine

import picows_like as picows
from picows_like import WSFrame, WSListener, WSMsgType, WSTransport
from picows_like.proxy import WSProxyError


class Client(WSListener):
    def __init__(self) -> None:
        self.reply: "asyncio.Future[str]" = asyncio.get_running_loop().create_future()

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.TEXT and not self.reply.done():
            self.reply.set_result(frame.get_payload_as_utf8_text())


async def run(args: argparse.Namespace) -> None:
    ssl_context = proxy_ssl_context = None
    if args.cafile:
        ssl_context = ssl.create_default_context(cafile=args.cafile)
    if args.proxy_cafile:
        proxy_ssl_context = ssl.create_default_context(cafile=args.proxy_cafile)
    transport, client = await picows.ws_connect(
        Client, args.url, proxy=args.proxy, ssl_context=ssl_context,
        proxy_ssl_context=proxy_ssl_context, websocket_handshake_timeout=args.timeout)
    print(f"connected to {args.url} through {args.proxy.split('@')[-1]} "
          f"(is_secure={transport.is_secure})")
    transport.send(WSMsgType.TEXT, args.message.encode())
    print(f"reply: {await asyncio.wait_for(client.reply, args.timeout)}")
    transport.send_close(picows.WSCloseCode.OK)
    await asyncio.wait_for(transport.wait_disconnected(), args.timeout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("url", help="ws:// or wss:// URL of an echo server")
    parser.add_argument("--proxy", required=True,
                        help="http://[user:pass@]host:port, https://..., socks4://... "
                             "or socks5://...")
    parser.add_argument("--cafile", help="CA bundle to verify a wss:// server with")
    parser.add_argument("--proxy-cafile", help="CA bundle to verify an https:// proxy with")
    parser.add_argument("--message", default="hello through the proxy")
    parser.add_argument("--timeout", type=float, default=5.0)
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop")
    args = parser.parse_args()
    # uvloop.run and asyncio.run differ in their keywords (by Python version): only the
    # one-argument call is used here.
    runner: Callable[[Coroutine[Any, Any, None]], None] = asyncio.run
    if args.uvloop:
        import uvloop
        runner = uvloop.run
    try:
        runner(run(args))
    except WSProxyError as exc:             # 407 / 403 / SOCKS refusal
        print(f"proxy refused: {exc}", file=sys.stderr)
    except ssl.SSLCertVerificationError as exc:     # the server's or the https proxy's
        print(f"TLS verification failed: {exc.verify_message or exc}", file=sys.stderr)
    except picows.WSHandshakeError as exc:  # non-101, redirect problems
        print(f"WebSocket handshake failed: {exc}", file=sys.stderr)
    except socket.gaierror as exc:
        print(f"cannot resolve a host name: {exc}", file=sys.stderr)
    except (OSError, asyncio.TimeoutError) as exc:
        print(f"connection failed: {exc!r}", file=sys.stderr)
    except (ImportError, ValueError, picows.WSInvalidURL) as exc:
        print(f"cannot use this proxy: {exc}", file=sys.stderr)
    else:
        return 0
    return 1


if __name__ == "__main__":
    sys.exit(main())
