"""Reconnecting feeds for the callback API.

``ws_connect_forever(listener_factory, url, ...)`` keeps one WebSocket
connection up: it connects with ``ws_connect``, waits until the connection
ends, and connects again, with exponential backoff and jitter after network
errors and after "going away" closes (1001, 1006 = no CLOSE, 1011-1014), the
way ``async for ws in websockets.connect(...)`` does::

    feed = ws_connect_forever(MyListener, "wss://example.com/feed",
                              on_connected=lambda transport, listener: ...)
    ...
    await feed.stop()            # or: async with ws_connect_forever(...) as feed:

Each connection gets a fresh listener from ``listener_factory``; use
``on_connected`` (or the listener's own ``on_ws_connected``) to subscribe
again after a reconnect.  The current connection is ``feed.transport`` /
``feed.listener`` (None while disconnected); ``await feed.wait_connected()``
waits for one.
"""
import asyncio
import logging
import random
import time
from typing import Any, Callable, Collection, Generator, Iterator, Optional, Tuple

from ._enums import WSCloseCode
from .client import ws_connect
from .exceptions import WSConnectionClosedBeforeHandshake, WSInvalidStatusError
from .url import redact_url

__all__ = ["backoff", "retryable_exception", "ws_connect_forever", "WSReconnectingClient",
           "RECONNECT_CLOSE_CODES"]

# Closes after which reconnecting is worth it but should back off; the one
# definition, used by ws_connect_forever and by the websockets layer's
# ``async for ws in connect(...)``.  Going away (1001), no CLOSE at all
# (1006, a network failure), the "come back later" codes 1012-1014, and the
# server's internal error 1011: a server that just failed is the one a burst
# of immediate reconnects would hurt most, so it gets the backoff too (the
# union of the two sets the two layers used to keep apart).
RECONNECT_CLOSE_CODES = frozenset({
    WSCloseCode.GOING_AWAY, WSCloseCode.ABNORMAL_CLOSURE, WSCloseCode.INTERNAL_ERROR,
    WSCloseCode.SERVICE_RESTART, WSCloseCode.TRY_AGAIN_LATER, WSCloseCode.BAD_GATEWAY})

_log = logging.getLogger("picows_like.reconnect")


def backoff(initial_delay: float = 5.0, min_delay: float = 3.1, max_delay: float = 90.0,
            factor: float = 1.618) -> Generator[float, None, None]:
    """Reconnection delays: a random one in [0, initial_delay) first (RFC 6455
    7.2.3 jitter), then min_delay growing by `factor` up to max_delay, each
    with +-10% jitter so that many clients do not reconnect in lockstep."""
    yield random.random() * initial_delay
    delay = min_delay
    while True:
        yield min(delay, max_delay) * random.uniform(0.9, 1.1)
        if delay < max_delay:
            delay *= factor


def retryable_exception(exc: BaseException) -> bool:
    """Default classification of connect errors: network errors, timeouts,
    a connection closed during the handshake and HTTP 500/502/503/504 are
    transient; anything else (bad URL, 4xx, invalid handshake) is fatal."""
    if isinstance(exc, (OSError, asyncio.TimeoutError, TimeoutError)):
        return True
    if isinstance(exc, WSInvalidStatusError):
        return exc.response is not None and int(exc.response.status) in (500, 502, 503, 504)
    # By type: the connection dropped before a full response is transient;
    # any other malformed response is fatal.
    return isinstance(exc, WSConnectionClosedBeforeHandshake)


class WSReconnectingClient:
    """Handle returned by ws_connect_forever(); see the module docstring."""

    def __init__(self, listener_factory: Callable, url: str, *,
                 reconnect_delays: Callable[[], Iterator[float]] = backoff,
                 reconnect_close_codes: Collection[int] = RECONNECT_CLOSE_CODES,
                 is_retryable: Callable[[BaseException], bool] = retryable_exception,
                 stable_after: float = 5.0,
                 on_connected: Optional[Callable[[Any, Any], Any]] = None,
                 on_disconnected: Optional[Callable[[Any, Any], Any]] = None,
                 logger: Optional[logging.Logger] = None,
                 **ws_connect_kwargs: Any) -> None:
        self._listener_factory = listener_factory
        self._url = url
        self._shown_url = redact_url(url)        # for logs: no credentials
        self._reconnect_delays = reconnect_delays
        self._reconnect_close_codes = frozenset(int(c) for c in reconnect_close_codes)
        self._is_retryable = is_retryable
        self._stable_after = stable_after
        self._on_connected = on_connected
        self._on_disconnected = on_disconnected
        self._logger = logger or _log
        self._kwargs = ws_connect_kwargs
        self._loop = asyncio.get_running_loop()
        self._stopping = False
        self._stop_event = asyncio.Event()
        self._connected_event = asyncio.Event()
        self.transport: Any = None
        self.listener: Any = None
        self.connect_count = 0
        """Number of successful connections so far."""
        self.last_error: Optional[BaseException] = None
        """The last connect error (retryable or not)."""
        self._task = self._loop.create_task(self._run())

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._shown_url} connects={self.connect_count}>"

    # -- public API ----------------------------------------------------------

    @property
    def is_running(self) -> bool:
        return not self._task.done()

    async def wait_connected(self) -> Tuple[Any, Any]:
        """Wait for a live connection; return (transport, listener).  Raises
        the fatal error if connecting gave up, RuntimeError once stopped."""
        while True:
            if self.transport is not None and not self.transport.is_disconnected:
                return self.transport, self.listener
            if self._task.done():
                error = None if self._task.cancelled() else self._task.exception()
                if error is not None:
                    raise error
                raise RuntimeError("the reconnecting client is stopped")
            waiter = self._loop.create_task(self._connected_event.wait())
            try:
                await asyncio.wait([waiter, self._task], return_when=asyncio.FIRST_COMPLETED)
            finally:
                waiter.cancel()

    async def stop(self, code: int = WSCloseCode.OK, reason: str = "",
                   timeout: Optional[float] = 5.0) -> None:
        """Stop reconnecting; close the current connection with `code`
        (waiting up to `timeout` for the closing handshake).  Idempotent."""
        self._stopping = True
        self._stop_event.set()
        transport = self.transport
        if transport is not None and not transport.is_disconnected:
            transport.send_close(code, reason.encode() if reason else None)
            try:
                await asyncio.wait_for(asyncio.shield(transport.wait_disconnected()), timeout)
            except asyncio.TimeoutError:
                transport.disconnect(False)
            except Exception:
                pass
        if not self._task.done():
            self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass
        except Exception:
            pass

    async def wait_stopped(self) -> None:
        """Wait until the client stops (stop() or a fatal connect error,
        which is raised here)."""
        await asyncio.shield(self._task)

    async def __aenter__(self) -> "WSReconnectingClient":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.stop()

    # -- the loop ----------------------------------------------------------------

    async def _sleep(self, delay: float) -> None:
        try:
            await asyncio.wait_for(self._stop_event.wait(), delay)
        except asyncio.TimeoutError:
            pass

    async def _run(self) -> None:
        delays: Optional[Iterator[float]] = None
        while not self._stopping:
            connecting = self._loop.create_task(
                ws_connect(self._listener_factory, self._url, **self._kwargs))
            try:
                transport, listener = await asyncio.shield(connecting)
            except asyncio.CancelledError:
                _discard(connecting)
                raise
            except Exception as exc:
                self.last_error = exc
                if not self._is_retryable(exc):
                    self._logger.error("connecting to %s failed, giving up: %r",
                                       self._shown_url, exc)
                    raise
                if delays is None:
                    delays = self._reconnect_delays()
                delay = next(delays)
                self._logger.info("connecting to %s failed (%r); retrying in %.2fs",
                                  self._shown_url, exc, delay)
                await self._sleep(delay)
                continue
            if self._stopping:
                _discard(connecting)
                break
            self.connect_count += 1
            self.transport, self.listener = transport, listener
            started = time.monotonic()
            self._connected_event.set()
            if self._on_connected is not None:
                await _maybe_await(self._on_connected, transport, listener)
            try:
                await transport.wait_disconnected()
            except Exception as exc:
                self._logger.info("connection to %s failed: %r", self._shown_url, exc)
            self._connected_event.clear()
            if self._on_disconnected is not None:
                await _maybe_await(self._on_disconnected, transport, listener)
            if self._stopping:
                break
            handshake = transport.close_handshake
            received = handshake.recv if handshake is not None else None
            code = 1006 if received is None else int(received.code)
            uptime = time.monotonic() - started
            if code in self._reconnect_close_codes or uptime < self._stable_after:
                if delays is None or uptime >= self._stable_after:
                    delays = self._reconnect_delays()
                delay = next(delays)
                self._logger.info("connection to %s closed (code %d); reconnecting in %.2fs",
                                  self._shown_url, code, delay)
                await self._sleep(delay)
            else:
                delays = None
                self._logger.info("connection to %s closed (code %d); reconnecting",
                                  self._shown_url, code)


def _discard(connecting: "asyncio.Task") -> None:
    """Drop a connection attempt: cancel it, or close what it opened."""
    if not connecting.done():
        connecting.cancel()             # the core aborts a half-open connection
    elif not connecting.cancelled() and connecting.exception() is None:
        transport, _ = connecting.result()
        transport.send_close(WSCloseCode.OK)
        transport.disconnect()


async def _maybe_await(fn: Callable, *args: Any) -> None:
    try:
        result = fn(*args)
        if asyncio.iscoroutine(result) or isinstance(result, asyncio.Future):
            await result
    except Exception:
        _log.exception("exception in a reconnect callback")


def ws_connect_forever(listener_factory: Callable, url: str, **kwargs: Any) -> WSReconnectingClient:
    """Keep a connection to `url` up until stopped; see WSReconnectingClient.

    Keywords: ``reconnect_delays`` (a generator factory, default backoff()),
    ``reconnect_close_codes`` (closes that back off before reconnecting,
    default 1001/1006/1011-1014), ``is_retryable(exc)`` (connect errors
    worth retrying), ``stable_after`` (seconds; a connection that ends
    sooner also backs off), ``on_connected(transport, listener)`` and
    ``on_disconnected(transport, listener)`` (plain or async callables; on_connected
    runs after the listener's own on_ws_connected, and frames may already
    have reached the listener), 
    ``logger``; everything else goes to ws_connect().  Must be called with
    a running event loop; returns at once, connecting in the background.
    """
    return WSReconnectingClient(listener_factory, url, **kwargs)
