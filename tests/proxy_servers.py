"""Real loopback servers for the proxy, redirect and TLS tests (plain module, no fixtures).

* ``AFN_PARAMS``: use_aiofastnet False / True (skipped when not installed).
* ``tls_pair()``: a throwaway CA (trustme) and contexts for server and client.
* ``HttpConnectProxy``: a small but real HTTP CONNECT proxy (asyncio):
  optional Basic auth, forwards bytes both ways, refuses non-loopback
  targets (403), answers 502 when the target refuses, counts bytes.
* ``pproxy_server()``: pproxy (PyPI) run in-process as a SOCKS4 / SOCKS5
  server, optionally with user/password.
* ``microsocks_server()``: microsocks (Debian package) as a subprocess: an
  RFC 1928/1929-faithful SOCKS5 server (real auth-failure and
  target-refused replies, which pproxy does not send).
"""

import asyncio
import base64
import contextlib
import importlib.util
import shutil
import socket
import ssl
import subprocess
import time
from typing import Optional, Tuple

import pytest

from helpers import wf

LOOPBACK = ("127.0.0.1", "localhost", "::1")

HAVE_AIOFASTNET = importlib.util.find_spec("aiofastnet") is not None

# use_aiofastnet values to run a test with (True only when installed).
AFN_PARAMS = [
    pytest.param(False, id="afn-off"),
    pytest.param(True, id="afn-on", marks=pytest.mark.skipif(
        not HAVE_AIOFASTNET, reason="aiofastnet is not installed")),
]


def tls_pair(*names: str) -> Tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server_context, client_context) for a certificate of `names`
    (default 127.0.0.1 and localhost) issued by a fresh CA."""
    import trustme
    ca = trustme.CA()
    cert = ca.issue_cert(*(names or ("127.0.0.1", "localhost")))
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    return server_ctx, client_ctx


def free_port() -> int:
    """A loopback port with nothing listening on it (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class HttpConnectProxy:
    """``async with HttpConnectProxy(auth=("user", "pass")) as proxy:``"""

    def __init__(self, auth: Optional[Tuple[str, str]] = None, *, silent: bool = False):
        self.auth = auth
        self.silent = silent            # accept, read the request, never answer
        self.requests = []              # (request line, {lower-case name: value})
        self.forwarded = bytearray()    # every byte sent client -> target
        self.port = None
        self._server = None
        self._tasks = set()
        self._writers = []

    def url(self, userinfo: str = "") -> str:
        return f"http://{userinfo + '@' if userinfo else ''}127.0.0.1:{self.port}"

    async def __aenter__(self):
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc):
        self._server.close()
        for w in self._writers:
            w.transport.abort()
        for t in list(self._tasks):
            t.cancel()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._server.wait_closed(), 1.0)

    def _early_answer(self) -> Optional[tuple]:
        """What to answer a CONNECT instead of opening the tunnel: None to go
        on, () to close without an answer, or _reply()'s arguments."""
        return None

    async def _handle(self, reader, writer):
        self._tasks.add(asyncio.current_task())
        self._writers.append(writer)
        try:
            await self._serve(reader, writer)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.transport.abort()
            self._tasks.discard(asyncio.current_task())

    async def _serve(self, reader, writer):
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        start, *lines = head[:-4].split("\r\n")
        headers = {k.strip().lower(): v.strip()
                   for k, _, v in (line.partition(":") for line in lines)}
        self.requests.append((start, headers))
        if self.silent:
            await reader.read()
            return
        early = self._early_answer()
        if early is not None:           # () closes without an answer
            if early:
                self._reply(writer, *early)
            return
        method, target, _ = start.split(" ")
        if method != "CONNECT":
            return self._reply(writer, 405, "Method Not Allowed")
        if self.auth is not None:
            token = base64.b64encode(":".join(self.auth).encode()).decode()
            if headers.get("proxy-authorization") != f"Basic {token}":
                return self._reply(writer, 407, "Proxy Authentication Required",
                                   b"proxy auth required\n",
                                   "Proxy-Authenticate: Basic realm=\"test\"\r\n")
        host, _, port = target.rpartition(":")
        host = host.strip("[]")
        if host not in LOOPBACK:       # a test proxy: never leave the machine
            return self._reply(writer, 403, "Forbidden", b"loopback only\n")
        try:
            up_reader, up_writer = await asyncio.open_connection(host, int(port))
        except OSError:
            return self._reply(writer, 502, "Bad Gateway", b"target refused\n")
        self._writers.append(up_writer)
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await asyncio.gather(self._pipe(reader, up_writer, self.forwarded),
                             self._pipe(up_reader, writer, None))

    @staticmethod
    def _reply(writer, status: int, phrase: str, body: bytes = b"", extra: str = ""):
        writer.write(f"HTTP/1.1 {status} {phrase}\r\n{extra}Content-Length: {len(body)}\r\n"
                     f"Connection: close\r\n\r\n".encode() + body)

    @staticmethod
    async def _pipe(reader, writer, record: Optional[bytearray]):
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                if record is not None:
                    record += data
                writer.write(data)
                await writer.drain()
        finally:
            writer.transport.abort()


class HttpsConnectProxy(HttpConnectProxy):
    """``async with HttpsConnectProxy(server_ctx, ...) as proxy:``: the test
    CONNECT proxy above, behind TLS.

    mode "forward" opens the tunnel (after Basic auth when `auth` is set);
    "silent" reads the CONNECT request and never answers; "no-tls" accepts
    TCP and never starts TLS; "close" closes right after the request;
    "refuse" answers `refusal` = (status, phrase, body).
    """

    def __init__(self, server_ctx: ssl.SSLContext, *, auth: Optional[Tuple[str, str]] = None,
                 mode: str = "forward", refusal: Tuple[int, str, bytes] = (403, "Forbidden", b"")):
        super().__init__(auth, silent=mode == "silent")
        self.server_ctx = server_ctx
        self.mode = mode
        self.refusal = refusal
        self.ended: Optional[asyncio.Queue] = None   # one item per client connection that ended

    def url(self, userinfo: str = "") -> str:
        return f"https://{userinfo + '@' if userinfo else ''}127.0.0.1:{self.port}"

    async def __aenter__(self):
        self.ended = asyncio.Queue()
        ctx = None if self.mode == "no-tls" else self.server_ctx
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=ctx)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def wait_ended(self):
        """The client closed (or aborted) its connection to the proxy."""
        await asyncio.wait_for(self.ended.get(), 3.0)

    async def _handle(self, reader, writer):
        try:
            await super()._handle(reader, writer)
        finally:
            self.ended.put_nowait(None)

    async def _serve(self, reader, writer):
        if self.mode == "no-tls":
            await reader.read()
            return
        await super()._serve(reader, writer)

    def _early_answer(self) -> Optional[tuple]:
        return {"close": (), "refuse": self.refusal}.get(self.mode)


@contextlib.asynccontextmanager
async def pproxy_server(scheme: str, user: Optional[str] = None, password: Optional[str] = None):
    """pproxy listening on loopback; yields the proxy URL (with credentials)."""
    import pproxy
    auth = "" if user is None else f"#{user}" if password is None else f"#{user}:{password}"
    # authtime=0: pproxy would otherwise remember an authenticated client IP
    # for 30 days and let later unauthenticated connections through.
    server = await wf(pproxy.Server(f"{scheme}://127.0.0.1:0{auth}").start_server(
        {"rserver": [], "verbose": lambda *a: None, "authtime": 0}))
    port = server.sockets[0].getsockname()[1]
    userinfo = "" if user is None else (user if password is None or scheme == "socks4"
                                        else f"{user}:{password}") + "@"
    try:
        yield f"{scheme}://{userinfo}127.0.0.1:{port}"
    finally:
        server.close()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(server.wait_closed(), 1.0)


def have_microsocks() -> bool:
    return shutil.which("microsocks") is not None


@contextlib.asynccontextmanager
async def microsocks_server(user: Optional[str] = None, password: Optional[str] = None):
    """microsocks on a free loopback port; yields its base URL (no credentials)."""
    port = free_port()
    args = ["microsocks", "-i", "127.0.0.1", "-p", str(port)]
    if user is not None:
        args += ["-u", user, "-P", password]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 3
        while True:
            try:
                _, probe = await wf(asyncio.open_connection("127.0.0.1", port), 0.5)
                probe.close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("microsocks did not start")
                await asyncio.sleep(0.02)
        yield f"socks5://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(2)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
