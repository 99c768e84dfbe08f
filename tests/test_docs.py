"""The README and the documentation pages show code that runs as written.

Every ```python block of the README and of docs/ runs here (each page's blocks in order, in one
namespace), and every `rnnlab` command line of a ```sh block is one the command line accepts.
The lessons run in test_lessons.py.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from rnnlab.cli import build_parser, with_default_action

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").rglob("*.md"))]


def blocks(path: Path, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", path.read_text(), re.S)


def run_blocks(path: Path) -> dict:
    namespace: dict = {}
    for block in blocks(path, "python"):
        exec(compile(block, str(path), "exec"), namespace)
    return namespace


def test_the_readme_is_the_first_screen_and_its_links_resolve():
    text = README.read_text()
    assert len(text.splitlines()) < 150
    assert "make demo" in text and "make test" in text
    for target in re.findall(r"\]\(([^)#]+)\)", text):
        if not target.startswith("http"):
            assert (ROOT / target).exists(), f"the README links to {target}, which is missing"


def test_the_readme_layer_example_runs():
    assert len(blocks(README, "python")) == 1  # the drop-in layers, also shown on the site
    namespace = run_blocks(README)
    assert namespace["output"].shape == (3, 10, 128)
    assert bool((namespace["output"][1, 4:] == 0).all())
    assert namespace["h"].shape == (3, 64)


def test_the_library_guide_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the examples write checkpoints under runs/
    namespace = run_blocks(ROOT / "docs" / "guide" / "library.md")
    assert isinstance(namespace["sample"], str) and len(namespace["sample"]) == 200
    assert (tmp_path / "runs" / "tiny" / "model.safetensors").is_file()
    assert [label for label, _ in namespace["predictions"]] == ["exception", "other"]
    assert (tmp_path / "runs" / "builtins" / "confusion.png").is_file()


def test_every_python_block_of_the_docs_is_run_here():
    shown = {page.relative_to(ROOT).as_posix() for page in PAGES if blocks(page, "python")}
    assert shown == {"README.md", "docs/guide/library.md"}


def command_lines() -> list[tuple[str, str]]:
    """(page, line) for every `rnnlab` command of the pages' shell blocks, continuation lines
    joined and comments dropped."""
    found = []
    for page in PAGES:
        for block in blocks(page, "sh"):
            for line in block.replace("\\\n", " ").splitlines():
                words = shlex.split(line, comments=True)
                launched = words[:1] == ["torchrun"] and "rnnlab" in words
                if words[:1] == ["rnnlab"] or words[:3] == ["python", "-m", "rnnlab"] or launched:
                    found.append((page.relative_to(ROOT).as_posix(), line.strip()))
    return found


COMMANDS = command_lines()


def test_the_pages_show_the_commands():
    assert len(COMMANDS) > 40
    assert {page for page, _ in COMMANDS} >= {"README.md", "docs/guide/language-model.md"}


@pytest.mark.parametrize(("page", "line"), COMMANDS, ids=[f"{p}: {c}" for p, c in COMMANDS])
def test_every_command_the_pages_show_is_accepted(page, line):
    words = shlex.split(line, comments=True)
    argv = words[words.index("rnnlab") + 1 :]
    try:
        build_parser().parse_args(with_default_action(argv))
    except SystemExit as refused:
        pytest.fail(f"{page}: `{line}` is refused (exit status {refused.code})")
