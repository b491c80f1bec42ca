"""Build the docs site, serve it on localhost and screenshot four pages with headless Chromium.

    python scripts/check_docs_site.py [--out runs/docs_screenshots] [--port 8765]

Writes home.png, course.png, algorithm.png and api.png under ``--out`` (default
``runs/docs_screenshots/``, git-ignored), and checks that the built site has its search index
(``search/search_index.json``) and, when Node.js is installed, runs the site's own search worker
(Material's lunr bundle, ``scripts/docs_search_check.js``) on it for a few queries: a headless
screenshot is taken before the worker has built its index, so the search is checked this way. Look
at each screenshot: readable text, equations rendered by KaTeX
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
SEARCHES = ["gradcheck", "prioritized sweeping", "resume"]
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--window-size=1280,1600"]
BUDGET_MS = {}   # virtual time (ms) a page may use before its shot; KaTeX renders within the default


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


def check_search(site: Path) -> None:
    node = shutil.which("node")
    if node is None:
        print("search: Node.js not found, only the index was checked (apt-get install -y nodejs to run the search)")
        return
    for query in SEARCHES:
        done = subprocess.run([node, str(ROOT / "scripts" / "docs_search_check.js"), str(site), query],
                              capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            sys.exit(f"search for {query!r} found nothing: {done.stdout}{done.stderr}")
        print(f"search {query!r}: {done.stdout.strip()}")


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
    parser.add_argument("--all", action="store_true", help="also screenshot every page of the nav, under OUT/all/")
    args = parser.parse_args()
    chromium = find_chromium(args.chromium)
    out = (ROOT / args.out) if not Path(args.out).is_absolute() else Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        site = Path(tmp) / "site"
        build(site)
        check_search(site)
        server = serve(site, args.port)
        try:
            pages = dict(PAGES)
            if args.all:
                (out / "all").mkdir(exist_ok=True)
                for html in sorted(site.rglob("index.html")):
                    url = html.parent.relative_to(site).as_posix()
                    if url != "." and not url.startswith(("benchmark", "examples")):
                        pages["all/" + url.replace("/", "__")] = url + "/"
            for name, url in pages.items():
                png = out / f"{name}.png"
                with tempfile.TemporaryDirectory() as profile:
                    budget = f"--virtual-time-budget={BUDGET_MS.get(name, 5000)}"
                    subprocess.run([chromium, *FLAGS, budget, f"--user-data-dir={profile}", f"--screenshot={png}",
                                    f"http://127.0.0.1:{args.port}/{url}"],
                                   check=True, timeout=120, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                print(f"{png}  <- /{url}")
        finally:
            server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
