"""Defensive reading of ONVIF replies: zeep objects, or the raw elements zeep could not place.

A lenient zeep keeps an element it did not expect (another wrapper name, children out of order or in
another namespace) in `_raw_elements` instead of failing; these helpers look there too, by local name.
A missing optional element is None ("not reported"); a missing required one, or a value that is not
what the schema says, is an `UnexpectedReply` naming the operation and the element.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from lxml import etree

from camfleet.onvif.errors import UnexpectedReply

T = TypeVar("T")
_CONVERSION_ERRORS = (AttributeError, TypeError, ValueError, KeyError, IndexError, OverflowError)


def _local(element: Any) -> str | None:
    tag = getattr(element, "tag", None)
    if not isinstance(tag, str):
        return None  # comments, processing instructions
    return etree.QName(tag).localname


def _raw_children(node: Any) -> Iterator[Any]:
    if isinstance(node, etree._Element):
        yield from node
        return
    for raw in getattr(node, "_raw_elements", None) or ():
        if isinstance(raw, etree._Element):
            yield raw


def child(node: Any, name: str) -> Any:
    """The child `name` of a zeep object or lxml element; None when absent."""
    if node is None:
        return None
    if not isinstance(node, etree._Element):
        try:
            value = getattr(node, name, None)
        except _CONVERSION_ERRORS:
            value = None
        if value is not None:
            return value
    return next((raw for raw in _raw_children(node) if _local(raw) == name), None)


def children(node: Any, name: str) -> list[Any]:
    """Every child `name` (a zeep list field, a single value, or raw elements)."""
    if node is None:
        return []
    if isinstance(node, etree._Element):
        return [raw for raw in node if _local(raw) == name]
    value = child(node, name)
    if value is None:
        return []
    found = list(value) if isinstance(value, list | tuple) else [value]
    extra = [raw for raw in _raw_children(node) if _local(raw) == name and raw is not value]
    return found + extra


def items(reply: Any) -> list[Any]:
    """A reply zeep unwrapped to a list (GetProfiles, GetPresets...): None and single values tolerated."""
    if reply is None:
        return []
    if isinstance(reply, list | tuple):
        return [item for item in reply if item is not None]
    return [reply]


def scalar(value: Any) -> Any:
    """The text of a raw element, else the value itself."""
    if isinstance(value, etree._Element):
        return (value.text or "").strip() or None
    return value


def attribute(node: Any, name: str) -> Any:
    if isinstance(node, etree._Element):
        return node.get(name)
    return child(node, name)


class Reader:
    """Reads one operation's reply; every failure names the operation and the element."""

    def __init__(self, operation: str, address: str = "") -> None:
        self.operation = operation
        self.address = address

    def fail(self, element: str, problem: str) -> UnexpectedReply:
        return UnexpectedReply(
            f"{self.operation} reply: {element} {problem}",
            element=element,
            operation=self.operation,
            address=self.address,
        )

    def required(self, node: Any, name: str) -> Any:
        value = child(node, name)
        if value is None:
            raise self.fail(name, "is missing")
        return value

    def integer(self, node: Any, name: str, default: int | None = None) -> int:
        value = scalar(child(node, name))
        if value is None:
            if default is None:
                # zeep turns a value it cannot convert ("1920px") into None, so this may be either.
                raise self.fail(name, "is missing or not a number")
            return default
        return self.convert(name, lambda: int(float(str(value))))

    def number(self, node: Any, name: str, default: float | None = None) -> float:
        value = scalar(attribute(node, name))
        if value is None:
            if default is None:
                raise self.fail(name, "is missing")
            return default
        return self.convert(name, lambda: float(str(value)))

    def flag(self, node: Any, name: str) -> bool | None:
        value = scalar(child(node, name))
        if value is None:
            return None
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text not in ("true", "false", "1", "0"):
            raise self.fail(name, f"is not a boolean ({text[:20]!r})")
        return text in ("true", "1")

    def text(self, node: Any, name: str) -> str | None:
        value = scalar(child(node, name))
        return None if value is None else str(value)

    def convert(self, element: str, conversion: Callable[[], T]) -> T:
        """Run `conversion`; any error reading the reply becomes an UnexpectedReply about `element`."""
        try:
            return conversion()
        except UnexpectedReply:
            raise
        except _CONVERSION_ERRORS as exc:
            name = getattr(exc, "name", None) if isinstance(exc, AttributeError) else None
            raise self.fail(str(name or element), f"is not usable ({type(exc).__name__})") from None
