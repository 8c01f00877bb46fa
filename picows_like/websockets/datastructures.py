"""HTTP headers with the ``websockets.datastructures.Headers`` behaviour, on
top of multidict's case-insensitive multi-dict."""
from typing import Any, Iterable, Iterator, List, Mapping, Tuple, Union

from multidict import CIMultiDict

__all__ = ["Headers", "HeadersLike", "MultipleValuesError"]


class MultipleValuesError(LookupError):
    """``headers[name]`` found more than one value."""

    def __str__(self) -> str:
        if len(self.args) == 1:
            return repr(self.args[0])
        return super().__str__()


class Headers(CIMultiDict):
    """Case-insensitive multi-dict of HTTP headers.

    Like websockets' Headers: ``headers[name]`` raises KeyError when missing
    and MultipleValuesError when repeated; ``headers[name] = value`` *adds*
    a value; ``get_all(name)`` lists them; ``raw_items()`` yields every
    (name, value) pair.  Everything else is multidict.CIMultiDict.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if len(args) == 1 and isinstance(args[0], str):
            raise TypeError("Headers() takes a mapping or an iterable of pairs")
        super().__init__(*args, **kwargs)

    def __getitem__(self, key: str) -> str:
        values = self.getall(key)          # KeyError when missing
        if len(values) == 1:
            return values[0]
        raise MultipleValuesError(key)

    def __setitem__(self, key: str, value: str) -> None:
        self.add(key, value)

    def get_all(self, key: str) -> List[str]:
        """All values of `key` (empty list when missing)."""
        return self.getall(key, [])

    def raw_items(self) -> Iterator[Tuple[str, str]]:
        """Every (name, value) pair, in order."""
        return iter(list(self.items()))

    def serialize(self) -> bytes:
        return str(self).encode()

    def __str__(self) -> str:
        return "".join(f"{k}: {v}\r\n" for k, v in self.items()) + "\r\n"

    def __repr__(self) -> str:
        return f"Headers({list(self.items())!r})"


HeadersLike = Union[Headers, Mapping[str, str], Iterable[Tuple[str, str]]]
