"""The directory a run writes: claimed before training, held until the run ends.

claim:    the place can be written (:func:`rnnlab.outputs.output_dir`), then an exclusive
          ``flock`` on the directory itself (a second run is refused; the lock dies with
          the process, so nothing is left behind), then the temporaries of dead writers are
          removed and the run's config is written
refuse:   a directory that holds another run's weights or trainer state (one that holds a
          config alone is a run that died before its first save, and is taken over)
continue: the directory a resumed run was read from is its own: nothing is refused or
          rewritten
"""

from __future__ import annotations

from pathlib import Path

from rnnlab.checkpoint import (
    CONFIG,
    TRAINER_STATE,
    WEIGHTS,
    lock_directory,
    remove_stale_temporaries,
    unlock_directory,
    write_json,
)
from rnnlab.outputs import output_dir


class RunDirectory:
    """``path``, claimed for one run by :meth:`claim` and freed by :meth:`release`."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock: int | None = None

    def claim(self, config: dict, resumed_from: Path | None = None, hint: str = "") -> None:
        """Lock the directory and write ``config`` into it, unless it is ``resumed_from`` (the
        run continues there). ``hint`` ends the refusal of a directory that holds a run."""
        output_dir(self.path)
        self.path.mkdir(parents=True, exist_ok=True)
        self._lock = lock_directory(self.path)
        remove_stale_temporaries(self.path)
        if resumed_from is not None and resumed_from == self.path.resolve():
            return
        if self.holds_run():
            raise ValueError(f"{self.path} already holds a checkpoint; {hint}choose another --out")
        write_json(self.path / CONFIG, config)

    def holds_run(self) -> bool:
        """Whether a run has saved weights or a trainer state here."""
        return any((self.path / name).is_file() for name in (WEIGHTS, TRAINER_STATE))

    def release(self) -> None:
        if self._lock is not None:
            unlock_directory(self._lock)
            self._lock = None
