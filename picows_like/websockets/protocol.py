"""Connection states (names as in ``websockets.protocol``)."""
import enum

__all__ = ["State", "Side", "CONNECTING", "OPEN", "CLOSING", "CLOSED", "SERVER", "CLIENT"]


class Side(enum.IntEnum):
    """Whether a connection is the server or the client side."""
    SERVER, CLIENT = range(2)


class State(enum.IntEnum):
    """A WebSocket connection is in one of these four states."""
    CONNECTING, OPEN, CLOSING, CLOSED = range(4)


SERVER, CLIENT = Side.SERVER, Side.CLIENT
CONNECTING, OPEN, CLOSING, CLOSED = State.CONNECTING, State.OPEN, State.CLOSING, State.CLOSED
