"""The lessons run, and the documentation site builds from them.

Every lesson in docs/lessons is executed as a notebook (docs/stage.py, the code `make docs`
runs), on the small settings of RNNLAB_QUICK=1: a lesson's claims are asserts in its own cells,
so a lesson whose claim stops holding fails here. Then the site is built from the executed
lessons with `mkdocs build --strict` (no broken link, no missing reference), and chromium opens
it: every lesson page shows its plots, loaded.
"""

from __future__ import annotations

import base64
import importlib.util
import re
from pathlib import Path

import pytest

from conftest import SHARED_DATA, live

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("stage", ROOT / "docs" / "stage.py")
stage = importlib.util.module_from_spec(spec)
spec.loader.exec_module(stage)

LESSONS = [path.stem for path in stage.lessons()]
#: the shared data sets each lesson reads, as its code names them (it is skipped without them)
NEEDS = {
    path.stem: re.findall(r'SHARED_DATA / "([^"]+)"', path.read_text()) for path in stage.lessons()
}
#: the executed notebooks of this session, by lesson
EXECUTED: dict = {}


def missing_data(lesson: str) -> list[str]:
    return [name for name in NEEDS.get(lesson, []) if not (SHARED_DATA / name).is_file()]


@pytest.fixture(scope="session")
def work(tmp_path_factory) -> Path:
    """The lessons' shared working folder (a later lesson reuses an earlier one's model)."""
    return tmp_path_factory.mktemp("lessons")


def executed(lesson: str, work: Path):
    if lesson not in EXECUTED:
        EXECUTED[lesson] = stage.execute(stage.LESSONS / f"{lesson}.py", work, quick=True)
    return EXECUTED[lesson]


def images(notebook) -> list[bytes]:
    """The PNG images among a notebook's outputs."""
    return [
        base64.b64decode(output["data"]["image/png"])
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if "image/png" in output.get("data", {})
    ]


def test_the_course_is_in_order_and_each_lesson_ends_with_an_exercise():
    assert sorted(LESSONS) == LESSONS and len(LESSONS) >= 12
    assert NEEDS["10-sentiment"] == ["rt-polarity.pos", "rt-polarity.neg"]  # the data is seen
    numbers = [int(name[:2]) for name in LESSONS]
    assert numbers == list(range(1, len(LESSONS) + 1))
    for lesson in stage.lessons():
        text = lesson.read_text()
        assert "## Exercise" in text, f"{lesson.name} ends without an exercise"
        cells = stage.jupytext.read(lesson).cells
        assert cells[0].cell_type == "markdown" and cells[0].source.startswith(
            f"# {int(lesson.name[:2])}. "
        )
        assert all(cell.source.strip() for cell in cells), f"{lesson.name} has an empty cell"
        private = re.findall(r"^\s*(?:from|import) rnnlab\S*\._\w+|rnnlab\.\S*\._\w+", text, re.M)
        assert private == [], f"{lesson.name} uses private names: {private}"


@pytest.mark.parametrize("out", [".", "docs", "docs/lessons/staged"])
def test_staging_never_replaces_the_sources(out, tmp_path):
    before = sorted(p.name for p in stage.LESSONS.iterdir())
    with pytest.raises(ValueError, match="inside docs/"):
        stage.stage(ROOT / out, tmp_path, only=[])
    assert sorted(p.name for p in stage.LESSONS.iterdir()) == before


@pytest.mark.parametrize("lesson", LESSONS)
def test_lesson_runs_and_its_claims_hold(lesson, work):
    if missing := missing_data(lesson):
        pytest.skip(f"the shared data {missing} is not in {SHARED_DATA}")
    notebook = executed(lesson, work)  # raises, naming the cell, where a cell fails
    outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o["output_type"] == "error"]
    assert outputs, f"{lesson} shows no output"
    for png in images(notebook):
        assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_site_builds_strictly_and_every_lesson_page_shows_its_plots(
    work, tmp_path, monkeypatch
):
    """`mkdocs build --strict` of the staged pages, then the lesson pages in chromium. A lesson
    whose shared data is missing goes in unexecuted, so the site is checked all the same."""
    from mkdocs.commands.build import build
    from mkdocs.config import load_config

    docs, site = tmp_path / "docs", tmp_path / "site"
    stage.stage(docs, work, quick=True, only=[], echo=lambda line: None)
    plots = {}
    for lesson in LESSONS:
        if missing_data(lesson):
            notebook = stage.jupytext.read(stage.LESSONS / f"{lesson}.py")
        else:
            notebook = executed(lesson, work)
        stage.nbformat.write(notebook, docs / "lessons" / f"{lesson}.ipynb")
        plots[lesson] = len(images(notebook))
    monkeypatch.chdir(ROOT)  # mkdocs.yml names docs/roles.py from the checkout
    config = load_config(str(ROOT / "mkdocs.yml"), docs_dir=str(docs), site_dir=str(site))
    assert config["strict"], "mkdocs.yml builds strictly: a warning is an error"
    build(config)  # raises on a broken link or a missing reference
    for page in ("index.html", "reference/core/index.html", "guide/language-model/index.html"):
        assert (site / page).is_file()
    reference = (site / "reference" / "core" / "index.html").read_text()
    assert "rnnlab.cells.LSTMCell" in reference
    assert ":class:`" not in reference and ":mod:`" not in reference  # docs/roles.py
    executed_lessons = [lesson for lesson in LESSONS if not missing_data(lesson)]
    assert all(plots[lesson] for lesson in executed_lessons), plots

    sync_api = pytest.importorskip("playwright.sync_api")
    from starlette.applications import Starlette
    from starlette.staticfiles import StaticFiles

    from conftest import require_chromium
    from rnnlab.explore.chromium import CHROMIUM, FLAGS

    require_chromium()
    app = Starlette()
    app.mount("/", StaticFiles(directory=site, html=True))
    with live(app) as url, sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=list(FLAGS))
        page = browser.new_page()
        page.route(
            "**/*",
            lambda route: route.continue_() if route.request.url.startswith(url) else route.abort(),
        )
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        for lesson in LESSONS:
            page.goto(f"{url}/lessons/{lesson}/")
            page.wait_for_load_state("load")
            title = page.title()
            assert title.endswith("rnnlab") and len(title) > len(" - rnnlab"), title
            shown = page.eval_on_selector_all(
                "img[src^='data:image/png']",
                "images => images.map(i => i.complete && i.naturalWidth > 0)",
            )
            assert len(shown) == plots[lesson] and all(shown), (lesson, shown, plots[lesson])
        browser.close()
    assert errors == [], errors
