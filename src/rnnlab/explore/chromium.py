"""How rnnlab's browser tests and benchmarks start Debian's chromium under Playwright.

Playwright cannot download its own browser on machines without network, so it drives the
system's ``/usr/bin/chromium`` (Debian package ``chromium``), headless, with the background
services that would try to reach the network turned off.
"""

from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
