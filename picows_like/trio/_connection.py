"""WebSocketConnection and WebSocketRequest: one connection's I/O on trio
around the engine's sans-I/O protocol (see the package docstring)."""
import http
import itertools
import logging
import random
import socket
import struct
import sys
from collections import OrderedDict
from ipaddress import ip_address
from typing import Any, Iterable, List, Optional, Tuple, Union

import trio

from ..extensions.permessage_deflate import WSPerMessageDeflate
from ..websockets.client import ClientProtocol
from ..websockets.datastructures import Headers
from ..websockets.exceptions import InvalidHandshake, InvalidStatus
from ..websockets.frames import Frame
from ..websockets.http11 import Request, Response
from ..websockets.protocol import CLOSED, CONNECTING, OPEN
from ..websockets.server import ServerProtocol
from ._errors import CloseReason, ConnectionClosed, ConnectionRejected, HandshakeError
from ._queue import (_ABORT_SUCCEEDED, _CLOSED, _MessageQueue, _cancel_shielded_checkpoint,
                     _checkpoint_if_cancelled, _current_task, _wait_task_rescheduled)

if sys.version_info < (3, 11):  # pragma: no cover - trio depends on the backport there
    from exceptiongroup import BaseExceptionGroup
else:
    BaseExceptionGroup = BaseExceptionGroup  # noqa: PLW0127 (the builtin)

CONN_TIMEOUT = 60          # default connect and disconnect timeout, in seconds
MESSAGE_QUEUE_SIZE = 1
MAX_MESSAGE_SIZE = 2 ** 20
RECEIVE_BYTES = 4 * 2 ** 10
_CLOSE_WRITE_TIMEOUT = 1.0
_YIELD_EVERY = 8           # sends done without a schedule point before one is made
_BAD_REQUEST_BODY = b"Failed to open a WebSocket connection: invalid HTTP request.\n"
_BAD_REQUEST = (b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
                b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(_BAD_REQUEST_BODY)
                + _BAD_REQUEST_BODY)

logger = logging.getLogger("picows_like.trio")

HeaderList = List[Tuple[bytes, bytes]]

_CONT, _TEXT, _BINARY, _CLOSE, _PING, _PONG = 0, 1, 2, 8, 9, 10


class Endpoint:
    """A TCP endpoint: ``address`` (an ip_address), ``port``, ``is_ssl``."""

    def __init__(self, address: Union[str, int], port: int, is_ssl: bool) -> None:
        self.address = ip_address(address)
        self.port = port
        self.is_ssl = is_ssl

    @property
    def url(self) -> str:
        """The endpoint as a ws:// or wss:// URL (no default port)."""
        scheme = "wss" if self.is_ssl else "ws"
        default = 443 if self.is_ssl else 80
        port = "" if self.port == default else f":{self.port}"
        if self.address.version == 4:
            return f"{scheme}://{self.address}{port}"
        return f"{scheme}://[{self.address}]{port}"

    def __repr__(self) -> str:
        return f'Endpoint(address="{self.address}", port={self.port}, is_ssl={self.is_ssl})'


def _endpoint(stream: Any, local: bool) -> Union[Endpoint, str]:
    sock, is_ssl = None, False
    if isinstance(stream, trio.SocketStream):
        sock = stream.socket
    elif isinstance(stream, trio.SSLStream):
        transport = stream.transport_stream
        sock = getattr(transport, "socket", None)
        is_ssl = True
    if sock is None:
        return repr(stream)
    addr, port, *_ = sock.getsockname() if local else sock.getpeername()
    return Endpoint(addr, port, is_ssl)


def _header_pairs(headers: Headers) -> Tuple[Tuple[bytes, bytes], ...]:
    """Headers as (lower-case name, value) byte pairs, as wsproto gives them."""
    return tuple((k.lower().encode("latin-1"), v.encode("latin-1"))
                 for k, v in headers.raw_items())


# The headers the opening handshake itself uses; wsproto leaves them out of the
# headers it shows (the request's headers, the response's handshake_headers).
_REQUEST_OWN = frozenset(["connection", "host", "sec-websocket-extensions", "sec-websocket-key",
                          "sec-websocket-protocol", "sec-websocket-version", "upgrade"])
_RESPONSE_OWN = frozenset(["connection", "sec-websocket-extensions", "sec-websocket-accept",
                           "sec-websocket-protocol", "upgrade"])


def _extra_pairs(headers: Headers, own: frozenset) -> Tuple[Tuple[bytes, bytes], ...]:
    return tuple((k.lower().encode("latin-1"), v.encode("latin-1"))
                 for k, v in headers.raw_items() if k.lower() not in own)


def _add_headers(headers: Headers, extra: Optional[Iterable[Tuple[Any, Any]]]) -> None:
    for name, value in extra or ():
        if isinstance(name, bytes):
            name = name.decode("latin-1")
        if isinstance(value, bytes):
            value = value.decode("latin-1")
        headers[name] = value


class _NoCancel:
    """Keeps the exception being handled from being masked by a trio.Cancelled
    raised inside the block (a close inside ``finally`` or ``__aexit__``)."""

    __slots__ = ("_armed",)

    def __enter__(self) -> None:
        self._armed = sys.exc_info()[1] is not None

    def __exit__(self, typ: Any, value: Any, tb: Any) -> bool:
        if value is None or not self._armed:
            return False
        if isinstance(value, BaseExceptionGroup):
            return value.subgroup(lambda e: not isinstance(e, trio.Cancelled)) is None
        return isinstance(value, trio.Cancelled)


class WebSocketRequest:
    """A client's opening handshake, shown to a server handler, which calls
    ``accept()`` (and gets the connection) or ``reject()``."""

    def __init__(self, connection: "WebSocketConnection", request: Request) -> None:
        self._connection = connection
        self._request = request

    @property
    def headers(self) -> HeaderList:
        """The request's headers as (lower-case name, value) byte pairs."""
        return list(_extra_pairs(self._request.headers, _REQUEST_OWN))

    @property
    def path(self) -> str:
        """The requested path (with the query)."""
        return self._request.path

    @property
    def proposed_subprotocols(self) -> Tuple[str, ...]:
        """The subprotocols the client offers, in its order."""
        return tuple(t.strip() for v in self._request.headers.get_all("Sec-WebSocket-Protocol")
                     for t in v.split(",") if t.strip())

    @property
    def local(self) -> Union[Endpoint, str]:
        return self._connection.local

    @property
    def remote(self) -> Union[Endpoint, str]:
        return self._connection.remote

    async def accept(self, *, subprotocol: Optional[str] = None,
                     extra_headers: Optional[HeaderList] = None) -> "WebSocketConnection":
        """Accept the upgrade (101) and return the open connection."""
        await self._connection._accept(self._request, subprotocol, extra_headers or [])
        return self._connection

    async def reject(self, status_code: int, *, extra_headers: Optional[HeaderList] = None,
                     body: Optional[bytes] = None) -> None:
        """Refuse the upgrade with an HTTP status (not 101) and an optional body."""
        await self._connection._reject(status_code, extra_headers or [], body or b"")


class WebSocketConnection(trio.abc.AsyncResource):
    """A WebSocket connection: messages, pings and the closing handshake.

    Get one from ``open_websocket`` / ``connect_websocket`` (client) or
    ``WebSocketRequest.accept`` (server)."""

    CONNECTION_ID = itertools.count()

    def __init__(self, stream: trio.abc.Stream, proto: Union[ClientProtocol, ServerProtocol], *,
                 host: Optional[str] = None, path: Optional[str] = None,
                 client_extra_headers: Optional[HeaderList] = None,
                 message_queue_size: int = MESSAGE_QUEUE_SIZE,
                 receive_buffer_size: Optional[int] = RECEIVE_BYTES) -> None:
        self._id = next(self.CONNECTION_ID)
        self._stream = stream
        self._proto: Any = proto    # ClientProtocol or ServerProtocol
        self._is_client = isinstance(proto, ClientProtocol)
        self._host = host
        self._path = path
        self._client_extra_headers = client_extra_headers
        self._receive_buffer_size = receive_buffer_size
        self._close_reason: Optional[CloseReason] = None
        self._closing_locally = False
        self._aborted = False
        self._failed = False
        self._pending: List[Any] = []     # bytes, or a memoryview of a partial send
        self._stream_lock = trio.StrictFIFOLock()
        self._queue = _MessageQueue(message_queue_size)
        self._engine = proto._engine
        self._take_events = proto._sink.take_events
        # A plain TCP stream is read and written through its socket
        # directly (non-blocking calls, trio's wait_readable), which
        # saves trio's per-call schedule points; TLS and other streams
        # go through the Stream API.
        sock = getattr(getattr(stream, 'socket', None), '_sock', None) \
            if type(stream) is trio.SocketStream else None
        self._sock = sock if isinstance(sock, socket.socket) else None
        self._is_open = False
        self._unyielded = 0
        self._parts: List[Any] = []
        self._part_opcode = 0
        self._pings: "OrderedDict[bytes, list]" = OrderedDict()
        self._subprotocol: Optional[str] = None
        self._handshake_headers: Tuple[Tuple[bytes, bytes], ...] = ()
        self._request_ready = trio.Event()
        self._request: Optional[WebSocketRequest] = None
        self._request_taken = False
        self._open_handshake = trio.Event()
        self._close_handshake = trio.Event()
        self._reader_running = True

    # -- metadata --------------------------------------------------------------

    @property
    def closed(self) -> Optional[CloseReason]:
        """Why the connection was or is being closed, else None."""
        return self._close_reason

    @property
    def is_client(self) -> bool:
        return self._is_client

    @property
    def is_server(self) -> bool:
        return not self._is_client

    @property
    def local(self) -> Union[Endpoint, str]:
        """The local endpoint (Endpoint, or repr() of a non-socket stream)."""
        return _endpoint(self._stream, True)

    @property
    def remote(self) -> Union[Endpoint, str]:
        """The remote endpoint (Endpoint, or repr() of a non-socket stream)."""
        return _endpoint(self._stream, False)

    @property
    def path(self) -> Optional[str]:
        """The requested path (a server knows it once the request is accepted)."""
        return self._path

    @property
    def subprotocol(self) -> Optional[str]:
        """The negotiated subprotocol, or None."""
        return self._subprotocol

    @property
    def compression(self) -> Optional[WSPerMessageDeflate]:
        """The negotiated permessage-deflate settings, or None (not negotiated)."""
        extensions = self._proto.extensions
        return extensions[0] if extensions else None

    @property
    def handshake_headers(self) -> Tuple[Tuple[bytes, bytes], ...]:
        """The peer's handshake headers as (lower-case name, value) byte pairs."""
        return self._handshake_headers

    def __str__(self) -> str:
        return f"{'client' if self._is_client else 'server'}-{self._id}"

    # -- messages ------------------------------------------------------------

    async def get_message(self) -> Union[str, bytes]:
        """The next message; ConnectionClosed once the connection is closed
        and the messages received before are taken."""
        queue = self._queue
        if queue.items or queue.putters or queue.send_closed or queue.recv_closed:
            msg = await queue.get()
            if msg is _CLOSED:
                raise ConnectionClosed(self._close_reason)
            return msg
        # Nothing queued: wait here for the reader to hand a message over.
        await _checkpoint_if_cancelled()
        task = _current_task()
        getters = queue.getters
        getters.append(task)

        def abort(_: Any) -> Any:
            getters.remove(task)
            return _ABORT_SUCCEEDED
        msg = await _wait_task_rescheduled(abort)
        if msg is _CLOSED:
            raise ConnectionClosed(self._close_reason)
        return msg

    async def send_message(self, message: Union[str, bytes]) -> None:
        """Send a TEXT (str) or BINARY (bytes) message."""
        await _checkpoint_if_cancelled()
        if self._close_reason is not None or self._engine.state != 1:
            raise ConnectionClosed(self._close_reason)
        if isinstance(message, bytes):
            self._engine.send_data(_BINARY, message, True)
        elif isinstance(message, str):
            self._engine.send_data(_TEXT, message.encode(), True)
        else:
            raise ValueError("message must be str or bytes")
        if self._send_now():
            # A schedule point every few sends: a task that only sends
            # cannot starve the others.
            self._unyielded += 1
            if self._unyielded >= _YIELD_EVERY:
                self._unyielded = 0
                await _cancel_shielded_checkpoint()
            return
        await self._flush()

    async def ping(self, payload: Optional[bytes] = None) -> None:
        """Send a PING and wait for its PONG (a PONG also answers every
        earlier ping in flight); payloads in flight must differ."""
        if self._close_reason is not None:
            raise ConnectionClosed(self._close_reason)
        if payload in self._pings:
            raise ValueError(f"Payload value {payload!r} is already in flight.")
        if payload is None:
            payload = struct.pack("!I", random.getrandbits(32))
        event = trio.Event()
        waiter: list = [event, False]     # [event, answered by a PONG]
        self._pings[payload] = waiter
        try:
            self._proto.send_ping(payload)
        except Exception:
            self._pings.pop(payload, None)
            raise ConnectionClosed(self._close_reason) from None
        await self._flush()
        await event.wait()
        if not waiter[1]:
            raise ConnectionClosed(self._close_reason)

    async def pong(self, payload: Optional[bytes] = None) -> None:
        """Send an unsolicited PONG."""
        if self._close_reason is not None:
            raise ConnectionClosed(self._close_reason)
        try:
            self._proto.send_pong(payload or b"")
        except Exception:
            raise ConnectionClosed(self._close_reason) from None
        await self._flush()

    async def aclose(self, code: int = 1000, reason: Optional[str] = None) -> None:
        """Close: send a CLOSE frame, wait for the peer's, close the stream.
        Idempotent; messages not yet taken are dropped."""
        with _NoCancel():
            await self._aclose(code, reason)

    async def _aclose(self, code: int, reason: Optional[str]) -> None:
        if self._close_reason is not None:
            if self._failed:
                # The engine closed with an error code: wait (under the
                # caller's timeout) for the peer's CLOSE, then drop the stream.
                try:
                    await self._close_handshake.wait()
                finally:
                    self._failed = False
                    await self._close_stream()
            return
        try:
            state = self._proto.state
            if state is OPEN:
                self._close_reason = CloseReason(1000, None)
                self._closing_locally = True
                self._proto.send_close(code, reason or "")
                # The CLOSE frame goes out even when the caller is being
                # cancelled (a cancelled open_websocket body closes cleanly);
                # the wait for the peer's answer below is not shielded.
                with trio.CancelScope(shield=True):
                    with trio.move_on_after(_CLOSE_WRITE_TIMEOUT):
                        await self._flush()
            elif state is CONNECTING:
                self._close_handshake.set()
            self._queue.close_recv()
            await self._close_handshake.wait()
        except ConnectionClosed:
            pass
        finally:
            await self._close_stream()

    # -- I/O -----------------------------------------------------------------

    async def _flush(self) -> None:
        """Write what the protocol has queued.

        The protocol's output is taken synchronously, right after the call
        that queued it, into ``_pending``; whoever holds the stream lock
        writes all of ``_pending``, so bytes go out in the order they were
        queued.  Nothing queued: no lock, no checkpoint."""
        if self._send_now():
            return
        pending = self._pending
        if not pending:
            if self._aborted:
                # What the caller queued was dropped by the abort.
                raise ConnectionClosed(self._close_reason)
            return
        async with self._stream_lock:
            if self._aborted:
                # The stream broke while we waited: what we queued is dropped.
                raise ConnectionClosed(self._close_reason)
            while pending:
                data = pending[0] if len(pending) == 1 else b"".join(pending)
                pending.clear()
                if not data:
                    continue    # SEND_EOF: the stream is closed by the caller instead
                try:
                    await self._stream.send_all(data)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    await self._abort()
                    raise ConnectionClosed(self._close_reason) from None

    def _send_now(self) -> bool:
        """Take the engine's output; True when it is all written already.

        On a plain TCP stream nobody else is writing to, one non-blocking
        send usually takes all of it; what is left (or all of it, on other
        streams, or when the send fails: _flush's stream write reports it)
        goes to ``_pending`` for _flush."""
        out = self._engine.data_to_send()
        if not out:
            return False
        sock = self._sock
        if sock is None or self._pending or len(out) != 1 or self._aborted \
                or self._stream_lock.locked():
            self._pending.extend(out)
            return False
        data = out[0]
        try:
            sent = sock.send(data)
        except OSError:         # BlockingIOError too
            sent = 0
        if sent == len(data):
            return True
        self._pending.append(memoryview(data)[sent:] if sent else data)
        return False

    async def _close_stream(self) -> None:
        self._reader_running = False
        try:
            with _NoCancel():
                await self._stream.aclose()
        except trio.BrokenResourceError:
            pass

    async def _abort(self) -> None:
        """The stream ended or broke without a closing handshake."""
        proto = self._proto
        self._aborted = True
        if proto.state is not CLOSED:
            proto.fail(1006)
            proto.data_to_send()
        self._pending.clear()
        if self._close_reason is None:
            self._close_reason = CloseReason(1006, None)
        self._queue.close_send()
        self._reader_running = False
        self._wake_pings()
        self._close_handshake.set()
        self._request_ready.set()

    def _wake_pings(self) -> None:
        for waiter in self._pings.values():
            waiter[0].set()
        self._pings.clear()

    async def _reader_task(self) -> None:
        """Read the stream, feed the protocol, dispatch its events."""
        proto = self._proto
        stream = self._stream
        try:
            if self._is_client:
                request = proto.connect()
                if self._host is not None:
                    del request.headers["Host"]
                    request.headers["Host"] = self._host
                _add_headers(request.headers, self._client_extra_headers)
                proto.send_request(request)
                try:
                    await self._flush()
                except ConnectionClosed:
                    self._reader_running = False
            try:
                sock = self._sock
                size = self._receive_buffer_size or 65536
                more = True     # data may be waiting: recv before waiting
                receive_data = self._engine.receive_data
                take_events = self._take_events
                queue = self._queue
                engine = self._engine
                while self._reader_running:
                    if sock is None:
                        try:
                            data = await stream.receive_some(self._receive_buffer_size)
                        except (trio.BrokenResourceError, trio.ClosedResourceError):
                            await self._abort()
                            break
                    else:
                        try:
                            if more:
                                await trio.lowlevel.checkpoint()
                            else:
                                await trio.lowlevel.wait_readable(sock)
                            data = sock.recv(size)
                        except BlockingIOError:
                            more = False
                            continue
                        except (OSError, ValueError, trio.BrokenResourceError,
                                trio.ClosedResourceError):
                            await self._abort()
                            break
                        more = len(data) == size
                    if not data:
                        proto.receive_eof()
                        await self._dispatch()
                        if self._close_reason is None or proto.state is not CLOSED:
                            await self._abort()
                        else:
                            self._close_handshake.set()
                            self._wake_pings()
                        # The peer is done with the connection: so are we
                        # (a server half-closes after the closing handshake
                        # and waits for the client to close).
                        await self._close_stream()
                        break
                    receive_data(data)
                    events = take_events()
                    if self._is_open and engine.state == 1 and not self._parts \
                            and not engine.out_size and not self._pending:
                        # The usual case, whole data messages: delivered here,
                        # without the general dispatch (which takes the rest).
                        n = 0
                        for event in events:
                            if type(event) is not Frame or not event.fin:
                                break
                            op = event.opcode
                            if op == _BINARY:
                                msg = event.data
                            elif op == _TEXT:
                                msg = event.data.decode()
                            else:
                                break
                            if not queue.put_nowait(msg):
                                break
                            n += 1
                        if n == len(events):
                            continue
                        if n:
                            events = events[n:]
                    await self._dispatch(events)
            finally:
                self._queue.close_send()
        except trio.Cancelled:
            # The stream stays open: aclose() (open_websocket's exit) still
            # sends the CLOSE frame, then closes it.
            raise
        except BaseException:
            with trio.CancelScope(shield=True):
                await self._close_stream()
            raise
        finally:
            self._request_ready.set()
            self._wake_pings()

    async def _dispatch(self, events: Optional[List[Any]] = None) -> None:
        proto = self._proto
        queue = self._queue
        for event in self._take_events() if events is None else events:
            if type(event) is Frame:
                op = event.opcode
                if op == _TEXT or op == _BINARY:
                    if event.fin and not self._parts:
                        data = event.data
                        msg = data.decode() if op == _TEXT else (
                            data if type(data) is bytes else bytes(data))
                        if not queue.put_nowait(msg):
                            await queue.put(msg)
                    else:
                        self._part_opcode = op
                        self._parts.append(event.data)
                elif op == _CONT:
                    self._parts.append(event.data)
                    if event.fin:
                        data = b"".join(self._parts)
                        self._parts = []
                        await self._deliver(data.decode() if self._part_opcode == _TEXT
                                            else data)
                elif op == _PONG:
                    self._on_pong(bytes(event.data))
                elif op == _CLOSE:
                    await self._on_close()
            elif isinstance(event, Response):
                self._handshake_headers = _extra_pairs(event.headers, _RESPONSE_OWN)
                # Open before delivering the frames behind the response: a
                # full queue must not keep open_websocket() waiting.
                await self._check_response()
            elif isinstance(event, Request):
                await self._on_request(event)
        if not self._is_open:
            if self._is_client:
                await self._check_response()
            elif self._request is None and proto.handshake_exc is not None \
                    and self._close_reason is None:
                await self._refuse_request()
        if self._engine.state != 1 and self._close_reason is None and \
                proto.close_rcvd is None and proto.close_sent is not None:
            # The engine failed the connection (too big, bad UTF-8, protocol error).
            sent = proto.close_sent
            self._close_reason = CloseReason(int(sent.code), sent.reason or None)
            self._failed = True
            queue.close_send()
        if self._pending or self._engine.state != 1 or self._engine.out_size:
            try:
                await self._flush()
            except ConnectionClosed:
                self._reader_running = False

    async def _deliver(self, msg: Union[str, bytes]) -> None:
        if not self._queue.put_nowait(msg):
            await self._queue.put(msg)

    def _on_pong(self, payload: bytes) -> None:
        pings = self._pings
        if payload not in pings:
            return
        while pings:
            key, waiter = pings.popitem(False)
            waiter[1] = True
            waiter[0].set()
            if key == payload:
                break

    async def _on_close(self) -> None:
        rcvd = self._proto.close_rcvd
        code, reason = (1005, None) if rcvd is None else (int(rcvd.code), rcvd.reason or None)
        if self._close_reason is None or self._closing_locally:
            self._close_reason = CloseReason(code, reason)
        self._queue.close_send()
        self._close_handshake.set()
        self._wake_pings()
        if not self._is_client:
            try:
                await self._flush()
            except ConnectionClosed:
                pass
            await self._close_stream()

    async def _check_response(self) -> None:
        proto = self._proto
        exc = proto.handshake_exc
        if exc is not None:
            if isinstance(exc, InvalidStatus):
                response = exc.response
                raise ConnectionRejected(response.status_code, _header_pairs(response.headers),
                                         bytes(response.body) or None)
            raise HandshakeError(f"invalid handshake response: {exc}") from exc
        if proto.state is not CONNECTING:
            # Open (the response may arrive with frames behind it, a CLOSE too).
            self._subprotocol = proto.subprotocol
            self._is_open = True
            self._open_handshake.set()

    async def _on_request(self, request: Request) -> None:
        proto = self._proto
        try:
            proto.process_request(request)
        except InvalidHandshake:
            # Not a valid upgrade: answer as the protocol decides, never call the handler.
            proto.send_response(proto.accept(request))
            try:
                await self._flush()
            except ConnectionClosed:
                pass
            self._close_reason = CloseReason(1006, "Invalid WebSocket handshake")
            await self._close_stream()
            self._close_handshake.set()
            self._request_ready.set()
            return
        self._handshake_headers = _extra_pairs(request.headers, _REQUEST_OWN)
        self._request = WebSocketRequest(self, request)
        self._request_ready.set()

    async def _refuse_request(self) -> None:
        """A request head the parser refuses: 400, close, no handler call."""
        self._close_reason = CloseReason(1006, "Invalid WebSocket handshake")
        try:
            with trio.move_on_after(_CLOSE_WRITE_TIMEOUT):
                await self._stream.send_all(_BAD_REQUEST)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        await self._close_stream()
        self._close_handshake.set()
        self._request_ready.set()

    async def _get_request(self) -> WebSocketRequest:
        if self._is_client:
            raise RuntimeError("This method is only valid for server connections.")
        if self._request_taken:
            raise RuntimeError("No proposal available. Did you call this method"
                               " multiple times or at the wrong time?")
        await self._request_ready.wait()
        self._request_taken = True
        if self._request is None:
            raise ConnectionClosed(self._close_reason)
        return self._request

    async def _accept(self, request: Request, subprotocol: Optional[str],
                      extra_headers: HeaderList) -> None:
        proto = self._proto
        proto.select_subprotocol = lambda offered: subprotocol
        response = proto.accept(request)
        if response.status_code == 101:
            del response.headers["Date"]    # as wsproto: only what the handshake needs
            _add_headers(response.headers, extra_headers)
        proto.send_response(response)
        await self._flush()
        if response.status_code != 101:
            self._close_reason = CloseReason(1006, "Invalid WebSocket handshake")
            await self._close_stream()
            raise ConnectionClosed(self._close_reason)
        self._subprotocol = subprotocol
        self._path = request.path
        self._is_open = True
        self._open_handshake.set()

    async def _reject(self, status_code: int, extra_headers: HeaderList, body: bytes) -> None:
        headers = Headers()
        _add_headers(headers, extra_headers)
        if "Content-Length" not in headers:
            headers["Content-Length"] = str(len(body))
        try:
            phrase = http.HTTPStatus(status_code).phrase
        except ValueError:
            phrase = ""
        self._proto.send_response(Response(status_code, phrase, headers, body))
        try:
            await self._flush()
        except ConnectionClosed:
            pass
        self._close_reason = CloseReason(1006, "Rejected WebSocket handshake")
        self._close_handshake.set()
        await self._close_stream()


def _deflate(compression: Any) -> Optional[WSPerMessageDeflate]:
    """The `compression` keyword: None (off), "deflate" (default settings)
    or a WSPerMessageDeflate."""
    if compression is None or isinstance(compression, WSPerMessageDeflate):
        return compression
    if compression == "deflate":
        return WSPerMessageDeflate()
    raise ValueError('compression must be None, "deflate" or a WSPerMessageDeflate')
