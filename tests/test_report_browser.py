"""The report as a user sees it: headless Chromium opens the page, driven over the DevTools protocol.

The page must load without a console error or exception, show the ranking table and charts that
actually decoded (naturalWidth > 0), and render to a screenshot. Skipped when Chromium is not
installed, unless CI is set (`.ci/run` installs Debian's `chromium`): then it fails.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import os
import queue
import re
import shutil
import subprocess
import threading
from pathlib import Path

import pytest
from research_data import factor_rows

from streamliq.cli import main

pytest.importorskip("matplotlib")

TIMEOUT = 60.0
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CHECKS = """JSON.stringify({
  title: document.title,
  rows: document.querySelectorAll('#ranking tr').length,
  plots: Array.from(document.querySelectorAll('img.plot')).map(i => [i.complete, i.naturalWidth, i.naturalHeight]),
  headings: Array.from(document.querySelectorAll('h2')).map(h => h.textContent),
})"""


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail("CI is set but chromium is not installed (.ci/run installs Debian's chromium)")
    pytest.skip("chromium is not installed (apt-get install chromium); CI runs this test")


class Browser:
    """A headless Chromium process and the DevTools websocket address it printed."""

    def __init__(self, executable: str, profile: Path) -> None:
        self.process = subprocess.Popen(
            [executable, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars",
             "--remote-debugging-port=0", f"--user-data-dir={profile}", "--window-size=1200,1600", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [lines.put(line) for line in self.process.stderr], daemon=True).start()
        self.url = ""
        while not self.url:
            try:
                line = lines.get(timeout=TIMEOUT)
            except queue.Empty:
                self.close()
                raise AssertionError("chromium printed no DevTools address") from None
            if match := re.search(r"DevTools listening on (ws://\S+)", line):
                self.url = match[1]

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class DevTools:
    """Commands to one page (a flat session), and every event seen so far."""

    def __init__(self, socket) -> None:
        self.socket, self.ids, self.events, self.session = socket, itertools.count(1), [], None

    async def call(self, method: str, params: dict | None = None) -> dict:
        ident = next(self.ids)
        message = {"id": ident, "method": method, "params": params or {}}
        if self.session:
            message["sessionId"] = self.session
        await self.socket.send(json.dumps(message))
        while True:
            reply = json.loads(await self.socket.recv())
            if reply.get("id") == ident:
                assert "error" not in reply, reply
                return reply["result"]
            self.events.append(reply)

    async def wait_for(self, method: str) -> dict:
        for event in self.events:
            if event.get("method") == method:
                return event
        while True:
            event = json.loads(await self.socket.recv())
            self.events.append(event)
            if event.get("method") == method:
                return event

    def errors(self) -> list:
        found = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.exceptionThrown":
                found.append(params["exceptionDetails"])
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                found.append(params["args"])
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                found.append(params["entry"])
        return found


async def inspect(browser_url: str, page_url: str) -> tuple[dict, list, bytes]:
    """(what the page shows, its errors, a screenshot) after the page's load event."""
    from websockets.asyncio.client import connect

    async with connect(browser_url, max_size=None, open_timeout=TIMEOUT) as socket:
        tools = DevTools(socket)
        target = await tools.call("Target.createTarget", {"url": "about:blank"})
        attached = await tools.call("Target.attachToTarget", {"targetId": target["targetId"], "flatten": True})
        tools.session = attached["sessionId"]
        for domain in ("Runtime", "Log", "Page"):
            await tools.call(f"{domain}.enable")
        await tools.call("Page.navigate", {"url": page_url})
        await tools.wait_for("Page.loadEventFired")
        shown = await tools.call("Runtime.evaluate", {"expression": CHECKS, "returnByValue": True})
        shot = await tools.call("Page.captureScreenshot", {"format": "png"})
        return json.loads(shown["result"]["value"]), tools.errors(), base64.b64decode(shot["data"])


def look(executable: str, page: Path, profile: Path) -> tuple[dict, list, bytes]:
    browser = Browser(executable, profile)
    try:
        return asyncio.run(asyncio.wait_for(inspect(browser.url, page.as_uri()), TIMEOUT))
    finally:
        browser.close()


def test_the_report_page_in_headless_chromium(tmp_path):
    executable = chromium()
    source, page = tmp_path / "factors.parquet", tmp_path / "report.html"
    factor_rows(seed=5, symbols=3, bars=400).to_parquet(source)
    assert main(["report", str(source), "--horizons", "1,4,24", "--min-rows", "50", "--quiet",
                 "--out", str(page)]) == 0
    shown, errors, screenshot = look(executable, page, tmp_path / "profile")
    assert errors == []
    assert shown["title"] == f"streamliq factor report: {source}"
    assert shown["rows"] == 1 + 33  # header + 11 factors x 3 horizons
    assert len(shown["plots"]) == 6
    assert all(complete and width > 300 and height > 200 for complete, width, height in shown["plots"])
    assert shown["headings"][:3] == ["Factors ranked", "Best factors", "IC decay over horizons"]
    assert screenshot.startswith(PNG_SIGNATURE) and len(screenshot) > 20_000


def test_the_harness_sees_errors_and_broken_images(tmp_path):
    page = tmp_path / "broken.html"
    page.write_text("<!DOCTYPE html><html><head><link rel='icon' href='data:,'><title>broken</title></head><body>"
                    "<table id='ranking'><tr><td>1</td></tr></table><img class='plot' src='data:image/png;base64,AAAA'>"
                    "<script>console.error('drawn wrong'); null.boom;</script></body></html>")
    shown, errors, _ = look(chromium(), page, tmp_path / "profile")
    assert shown["rows"] == 1 and shown["plots"] == [[True, 0, 0]]  # a picture that did not decode
    text = json.dumps(errors)
    assert "drawn wrong" in text and "TypeError" in text
