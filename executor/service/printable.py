"""Stored strings on a terminal: names, errors, log lines and data are untrusted, and an escape
sequence inside one must show, never act (clear the screen, retitle the window, fake a line).

Used by the console's widgets, the command line's human output and the headless runner (here, in
service/, because the console may import only public names and service/); plain ``str`` work.
"""

from __future__ import annotations

# Control characters become visible stand-ins of the same length (so Text spans stay valid): an
# escape sequence in a stored name, error or log line must show, never act on the terminal.
_C0 = {code: chr(0x2400 + code) for code in range(0x20)}
_PICTURES = {**_C0, 0x7F: "\u2421", **{code: "\ufffd" for code in range(0x80, 0xA0)}}
_MULTILINE = {code: char for code, char in _PICTURES.items() if chr(code) not in "\n\t"}


def printable(text: str, *, multiline: bool = False) -> str:
    """``text`` with every control character shown as a symbol (newlines and tabs kept if
    ``multiline``). Everything stored is untrusted: names, errors, what functions log."""
    return text.translate(_MULTILINE if multiline else _PICTURES)
