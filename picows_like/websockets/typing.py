"""Type aliases (as in ``websockets.typing``)."""
import http
import logging
from typing import Any, NewType, Optional, Tuple, Union

from .datastructures import HeadersLike

__all__ = ["Data", "DataLike", "BytesLike", "LoggerLike", "StatusLike", "Origin",
           "Subprotocol", "ExtensionName", "ExtensionParameter", "HeadersLike"]

Data = Union[str, bytes]
BytesLike = (bytes, bytearray, memoryview)
DataLike = Union[str, bytes, bytearray, memoryview]
LoggerLike = Union[logging.Logger, logging.LoggerAdapter]
StatusLike = Union[http.HTTPStatus, int]
Origin = NewType("Origin", str)
Subprotocol = NewType("Subprotocol", str)
ExtensionName = NewType("ExtensionName", str)
ExtensionParameter = Tuple[str, Optional[str]]
_ = Any
