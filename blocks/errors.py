"""The one error hierarchy of TensorBlocks.

Every error the product raises on purpose is a :class:`TensorBlocksError`, a
subclass of :class:`ValueError`. An error carries the place it concerns — file,
location inside the file, node id, block name, port, attr — as fields, so the
editor can put a badge on the right block and the command line can print a
one-line message, and callers add context as the error travels outwards
(:meth:`TensorBlocksError.at`) without rewording it.

``str(error)`` is the full one-line message: the place, then the reason.
``error.reason`` is the reason alone.
"""

from __future__ import annotations

from typing import Self


class TensorBlocksError(ValueError):
    """Base of every error TensorBlocks raises on purpose."""

    def __init__(
        self,
        reason: str,
        *,
        file: str | None = None,
        location: str | None = None,
        node: str | None = None,
        block: str | None = None,
        port: str | None = None,
        attr: str | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.file = file
        self.location = location
        self.node = node
        self.block = block
        self.port = port
        self.attr = attr

    def at(
        self,
        *,
        file: str | None = None,
        location: str | None = None,
        node: str | None = None,
        block: str | None = None,
        port: str | None = None,
        attr: str | None = None,
    ) -> Self:
        """Fill in the place fields that are still empty; returns ``self``.

        Fields already set are kept: the innermost code knows the place best.
        """
        self.file = self.file or file
        self.location = self.location or location
        self.node = self.node or node
        self.block = self.block or block
        self.port = self.port or port
        self.attr = self.attr or attr
        return self

    def place(self) -> str:
        """Where the error is, e.g. ``g.json: node 'crop' (ExtractGlimpse), port 'size'``."""
        parts: list[str] = []
        if self.file:
            parts.append(self.file + (f" at {self.location}" if self.location else ""))
        elif self.location:
            parts.append(self.location)
        if self.node:
            parts.append(f"node '{self.node}'" + (f" ({self.block})" if self.block else ""))
        elif self.block:
            parts.append(f"block {self.block}")
        if self.port:
            parts.append(f"port '{self.port}'")
        if self.attr:
            parts.append(f"attr '{self.attr}'")
        return ", ".join(parts)

    def __str__(self) -> str:
        place = self.place()
        if not place:
            return self.reason
        reason = self.reason
        # Kernels prefix their reasons with the argument ("size: ...") for direct callers;
        # when the place already names that port or attr, say it once.
        for name in (self.port, self.attr):
            if name and reason.startswith(f"{name}: "):
                reason = reason[len(name) + 2 :]
                break
        return f"{place}: {reason}"

    def __reduce__(self) -> tuple[object, ...]:
        # Keep the place fields when an error crosses a process or thread boundary.
        return (_rebuild, (type(self), self.reason, self.__dict__.copy()))


def _rebuild(
    cls: type[TensorBlocksError], reason: str, state: dict[str, object]
) -> TensorBlocksError:
    error = cls.__new__(cls)
    ValueError.__init__(error, reason)
    error.__dict__.update(state)
    return error


class InvalidArgumentError(TensorBlocksError):
    """A kernel argument is wrong (TensorFlow's InvalidArgumentError)."""


class MemoryLimitError(InvalidArgumentError):
    """An output would be larger than the memory limit; nothing was allocated."""


class AttrsError(TensorBlocksError):
    """An attrs string does not parse or does not fit the block's declaration."""


class LiteralError(TensorBlocksError):
    """A port literal does not parse or does not fit the port."""


class BlockFileError(TensorBlocksError):
    """A data file named by an Input block cannot be read."""


class GraphError(TensorBlocksError):
    """A graph operation or a graph as a whole is invalid."""


class GraphFileError(GraphError):
    """A graph file cannot be read or written."""


def more_problems(problems: list[TensorBlocksError]) -> str:
    """``" (and 1 more: node 'b': why)"`` — what follows the first of ``problems`` in a one-line
    message: the second problem itself, and how many there are after it."""
    if len(problems) < 2:
        return ""
    second = problems[1]
    where = (
        f"node '{second.node}': " if second.node
        else f"{second.location}: " if second.location else ""
    )
    count = len(problems) - 1
    return f" (and {count} more: {where}{second.reason}" + ("; ...)" if count > 1 else ")")


class ValidationError(GraphError):
    """A graph has one or more problems; ``problems`` lists them all."""

    def __init__(self, problems: list[TensorBlocksError], *, file: str | None = None) -> None:
        first = problems[0] if problems else None
        reason = (first.reason if first else "invalid graph") + more_problems(problems)
        super().__init__(
            reason,
            file=file,
            node=first.node if first else None,
            block=first.block if first else None,
            port=first.port if first else None,
            attr=first.attr if first else None,
            location=first.location if first else None,
        )
        self.problems = problems


class CancelledError(TensorBlocksError):
    """A run was cancelled by the user."""


class NodeFailedError(TensorBlocksError):
    """A node did not run because a node it depends on failed."""
