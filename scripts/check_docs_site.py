"""Build the docs site, serve it on localhost and screenshot four pages with headless Chromium.

    python scripts/check_docs_site.py [--out runs/docs_screenshots] [--port 8765]

Writes home.png, course.png, algorithm.png and api.png under ``--out`` (default
``runs/docs_screenshots/``, git-ignored), and checks that the built site has its search index
(``search/search_index.json``). Look at each screenshot: readable text, equations rendered by KaTeX
(not raw ``$...$`` or ``\\(...\\)``), code highlighted, the navigation on the left.

Chromium is not a Python package. On Debian or Ubuntu, as root:

    apt-get update && apt-get install -y chromium

(the binary is ``chromium``; ``chromium-browser`` or ``google-chrome`` also work, or pass
``--chromium PATH``). The site needs the docs extra: ``pip install -e '.[docs]'``.
Nothing is fetched from the network: the site vendors its fonts and scripts, and Chromium runs with
its background networking off.
"""
from __future__ import annotations

import argparse
import functools
import http.server
import json
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGES = {"home": "", "course": "course/week5_dqn/", "algorithm": "algorithms/ppo/", "api": "api/engine/"}
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--window-size=1280,1600", "--virtual-time-budget=5000"]


def find_chromium(given: str | None) -> str:
    for name in ([given] if given else ["chromium", "chromium-browser", "google-chrome"]):
        path = shutil.which(name) if name else None
        if path:
            return path
    sys.exit("no Chromium found: apt-get install -y chromium (see this script's docstring), or pass --chromium PATH")


def build(site: Path) -> None:
    subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
                   cwd=ROOT, check=True)
    index = site / "search" / "search_index.json"
    docs = json.loads(index.read_text())["docs"]
    print(f"search index: {index.relative_to(site)}, {len(docs)} entries")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:   # one line per request would bury the paths printed
        pass


def serve(site: Path, port: int) -> http.server.ThreadingHTTPServer:
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/docs_screenshots", help="folder for the PNGs")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--chromium", default=None, help="path or name of the Chromium binary")
    args = parser.parse_args()
    chromium = find_chromium(args.chromium)
    out = (ROOT / args.out) if not Path(args.out).is_absolute() else Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        site = Path(tmp) / "site"
        build(site)
        server = serve(site, args.port)
        try:
            for name, url in PAGES.items():
                png = out / f"{name}.png"
                with tempfile.TemporaryDirectory() as profile:
                    subprocess.run([chromium, *FLAGS, f"--user-data-dir={profile}", f"--screenshot={png}",
                                    f"http://127.0.0.1:{args.port}/{url}"],
                                   check=True, timeout=120, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                print(f"{png}  <- /{url}")
        finally:
            server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
