"""``vedere notebooks DIR``: copies the shipped notebooks, refuses to overwrite without --force."""

from __future__ import annotations

from click.testing import CliRunner

from vedere.cli.main import cli
from vedere.course_notebooks import FILES, NOTEBOOKS, notebook_files


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def test_copies_every_notebook_byte_for_byte_into_a_new_folder(tmp_path):
    dest = tmp_path / "nested" / "course"
    result = run("notebooks", str(dest))
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in dest.iterdir()) == sorted(FILES)
    for name, data in notebook_files():
        assert (dest / name).read_bytes() == data
    assert f"copied {len(NOTEBOOKS)} notebooks" in result.output


def test_refuses_to_overwrite_and_changes_nothing(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / NOTEBOOKS[3]).write_text("my edits")
    result = run("notebooks", str(tmp_path))
    assert result.exit_code == 1
    assert NOTEBOOKS[3] in result.output and "--force" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert (tmp_path / NOTEBOOKS[3]).read_text() == "my edits"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["notes.txt", NOTEBOOKS[3]])


def test_force_replaces_the_copies_and_keeps_other_files(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / NOTEBOOKS[0]).write_text("my edits")
    result = run("notebooks", str(tmp_path), "--force")
    assert result.exit_code == 0, result.output
    assert (tmp_path / NOTEBOOKS[0]).read_bytes() == dict(notebook_files())[NOTEBOOKS[0]]
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_a_file_in_the_way_is_one_error_line(tmp_path):
    target = tmp_path / "course"
    target.write_text("not a folder")
    result = run("notebooks", str(target))
    assert result.exit_code == 1
    assert result.output.strip() == f"error: {target}: exists and is not a folder"
