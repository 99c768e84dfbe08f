"""rnnlab's benchmark, as ``rnnlab bench``, writing its JSON next to this file.

    python benchmarks/bench.py            # the full run recorded in benchmarks/RESULTS.md
    python benchmarks/bench.py --quick    # under two minutes, for development

The code is in ``rnnlab.bench`` (so the installed command runs it too).
"""

import sys
from pathlib import Path

from rnnlab.cli import main

if __name__ == "__main__":
    json_path = Path(__file__).resolve().parent / "results.json"
    sys.exit(main(["bench", "--json", str(json_path), *sys.argv[1:]]))
