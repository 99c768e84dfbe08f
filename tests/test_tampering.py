"""Property test: no tampered checkpoint gives a traceback or takes more than MEMORY_BOUND.

``tampering.py`` runs in a subprocess, so that its peak memory is its own (measured there, see
``tampering.peak_memory``). Hypothesis mutates the config, the weights file's safetensors header
and the trainer state of a saved language model, EXAMPLES times each. Every ``generate`` and
``train --resume`` on the result must load correctly or refuse in one line with exit status 2
(see ``tampering.py``).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

EXAMPLES = 150
MEMORY_BOUND = 2**30  # bytes: the Python process with torch loaded takes about a third of it


def test_tampered_checkpoints_load_or_are_refused_in_one_line_within_the_memory_bound():
    script = Path(__file__).with_name("tampering.py")
    done = subprocess.run(
        [sys.executable, str(script), str(EXAMPLES)], capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    outcomes = summary["outcomes"]
    for file in ("config", "weights", "state"):  # both ways out are exercised for each file
        assert outcomes.get(f"{file} loaded", 0) > 0 and outcomes.get(f"{file} refused", 0) > 0
    assert summary["peak_bytes"] < MEMORY_BOUND, summary
