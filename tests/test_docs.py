"""The README's code runs as written."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_examples_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the examples write checkpoints under runs/
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert len(blocks) == 3, "the README shows the language model, the classifier, the layers"
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)
    assert isinstance(namespace["sample"], str) and len(namespace["sample"]) == 200
    assert (tmp_path / "runs" / "tiny" / "model.safetensors").is_file()
    assert [label for label, _ in namespace["predictions"]] == ["exception", "other"]
    assert (tmp_path / "runs" / "builtins" / "confusion.png").is_file()
    assert namespace["output"].shape == (3, 10, 128)
    assert bool((namespace["output"][1, 4:] == 0).all())
