"""Run ``rnnlab ARGS...`` and kill this process (SIGKILL) inside its N-th file write into the
``--out`` directory: after the temporary file is written and synced, before the rename that
would put it in place (writes elsewhere, such as the token cache's, are not counted).

Usage: ``python killed_writer.py N ARGS...``. The crash-safety test runs it to land kills inside
writes for certain, with no pause or hook in rnnlab itself."""

from __future__ import annotations

import os
import signal
import sys

from rnnlab.cli import main

KILL_AT = int(sys.argv[1])
OUT = os.path.realpath(sys.argv[sys.argv.index("--out") + 1])
_replace = os.replace
_writes = 0


def replace(source, target) -> None:
    global _writes
    if os.path.dirname(os.path.realpath(target)) == OUT:
        _writes += 1
        if _writes == KILL_AT:
            os.kill(os.getpid(), signal.SIGKILL)
    _replace(source, target)


os.replace = replace  # rnnlab.checkpoint.atomic_write renames with os.replace

if __name__ == "__main__":
    sys.exit(main(sys.argv[2:]))
