"""Text from files (paths, class names, trial settings) made safe to print on one terminal line:
the one escaping function for every name vedere prints (command output, error lines, progress-bar
labels), so that a name can neither forge an output line nor send escape sequences (ESC, OSC)
to the terminal."""

from __future__ import annotations


def printable(text: str) -> str:
    """``text`` with every character that is not printable (newline, carriage return, tab,
    escape sequences, other control and format characters, lone surrogates from undecodable
    file names) and the backslash itself written as Python's repr writes them (``\\n``,
    ``\\x1b``, ``\\u200b``, ``\\\\``), so that a name can neither fake an output line nor
    drive the terminal; printable text, including non-ASCII letters, is kept as it is."""
    out = []
    for ch in text:
        if ch == "\\":
            out.append("\\\\")
        elif ch.isprintable():
            out.append(ch)
        else:
            out.append(repr(ch)[1:-1])
    return "".join(out)
