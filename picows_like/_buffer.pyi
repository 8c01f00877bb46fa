from typing import TypeVar

_T = TypeVar("_T", bound="MemoryBuffer")

class MemoryBuffer:
    def __new__(cls: type[_T], capacity: int = ...) -> _T: ...
