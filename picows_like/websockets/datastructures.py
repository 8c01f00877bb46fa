"""HTTP headers with the ``websockets.datastructures.Headers`` behaviour."""
import re
from collections.abc import MutableMapping
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Tuple, Union

try:
    from typing import Protocol
except ImportError:  # pragma: no cover - Python < 3.8
    Protocol = object  # type: ignore[assignment]

__all__ = ["Headers", "HeadersLike", "MultipleValuesError", "SupportsKeysAndGetItem"]


class MultipleValuesError(LookupError):
    """``headers[name]`` found more than one value."""

    def __str__(self) -> str:
        # Shown like a KeyError: the repr of the one argument.
        if len(self.args) == 1:
            return repr(self.args[0])
        return super().__str__()


# Characters allowed in a header value (field-content of RFC 9110, plus
# obs-text read as ISO-8859-1): no CR, LF or other controls but tab.
_value_ok = re.compile(r"[\x09\x20-\x7e\x80-\xff]*").fullmatch


class Headers(MutableMapping):
    """HTTP headers: case-insensitive names, several values per name.

    * ``headers[name]``: KeyError when absent, the value when there is one,
      MultipleValuesError when there are several.
    * ``headers[name] = value`` *appends* a value (after refusing values with
      CR, LF or other control characters: InvalidHeaderValue).
    * ``del headers[name]`` removes every value of that name.
    * Iteration, ``keys()`` and ``len()`` see each name once, lower-cased;
      ``get_all(name)`` lists the values, ``raw_items()`` yields every
      (name, value) pair with names as given, in order.

    Non-ASCII values are ISO-8859-1 text (``serialize()`` encodes them so).
    """

    __slots__ = ("_by_name", "_pairs")

    def __init__(self, *args: Any, **kwargs: str) -> None:
        self._by_name: Dict[str, List[str]] = {}
        self._pairs: List[Tuple[str, str]] = []
        self.update(*args, **kwargs)

    def __str__(self) -> str:
        return "".join([f"{name}: {value}\r\n" for name, value in self._pairs]) + "\r\n"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._pairs!r})"

    def copy(self) -> "Headers":
        """An independent copy (websockets' copy shares the value lists, so
        adding to a copy there shows in the original's get_all(); not here)."""
        other = type(self)()
        other._by_name = {name: list(values) for name, values in self._by_name.items()}
        other._pairs = list(self._pairs)
        return other

    def serialize(self) -> bytes:
        """The header block as sent: lines then an empty line, ISO-8859-1."""
        return str(self).encode("iso-8859-1")

    # Collection
    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._by_name

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_name)

    def __len__(self) -> int:
        return len(self._by_name)

    # MutableMapping
    def __getitem__(self, key: str) -> str:
        values = self._by_name[key.lower()]
        if len(values) != 1:
            raise MultipleValuesError(key)
        return values[0]

    def __setitem__(self, key: str, value: str) -> None:
        if not _value_ok(str(value)):
            raise InvalidHeaderValue(key, value)
        self.set_insecure(key, value)

    def __delitem__(self, key: str) -> None:
        lower = key.lower()
        del self._by_name[lower]
        self._pairs = [pair for pair in self._pairs if pair[0].lower() != lower]

    def __eq__(self, other: Any) -> bool:
        if not isinstance(other, Headers):
            return NotImplemented
        return self._by_name == other._by_name

    __hash__ = None  # type: ignore[assignment]

    def clear(self) -> None:
        """Remove every header."""
        self._by_name = {}
        self._pairs = []

    def update(self, *args: Any, **kwargs: str) -> None:
        """Add headers from Headers (every pair), a mapping, pairs, or keywords."""
        super().update(*(arg.raw_items() if isinstance(arg, Headers) else arg
                         for arg in args), **kwargs)

    # Several values
    def get_all(self, key: str) -> List[str]:
        """Every value of `key` (an empty list when absent)."""
        return self._by_name.get(key.lower(), [])

    def raw_items(self) -> Iterator[Tuple[str, str]]:
        """Every (name, value) pair, names as given, in order."""
        return iter(self._pairs)

    def set_insecure(self, key: str, value: str) -> None:
        """Append a value without checking it."""
        self._by_name.setdefault(key.lower(), []).append(value)
        self._pairs.append((key, value))


class SupportsKeysAndGetItem(Protocol):  # type: ignore[misc]
    """Dict-like: ``keys()`` and ``__getitem__`` with str keys and values."""

    def keys(self) -> Iterable[str]: ...

    def __getitem__(self, key: str) -> str: ...


HeadersLike = Union[Headers, Mapping[str, str], Iterable[Tuple[str, str]],
                    SupportsKeysAndGetItem]
"""What may stand where Headers are expected."""

from .exceptions import InvalidHeaderValue  # noqa: E402
