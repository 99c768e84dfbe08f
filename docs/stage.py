"""Stage the documentation site: copy docs/ into OUT with every lesson executed.

Each lesson is a jupytext percent-format script, docs/lessons/NN-name.py. Staging reads it as a
notebook, executes it in a fresh Python kernel with the working directory WORK (shared by the
lessons, so a later lesson may reuse a model an earlier one trained), and writes the notebook
with its outputs as OUT/lessons/NN-name.ipynb, which mkdocs-jupyter renders. A lesson that
raises (its checks are asserts) stops the staging. benchmarks/RESULTS.md is copied beside the
pages as results.md, with the images it shows.

    python docs/stage.py build/docs            # then: mkdocs build --strict
    python docs/stage.py build/docs --quick    # the small settings the test suite runs

``--quick`` sets RNNLAB_QUICK=1 in the kernels: the lessons train for less time there.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import jupytext
import nbformat
from jupyter_client import KernelManager
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
LESSONS = DOCS / "lessons"
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
#: longest one cell of a lesson may run (the lessons aim for 90 s in all at full size)
TIMEOUT = 300


def lessons() -> list[Path]:
    """The lesson scripts, in course order."""
    return sorted(LESSONS.glob("[0-9][0-9]-*.py"))


def execute(lesson: Path, work: Path, quick: bool = False) -> nbformat.NotebookNode:
    """Run ``lesson`` as a notebook in a fresh kernel whose working directory is ``work``;
    return the notebook with its outputs. A cell that raises raises here."""
    notebook = jupytext.read(lesson)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    work.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}  # the kernel's inline one
    env["RNNLAB_QUICK"] = "1" if quick else "0"
    with tempfile.TemporaryDirectory() as sockets:  # Unix sockets to the kernel, not TCP
        kernel = KernelManager(kernel_name="python3", transport="ipc", ip=f"{sockets}/kernel")
        client = NotebookClient(
            notebook, km=kernel, timeout=TIMEOUT, resources={"metadata": {"path": str(work)}}
        )
        try:
            client.execute(env=env)
        finally:  # a kernel given to the client is the caller's to stop
            if kernel.has_kernel:
                kernel.shutdown_kernel(now=True)
    return notebook


def copy_results(out: Path) -> None:
    """benchmarks/RESULTS.md as results.md, with the images it links, at the same paths."""
    text = RESULTS.read_text()
    for image in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text):
        target = out / image
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(RESULTS.parent / image, target)
    (out / "results.md").write_text(text)


def stage(
    out: Path,
    work: Path,
    quick: bool = False,
    only: list[str] | None = None,
    echo=print,
) -> dict[str, float]:
    """Copy docs/ into ``out`` and execute the lessons (those named in ``only``, if given) into
    it; return each lesson's seconds. ``out`` is replaced: it may not hold the sources."""
    where = out.resolve()
    if where.is_relative_to(DOCS) or DOCS.is_relative_to(where):
        raise ValueError(f"{out} holds or is inside docs/: stage into another folder (build/docs)")
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(DOCS, out, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    copy_results(out)
    seconds = {}
    for lesson in lessons():
        if only is not None and lesson.stem not in only:
            continue
        start = time.perf_counter()
        notebook = execute(lesson, work, quick)
        seconds[lesson.stem] = time.perf_counter() - start
        nbformat.write(notebook, out / "lessons" / f"{lesson.stem}.ipynb")
        echo(f"{lesson.stem}: {seconds[lesson.stem]:.1f} s")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="the folder to stage the site's pages in")
    parser.add_argument("--work", type=Path, help="the lessons' working folder (OUT/../lessons)")
    parser.add_argument("--quick", action="store_true", help="the test suite's small settings")
    parser.add_argument("--only", nargs="+", help="execute only these lessons (NN-name)")
    args = parser.parse_args()
    try:
        stage(args.out, args.work or args.out.parent / "lessons", args.quick, args.only)
    except ValueError as error:
        print(f"stage.py: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
