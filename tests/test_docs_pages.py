"""The documentation's generators (docs/scripts): the README split into pages, links pointed
at the site, reStructuredText habits of the docstrings turned into Markdown, the module list
walked from the packages. (`mkdocs build --strict` in .ci/run builds the whole site.)"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "docs" / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # defines functions only: the pages are written by main()
    return module


gen = load("gen_pages")
rst = load("griffe_rst")


def test_links_point_at_the_site_or_become_text():
    text = (
        "![p](docs/playground.png) see [BENCHMARKS.md](BENCHMARKS.md#cnn), "
        "[Optuna](https://optuna.org), [`examples/sweep-lr.toml`](examples/sweep-lr.toml), "
        "[the tests](tests/), [up](#top)"
    )
    assert gen.rewrite_links(text, 1) == (
        "![p](../playground.png) see [BENCHMARKS.md](../benchmarks.md#cnn), "
        "[Optuna](https://optuna.org), `examples/sweep-lr.toml`, `the tests`, [up](#top)"
    )
    assert (
        gen.rewrite_links("[r](README.md) ![f](docs/a/b.png)", 0) == "[r](index.md) ![f](a/b.png)"
    )


def test_readme_is_split_at_second_level_headings_outside_code():
    text = "# vedere\nintro\n```bash\n## not a heading\n```\n## One\nbody 1\n### Sub\n## Two: `x`\n"
    intro, parts = gen.sections(text)
    assert intro == "# vedere\nintro\n```bash\n## not a heading\n```"
    assert [t for t, _ in parts] == ["One", "Two: `x`"]
    assert gen.promote(parts[0][1]) == "body 1\n## Sub"
    assert gen.promote("```\n### kept\n```") == "```\n### kept\n```"
    assert gen.slug("Finding faces: Viola–Jones, `vedere.detect`") == "finding-faces"
    assert gen.slug("The engine, `vedere.nn`") == "the-engine"


def test_every_readme_section_gets_a_distinct_page():
    _, parts = gen.sections((ROOT / "README.md").read_text(encoding="utf-8"))
    titles = [t for t, _ in parts]
    assert "Python API" in titles and len(titles) >= 8
    assert len({gen.slug(t) for t in titles}) == len(titles)


def test_modules_are_found_by_walking_the_packages():
    modules = gen.public_modules("vedere.nn")
    assert "vedere.nn.conv" in modules and "vedere.nn.optim" in modules
    assert not [m for m in modules if any(p.startswith("_") for p in m.split("."))]
    assert gen.canonical(np.mean) == "numpy.mean"
    import vedere.nn

    assert gen.canonical(vedere.nn.Conv2d) == "vedere.nn.conv.Conv2d"


def test_roles_literal_markers_and_lists_become_markdown():
    text = (
        "Uses :class:`~vedere.nn.Sequential` and :func:`mlp`; reads like this::\n\n"
        "    y = f(x)\n\nItems:\n- one\n- two"
    )
    assert rst.to_markdown(text) == (
        "Uses `Sequential` and `mlp`; reads like this:\n\n    y = f(x)\n\nItems:\n\n- one\n- two"
    )


def test_a_simple_rst_table_becomes_a_markdown_table():
    text = (
        "Schemes:\n\n"
        "=====  ==========  =====\n"
        "name   W ~         why\n"
        "=====  ==========  =====\n"
        "zeros  0           symmetry\n"
        "he     N(0, 1) ·   ReLU zeroes\n"
        "       √(2/n)      half\n"
        "=====  ==========  =====\n"
        "after"
    )
    assert rst.to_markdown(text).splitlines() == [
        "Schemes:",
        "",
        "",
        "| name | W ~ | why |",
        "|---|---|---|",
        "| zeros | 0 | symmetry |",
        "| he | N(0, 1) · √(2/n) | ReLU zeroes half |",
        "",
        "after",
    ]


def test_the_engine_docstrings_tables_convert_whole():
    import vedere.nn.init

    md = rst.to_markdown(vedere.nn.init.__doc__)
    assert "| name | W_ij ~ | why |" in md
    assert (
        "| he | N(0, 1) · sqrt(2 / n_in) | calibrated for ReLU, which zeroes half the inputs |"
        in md
    )
    assert "=====" not in md
