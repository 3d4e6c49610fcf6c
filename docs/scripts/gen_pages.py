"""Generate the site's pages at build time (mkdocs-gen-files runs this script).

Nothing here is committed as Markdown: the pages are derived from what they document, so a
module that is added, moved or renamed shows up (or disappears) in the reference by itself.

- ``index.md`` and ``guide/*.md``: README.md, its introduction and one page per ``##`` section;
- ``benchmarks.md``, ``security.md``: BENCHMARKS.md and SECURITY.md;
- ``notebooks/*.ipynb``: the course's notebooks (mkdocs-jupyter renders them);
- ``reference/…``: one page per public module of vedere.nn, classify, detect and data, found
  by walking the packages, plus a page per package listing its exported names;
- ``cli.md``: the command-line reference, generated from the click commands (mkdocs-click);
- ``SUMMARY.md``: the navigation (mkdocs-literate-nav).
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("vedere.nn", "vedere.classify", "vedere.detect", "vedere.data")
NOTEBOOKS = ROOT / "src" / "vedere" / "notebooks"
LINK = re.compile(r"(!?)\[([^\]]*)\]\(([^)\s]+)\)")
FENCE = re.compile(r"^\s*(```|~~~)")


def slug(title: str) -> str:
    """A file name for a section title: ``Finding faces: Viola–Jones`` → ``finding-faces``."""
    words = re.sub(r"`[^`]*`", "", title.split(":")[0]).lower()
    return re.sub(r"[^a-z0-9]+", "-", words).strip("-") or "section"


def rewrite_links(text: str, depth: int) -> str:
    """Point the repository-relative links of README/BENCHMARKS/SECURITY at the site: images
    under docs/ and the other pages; a link to a file the site does not have becomes its text
    (``depth``: how many folders below the docs root the page lies)."""
    up = "../" * depth
    pages = {
        "README.md": "index.md",
        "BENCHMARKS.md": "benchmarks.md",
        "SECURITY.md": "security.md",
    }

    def fix(m: re.Match[str]) -> str:
        bang, label, url = m.groups()
        if re.match(r"^[a-z]+:", url) or url.startswith("#"):
            return m.group(0)
        path, _, anchor = url.partition("#")
        anchor = f"#{anchor}" if anchor else ""
        if path in pages:
            return f"{bang}[{label}]({up}{pages[path]}{anchor})"
        if path.startswith("docs/"):
            return f"{bang}[{label}]({up}{path[len('docs/') :]}{anchor})"
        return label if label.startswith("`") else f"`{label}`"

    return LINK.sub(fix, text)


def sections(markdown: str) -> tuple[str, list[tuple[str, str]]]:
    """Split at ``## `` headings outside code fences: (the introduction, [(title, body)])."""
    intro: list[str] = []
    parts: list[tuple[str, list[str]]] = []
    fenced = False
    for line in markdown.splitlines():
        if FENCE.match(line):
            fenced = not fenced
        if not fenced and line.startswith("## "):
            parts.append((line[3:].strip(), []))
            continue
        (parts[-1][1] if parts else intro).append(line)
    return "\n".join(intro), [(t, "\n".join(body)) for t, body in parts]


def promote(body: str) -> str:
    """Headings one level up (``###`` → ``##``) outside code fences."""
    out, fenced = [], False
    for line in body.splitlines():
        if FENCE.match(line):
            fenced = not fenced
        out.append(line[1:] if not fenced and line.startswith("###") else line)
    return "\n".join(out)


def write(path: str, text: str) -> None:
    """Write a generated page (into the build, never into the checkout)."""
    import mkdocs_gen_files

    with mkdocs_gen_files.open(path, "w") as f:
        f.write(text)
    mkdocs_gen_files.set_edit_path(path, None)


def public_modules(package: str) -> list[str]:
    """Every module under ``package`` (recursively) with no ``_``-prefixed part, sorted."""
    pkg = importlib.import_module(package)
    return sorted(
        info.name
        for info in pkgutil.walk_packages(pkg.__path__, prefix=f"{package}.")
        if not any(p.startswith("_") for p in info.name.split("."))
    )


def canonical(obj: object) -> str | None:
    """The dotted path where ``obj`` is defined (what its reference entry is named)."""
    if inspect.ismodule(obj):
        return obj.__name__
    module, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
    return f"{module}.{qualname}" if module and qualname else None


def package_page(package: str, modules: list[str]) -> str:
    """The package's docstring, then its exported names (``__all__``), each linked to the
    page of the module that defines it, then its modules."""
    pkg = importlib.import_module(package)
    documented = set(modules)
    lines = [
        f"# `{package}`",
        "",
        f"::: {package}",
        "    options:",
        "      members: false",
        "      show_root_heading: false",
        "",
    ]
    exported = getattr(pkg, "__all__", None)
    if exported:
        lines += ["## Exported names", "", "| name | defined in |", "|---|---|"]
        for name in exported:
            target = canonical(getattr(pkg, name))
            owner = target if inspect.ismodule(getattr(pkg, name)) else target.rsplit(".", 1)[0]
            while owner and owner not in documented and "." in owner:
                owner = owner.rsplit(".", 1)[0]  # a nested class: its module
            if target and owner in documented:
                lines.append(f"| [`{name}`][{target}] | `{owner}` |")
            else:
                lines.append(f"| `{name}` | |")
        lines.append("")
    lines += ["## Modules", ""]
    for m in modules:
        mod = importlib.import_module(m)
        first = (inspect.getdoc(mod) or "").strip().split("\n\n")[0].replace("\n", " ")
        lines.append(f"- [`{m}`][{m}] — {first}")
    return "\n".join(lines) + "\n"


def main() -> None:
    """Generate every page and the navigation."""
    import mkdocs_gen_files

    nav = ["* [Home](index.md)"]

    # README: the introduction is the home page, every ## section a page of the guide
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    intro, parts = sections(readme)
    write(
        "index.md",
        rewrite_links(intro, 0) + "\n\n## On this site\n\n"
        "- **Guide**: the README's sections, one page each.\n"
        "- **Notebooks**: the course, part by part, executed "
        "(`vedere notebooks DIR` copies them).\n"
        "- **API reference**: every public module of `vedere.nn`, `vedere.classify`, "
        "`vedere.detect` and `vedere.data`, from the docstrings.\n"
        "- **Command line**: every `vedere` command and option.\n",
    )
    nav.append("* Guide")
    seen: set[str] = set()
    for title, body in parts:
        name = slug(title)
        while name in seen:
            name += "-2"
        seen.add(name)
        write(f"guide/{name}.md", f"# {title}\n" + rewrite_links(promote(body), 1))
        nav.append(f"    * [{title.replace('`', '')}](guide/{name}.md)")

    # the notebooks, in the course's order
    nav.append("* Notebooks")
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        with mkdocs_gen_files.open(f"notebooks/{path.name}", "wb") as f:
            f.write(path.read_bytes())
        title = path.stem.split("-", 1)[1].replace("-", " ").capitalize()
        nav.append(f"    * [{path.stem[:2]} · {title}](notebooks/{path.name})")

    # the API reference, generated from the packages as they are now
    nav.append("* API reference")
    for package in PACKAGES:
        modules = public_modules(package)
        base = "reference/" + package.replace(".", "/")
        write(f"{base}/index.md", package_page(package, modules))
        nav.append(f"    * [{package}]({base}/index.md)")
        for m in modules:
            page = "reference/" + m.replace(".", "/") + ".md"
            write(page, f"::: {m}\n")
            nav.append(f"        * [{m.rsplit('.', 1)[1]}]({page})")

    # the command line, from the click group itself
    write(
        "cli.md",
        "# Command line\n\nEvery command of `vedere` (also `python -m vedere`), with its options "
        "and defaults, generated from the commands themselves.\n\n"
        "::: mkdocs-click\n    :module: vedere.cli.main\n    :command: cli\n"
        "    :prog_name: vedere\n    :depth: 1\n    :style: table\n    :list_subcommands: true\n",
    )
    nav.append("* [Command line](cli.md)")

    for name, title in (("BENCHMARKS.md", "Benchmarks"), ("SECURITY.md", "Security")):
        text = (ROOT / name).read_text(encoding="utf-8")
        write(name.lower(), rewrite_links(text, 0))
        nav.append(f"* [{title}]({name.lower()})")
    # the experiments' full-run reports, committed under docs/ by `vedere experiment`
    nav.append("* Experiments")
    nav.append("    * [All experiments](experiments.md)")
    for report in sorted((ROOT / "docs" / "experiments").glob("*/report.md")):
        nav.append(f"    * [{report.parent.name}](experiments/{report.parent.name}/report.md)")
    if (ROOT / "docs" / "sweep-real" / "report.md").exists():
        nav.append("    * [sweep on CIFAR-10](sweep-real/report.md)")

    write("SUMMARY.md", "\n".join(nav) + "\n")


if __name__ in ("__main__", "<run_path>"):  # mkdocs-gen-files runs this file by path
    main()
