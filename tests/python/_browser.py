"""Headless Chromium over a local page with the network blocked: the rendered
DOM, the page's console messages, the requests the page itself started (from
Chromium's net log) and a screenshot."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-headless-shell")


FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--host-resolver-rules=MAP * ~NOTFOUND", "--enable-logging=stderr", "--v=0"]


@dataclass
class Rendered:
    dom: str
    console: list[str]
    page_requests: list[str]
    screenshot: Path


def render(page: Path, work: Path, budget_ms: int = 20000, fragment: str = "", window: str = "1400,6000") -> Rendered:
    """`fragment` is appended to the page's address (a dashboard segment: "#segment=age_band/65%2B")."""
    exe = chromium()
    assert exe, "Chromium is not installed (make browser)"
    work.mkdir(parents=True, exist_ok=True)
    url = page.resolve().as_uri() + fragment
    net = work / "net.json"
    proc = subprocess.run([exe, *FLAGS, f"--user-data-dir={work / 'profile'}", f"--log-net-log={net}",
                           f"--virtual-time-budget={budget_ms}", "--dump-dom", url],
                          capture_output=True, text=True, timeout=180)
    console = [ln for ln in proc.stderr.splitlines() if ":CONSOLE" in ln]
    log = json.loads(net.read_text())
    names = {v: k for k, v in log["constants"]["logEventTypes"].items()}
    requests = [e["params"].get("url", "") for e in log["events"]
                if names.get(e["type"]) == "URL_REQUEST_START_JOB"
                and e.get("params", {}).get("url")
                and e.get("params", {}).get("initiator") != "not an origin"]  # not Chromium's own
    shot = work / "screenshot.png"
    subprocess.run([exe, *FLAGS, f"--user-data-dir={work / 'profile2'}", f"--virtual-time-budget={budget_ms}",
                    f"--window-size={window}", f"--screenshot={shot}", url],
                   capture_output=True, text=True, timeout=180)
    return Rendered(proc.stdout, console, requests, shot)


class _Tables(HTMLParser):
    """Tables with a data-source attribute: {caption: (source, header, rows)}."""

    def __init__(self):
        super().__init__()
        self.tables: dict[str, tuple[str, list[str], list[list[str]]]] = {}
        self._t = None
        self._cell = None
        self._row = None
        self._caption = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table" and "data-source" in a:
            self._t = {"source": a["data-source"], "caption": "", "header": [], "rows": []}
        elif self._t is not None:
            if tag == "caption":
                self._caption = ""
            elif tag == "tr":
                self._row = []
            elif tag in ("td", "th"):
                self._cell = ""

    def handle_data(self, data):
        if self._t is None:
            return
        if self._cell is not None:
            self._cell += data
        elif self._caption is not None:
            self._caption += data

    def handle_endtag(self, tag):
        if self._t is None:
            return
        if tag == "caption":
            self._t["caption"], self._caption = self._caption, None
        elif tag in ("td", "th") and self._cell is not None:
            self._row.append(self._cell)
            self._cell = None
        elif tag == "tr" and self._row is not None:
            if self._t["header"]:
                self._t["rows"].append(self._row)
            else:
                self._t["header"] = self._row
            self._row = None
        elif tag == "table":
            self.tables[self._t["caption"]] = (self._t["source"], self._t["header"], self._t["rows"])
            self._t = None


def tables(dom: str) -> dict[str, tuple[str, list[str], list[list[str]]]]:
    p = _Tables()
    p.feed(dom)
    return p.tables


def count_charts(dom: str) -> int:
    """Vega's rendered SVG charts (their root group carries class 'marks')."""
    return len(re.findall(r'<svg[^>]*class="marks"', dom))


if __name__ == "__main__":  # make dashboard-screenshot: PAGE OUT.png [FRAGMENT]
    import sys
    import tempfile

    page, out, *fragment = sys.argv[1:]
    with tempfile.TemporaryDirectory() as work:
        shot = render(Path(page), Path(work), fragment="".join(fragment), window="1400,2600")
        problems = shot.console + shot.page_requests
        if problems:
            raise SystemExit(f"the page is not clean: {problems}")
        shutil.copyfile(shot.screenshot, out)
    print(out)
