"""Close codes and the Close record (names as in ``websockets.frames``)."""
import enum
from dataclasses import dataclass
from typing import Union

__all__ = ["Opcode", "CloseCode", "Close", "OK_CLOSE_CODES", "CLOSE_CODE_EXPLANATIONS"]


class Opcode(enum.IntEnum):
    """Frame opcodes."""
    CONT, TEXT, BINARY = 0x00, 0x01, 0x02
    CLOSE, PING, PONG = 0x08, 0x09, 0x0A


class CloseCode(enum.IntEnum):
    """Close code values for WebSocket close frames."""
    NORMAL_CLOSURE = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    NO_STATUS_RCVD = 1005
    ABNORMAL_CLOSURE = 1006
    INVALID_DATA = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    MANDATORY_EXTENSION = 1010
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013
    BAD_GATEWAY = 1014
    TLS_HANDSHAKE = 1015


CLOSE_CODE_EXPLANATIONS = {
    1000: "OK", 1001: "going away", 1002: "protocol error", 1003: "unsupported data",
    1005: "no status received [internal]", 1006: "connection closed abnormally [internal]",
    1007: "invalid frame payload data", 1008: "policy violation", 1009: "message too big",
    1010: "mandatory extension", 1011: "internal error", 1012: "service restart",
    1013: "try again later", 1014: "bad gateway", 1015: "TLS handshake failure [internal]",
}

# Closes that count as "OK" (ConnectionClosedOK) when both sides used one.
OK_CLOSE_CODES = frozenset({1000, 1001, 1005})

_CODES = {int(c): c for c in CloseCode}


def close_code(code: int) -> Union[CloseCode, int]:
    """A CloseCode member for the codes it names, the int otherwise."""
    return _CODES.get(code, code)


@dataclass
class Close:
    """Code and reason of a CLOSE frame."""
    code: Union[CloseCode, int]
    reason: str

    def __str__(self) -> str:
        if 3000 <= self.code < 4000:
            explanation = "registered"
        elif 4000 <= self.code < 5000:
            explanation = "private use"
        else:
            explanation = CLOSE_CODE_EXPLANATIONS.get(self.code, "unknown")
        result = f"{int(self.code)} ({explanation})"
        if self.reason:
            result = f"{result} {self.reason}"
        return result
