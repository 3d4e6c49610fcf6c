"""A griffe extension: vedere's docstrings are written in reStructuredText habits (roles such
as ``:class:`Module```, ``::`` before literal blocks, simple tables framed by ``===``, lists
right after a line of text); mkdocstrings renders Markdown. This rewrites those habits into
Markdown before rendering, leaving the docstrings themselves as they are."""

from __future__ import annotations

import re
from typing import Any

try:
    import griffe
except ImportError:  # without the docs extra: to_markdown still works (the tests use it)
    griffe = None

ROLE = re.compile(r":(?:class|func|meth|mod|data|attr|obj|exc|const):`(~?)([^`]+)`")
BORDER = re.compile(r"^(\s*)(=+)(\s+=+)+\s*$")
BULLET = re.compile(r"^\s*(?:[-*+]|\d+\.)\s")


def _role(m: re.Match[str]) -> str:
    tilde, target = m.groups()
    return f"`{target.rsplit('.', 1)[-1] if tilde else target}`"


def _table(block: list[str], border: str) -> list[str]:
    """A simple rST table (lines between and including its ``===`` borders) as Markdown."""
    spans = [(m.start(), m.end()) for m in re.finditer(r"=+", border)]

    def cells(line: str) -> list[str]:
        out = []
        for i, (a, _) in enumerate(spans):
            b = spans[i + 1][0] if i + 1 < len(spans) else len(line)
            out.append(line[a:b].strip())
        return out

    rows: list[list[str]] = []
    body = [ln for ln in block if not BORDER.match(ln)]
    for line in body:
        if not line.strip():
            continue
        c = cells(line)
        if rows and not c[0]:  # a continuation line: its text joins the row above
            rows[-1] = [f"{a} {b}".strip() for a, b in zip(rows[-1], c, strict=True)]
        else:
            rows.append(c)
    if not rows:
        return block
    md = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    md += ["| " + " | ".join(r).replace("``", "`") + " |" for r in rows[1:]]
    return ["", *md, ""]


def to_markdown(text: str) -> str:
    """The docstring ``text`` with its reStructuredText habits turned into Markdown."""
    text = ROLE.sub(_role, text)
    lines = text.splitlines()
    out: list[str] = []
    i = 0
    in_code = False
    while i < len(lines):
        line = lines[i]
        if line.strip().startswith("```"):
            in_code = not in_code
        m = BORDER.match(line)
        if m and not in_code:
            # a table: border, header, border, rows…, border
            borders = [i]
            j = i + 1
            while j < len(lines) and len(borders) < 3:
                if BORDER.match(lines[j]):
                    borders.append(j)
                j += 1
            if len(borders) == 3:
                out += _table(lines[i : borders[2] + 1], line)
                i = borders[2] + 1
                continue
        if line.rstrip().endswith("::") and not in_code:
            line = line.rstrip()[:-1]  # "reads like the course::" → "…course:"
            if line.strip() == ":":
                line = ""
        if (
            BULLET.match(line)
            and out
            and out[-1].strip()
            and not BULLET.match(out[-1])
            and not out[-1].startswith(" ")
            and not in_code
        ):
            out.append("")  # Markdown needs a blank line before a list
        out.append(line)
        i += 1
    return "\n".join(out)


if griffe is not None:

    class RstToMarkdown(griffe.Extension):
        """Rewrite every docstring as it is loaded (see the module docstring)."""

        def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
            """Rewrite ``obj``'s docstring in place."""
            if obj.docstring is not None:
                obj.docstring.value = to_markdown(obj.docstring.value)
