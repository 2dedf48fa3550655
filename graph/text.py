"""Text from files made safe to show: the one place that escapes it for a terminal or a log.

:func:`safe_text` returns ``text`` with every character that could act on a terminal or
break a one-line message written as a visible escape: C0 controls (ESC, BEL, newline,
tab, NUL...), DEL, C1 controls (``\\x80``-``\\x9f``, e.g. CSI), Unicode bidirectional
overrides and isolates (which reorder what a reader sees), and lone surrogates (which
cannot be encoded, so printing them raised UnicodeEncodeError). Everything else — accents,
CJK, emoji — is kept. The result always encodes as UTF-8. Every message the command line
prints goes through it; the editor shows such text as plain text (never rich text).

:func:`as_plain_html` is for the places Qt always reads as rich text when the text looks
like HTML (tool tips, item tool tips): the text escaped so it shows literally.
"""

from __future__ import annotations

import html
import re

# C0, DEL, C1; bidi embeddings/overrides/isolates and marks; lone surrogates.
_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def safe_text(text: object) -> str:
    """``str(text)`` with control characters, bidi controls and lone surrogates escaped."""
    value = text if isinstance(text, str) else str(text)
    if value.isprintable():  # no Cc, Cf (bidi), Cs (surrogates): nothing to escape
        return value
    return _UNSAFE.sub(_escape, value)


def html_text(text: object) -> str:
    """``text`` escaped for inclusion in rich text: shown literally, controls escaped."""
    return html.escape(safe_text(text), quote=False)


def as_plain_html(text: object) -> str:
    """``text`` as HTML that shows it literally (each line escaped by :func:`html_text`,
    line breaks kept): for Qt tool tips, which render anything looking like HTML."""
    value = text if isinstance(text, str) else str(text)
    lines = "<br>".join(map(html_text, value.split("\n")))
    return f"<p style='white-space:pre-wrap'>{lines}</p>"
