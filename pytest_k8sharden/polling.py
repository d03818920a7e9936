"""The one polling helper: wait for a condition with a deadline (core layer, no pytest, no cluster)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import TypeVar

_T = TypeVar("_T")


def wait_until(condition: Callable[[], bool], timeout_s: float, interval_s: float = 0.1) -> bool:
    """Poll ``condition`` every ``interval_s`` until it holds or ``timeout_s`` passes; return its answer."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval_s)
    return condition()


def wait_for_each(
    items: Iterable[_T], done: Callable[[_T], bool], timeout_s: float, interval_s: float = 0.1
) -> list[_T]:
    """Poll until ``done`` holds for every item (an item once done is not asked again) or ``timeout_s``
    passes; return the items still not done."""
    left = list(items)

    def all_done() -> bool:
        nonlocal left
        left = [item for item in left if not done(item)]
        return not left

    wait_until(all_done, timeout_s, interval_s)
    return left
