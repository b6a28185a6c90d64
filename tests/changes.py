"""One change to a JSON document: how a rejection test changes exactly one thing from a valid value."""

from __future__ import annotations

import copy
from typing import Any


def changed(original: Any, path: tuple[Any, ...], value: Any = None, *, delete: bool = False) -> Any:
    """A deep copy of `original` with the value at `path` (keys and indexes) set to `value`, or deleted."""
    document = copy.deepcopy(original)
    target = document
    for step in path[:-1]:
        target = target[step]
    if delete:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return document
