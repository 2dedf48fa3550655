"""How a widget subscribes to a session's events (napari's pattern: a widget takes the
session and connects to what it shows).

Contract: :class:`Subscriptions` collects a Qt object's connections to
:class:`~graph.session.Emitter` objects. A callback runs only while its Qt object exists: the
first event after the object was deleted disconnects them all (a session may outlive the
widgets that showed it). ``disconnect_all()`` ends them at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import shiboken6
from PySide6.QtCore import QObject

from graph.session import Emitter, SessionEvents

E = TypeVar("E")


class Subscriptions:
    """The connections of one Qt object to session emitters."""

    def __init__(self, owner: QObject) -> None:
        self._owner = owner
        self._disconnects: list[Callable[[], None]] = []

    def connect(self, emitter: Emitter[E], callback: Callable[[E], Any]) -> None:
        """Call ``callback(event)`` on each of ``emitter``'s events while the owner lives."""

        def guarded(event: E) -> None:
            if not shiboken6.isValid(self._owner):
                self.disconnect_all()
                return
            callback(event)

        self._disconnects.append(emitter.connect(guarded))

    def follow(self, events: SessionEvents, **callbacks: Callable[[Any], Any]) -> None:
        """Connect each callback to the session emitter it is named after
        (``follow(session.events, report=..., selection=...)``)."""
        for name, callback in callbacks.items():
            self.connect(getattr(events, name), callback)

    def disconnect_all(self) -> None:
        """End every connection."""
        disconnects, self._disconnects = self._disconnects, []
        for disconnect in disconnects:
            disconnect()

    def __len__(self) -> int:
        return len(self._disconnects)
