"""Errors are told apart by type, not by their message text."""
import asyncio

import pytest

import picows_like
from picows_like import reconnect
from picows_like.exceptions import (WSConnectionClosedBeforeHandshake, WSHandshakeError,
                                    WSInvalidMessageError, WSRedirectError)
from picows_like.websockets.asyncio import client as ws_client
from picows_like.websockets.exceptions import InvalidHandshake, InvalidMessage, SecurityError

from helpers import wf


def test_closed_before_handshake_is_an_invalid_message_error():
    # Existing `except WSInvalidMessageError` / `except WSHandshakeError` keep working.
    assert issubclass(WSConnectionClosedBeforeHandshake, WSInvalidMessageError)
    assert issubclass(WSRedirectError, WSHandshakeError)
    assert picows_like.WSConnectionClosedBeforeHandshake is WSConnectionClosedBeforeHandshake


def test_retry_classification_is_by_type():
    # The right type with any message is retryable ...
    assert reconnect.retryable_exception(WSConnectionClosedBeforeHandshake("peer hung up"))
    # ... and the old message text on the wrong type is not.
    assert not reconnect.retryable_exception(
        WSInvalidMessageError("connection closed before the handshake completed"))


def test_websockets_translation_is_by_type():
    err = ws_client._handshake_error(WSConnectionClosedBeforeHandshake("peer hung up"))
    assert type(err) is InvalidMessage and isinstance(err.__cause__, EOFError)
    # websockets' default process_exception retries exactly this shape.
    assert ws_client.process_exception(err) is None
    err = ws_client._handshake_error(
        WSInvalidMessageError("connection closed before the handshake completed"))
    assert type(err) is InvalidMessage and err.__cause__ is None
    assert type(ws_client._handshake_error(WSRedirectError("no Location"))) is SecurityError
    # "redirect" in the text of another handshake error is not a redirect refusal.
    assert type(ws_client._handshake_error(WSHandshakeError("redirect"))) is InvalidHandshake


def test_one_reconnect_close_code_set():
    assert ws_client.RECONNECT_CLOSE_CODES is reconnect.RECONNECT_CLOSE_CODES
    assert set(reconnect.RECONNECT_CLOSE_CODES) == {1001, 1006, 1011, 1012, 1013, 1014}


async def test_ws_connect_raises_the_typed_error_when_the_server_hangs_up():
    async def hang_up(reader, writer):
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(WSConnectionClosedBeforeHandshake) as info:
            await wf(picows_like.ws_connect(picows_like.WSListener, f"ws://127.0.0.1:{port}/"))
        assert reconnect.retryable_exception(info.value)
    finally:
        server.close()
        await wf(server.wait_closed())
