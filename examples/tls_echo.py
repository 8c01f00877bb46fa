"""wss:// echo on loopback: a TLS WebSocket server and a client that verifies it.

    python examples/tls_echo.py                  # throwaway CA made by trustme
    python examples/tls_echo.py --cert server.pem --key server.key --cafile ca.pem
    python examples/tls_echo.py --uvloop

The server gets its certificate through ws_create_server(..., ssl=context);
the client trusts the CA through ws_connect(..., ssl_context=context).
Without ssl_context the default context (system CAs) would reject the
private CA with ssl.SSLCertVerificationError.
"""
import argparse
import asyncio
import ssl
import sys
import time
from typing import Tuple

import picows_like as picows
from picows_like import WSFrame, WSListener, WSMsgType, WSTransport


class Echo(WSListener):
    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type in (WSMsgType.TEXT, WSMsgType.BINARY):
            transport.send(frame.msg_type, frame.get_payload_as_bytes())


class Client(WSListener):
    def __init__(self) -> None:
        self.replies: "asyncio.Queue[bytes]" = asyncio.Queue()

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.BINARY:
            self.replies.put_nowait(frame.get_payload_as_bytes())


def tls_contexts(args: argparse.Namespace) -> Tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server context, client context): from files, or from a fresh CA."""
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    client_ctx = ssl.create_default_context()
    if args.cert:
        server_ctx.load_cert_chain(args.cert, args.key)
        client_ctx.load_verify_locations(args.cafile)
        return server_ctx, client_ctx
    try:
        import trustme
    except ImportError:
        sys.exit("no --cert given and trustme is not installed: pip install trustme")
    ca = trustme.CA()
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(server_ctx)
    ca.configure_trust(client_ctx)
    return server_ctx, client_ctx


async def main(args: argparse.Namespace) -> None:
    server_ctx, client_ctx = tls_contexts(args)
    server = await picows.ws_create_server(lambda request: Echo(), "127.0.0.1", 0,
                                           ssl=server_ctx)
    url = f"wss://localhost:{server.sockets[0].getsockname()[1]}/echo"
    print(f"server: {url}")

    # ws_connect(Client, url) without ssl_context would use the system CAs
    # and fail with ssl.SSLCertVerificationError: the CA here is private.
    transport, client = await picows.ws_connect(Client, url, ssl_context=client_ctx)
    cipher = transport.underlying_transport.get_extra_info("cipher")
    print(f"client: connected, is_secure={transport.is_secure}, "
          f"cipher={cipher[0] if cipher else 'n/a'}")
    for size in (16, 4096, 65536, 1024 * 1024):
        payload = bytes(range(256)) * (size // 256) or b"x" * size
        t0 = time.perf_counter()
        transport.send(WSMsgType.BINARY, payload)
        reply = await asyncio.wait_for(client.replies.get(), 5)
        assert reply == payload, "echo mismatch"
        print(f"echo {size:>8} bytes: {1e3 * (time.perf_counter() - t0):7.2f} ms")

    transport.send_close(picows.WSCloseCode.OK)
    await asyncio.wait_for(transport.wait_disconnected(), 5)
    server.close()
    await server.wait_closed()
    print("done")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cert", help="server certificate chain (PEM)")
    parser.add_argument("--key", help="server private key (PEM)")
    parser.add_argument("--cafile", help="CA the client trusts (PEM)")
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop")
    args = parser.parse_args()
    if args.cert and not (args.key and args.cafile):
        parser.error("--cert needs --key and --cafile")
    if args.uvloop:
        import uvloop
        uvloop.run(main(args))
    else:
        asyncio.run(main(args))
