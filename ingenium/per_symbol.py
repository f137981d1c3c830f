"""Per-symbol state for a component, declared beside its handlers instead of in an ``__init__`` override.

::

    class SmaCross(Strategy[SmaCrossParams]):
        @per_symbol
        def cross(self) -> MovingAverageCross:
            return MovingAverageCross(self.params.fast, self.params.slow)

        def on_data(self, event: DataEvent) -> SignalEvent | None:
            direction = self.cross[event.symbol].update(event.bar.close)
            ...

``self.cross`` is a ``defaultdict[str, MovingAverageCross]`` of the instance: the first use of a symbol calls the
decorated method (with ``self``, so it sees ``self.params``) and keeps what it returns.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Callable
from typing import Any, Generic, TypeVar, overload

C = TypeVar("C")
T = TypeVar("T")


class per_symbol(Generic[C, T]):  # a decorator, named like functools.cached_property
    """Decorate a method that makes a fresh state for one symbol; the attribute becomes a map symbol → state."""

    def __init__(self, factory: Callable[[C], T]) -> None:
        self.factory = factory
        self.name = factory.__name__
        self.__doc__ = factory.__doc__

    def __set_name__(self, owner: type[Any], name: str) -> None:
        self.name = name

    @overload
    def __get__(self, instance: None, owner: type[Any]) -> per_symbol[C, T]: ...

    @overload
    def __get__(self, instance: C, owner: type[Any]) -> defaultdict[str, T]: ...

    def __get__(self, instance: C | None, owner: type[Any]) -> per_symbol[C, T] | defaultdict[str, T]:
        if instance is None:
            return self
        # Stored under the same name on the instance, which then shadows this (non-data) descriptor.
        states: defaultdict[str, T] = defaultdict(functools.partial(self.factory, instance))
        instance.__dict__[self.name] = states
        return states


__all__ = ["per_symbol"]
