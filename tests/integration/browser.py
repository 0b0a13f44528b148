"""Headless Chromium driven by its DevTools protocol, for the UI test.

Chromium runs inside a netns of the test's own with nothing but loopback, so
whatever it might try to reach (component updates, safe browsing...) goes
nowhere.  The DevTools protocol is spoken over --remote-debugging-pipe
(chromium reads commands on fd 3 and writes answers and events on fd 4, each
message a JSON object ended by a NUL byte): no TCP port to reach across
namespaces.  Every JavaScript exception and console error is kept, and the
test fails on any.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import threading
import time

from .harness import STARTED_PIDS

CHROMIUM = shutil.which("chromium")
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--disable-extensions", "--mute-audio",
         "--remote-debugging-pipe", "--window-size=1100,760"]


class Browser:
    """One headless Chromium with one page, in netns ``netns`` (a path)."""

    __test__ = False

    def __init__(self, netns: str, profile: str) -> None:
        """Start chromium and open a blank page (attached, flat session)."""
        to_r, self._to_w = os.pipe()
        self._from_r, from_w = os.pipe()

        def fds():
            os.dup2(to_r, 3)
            os.dup2(from_w, 4)

        self.proc = subprocess.Popen(
            ["nsenter", f"--net={netns}", CHROMIUM, *FLAGS, f"--user-data-dir={profile}",
             "about:blank"], preexec_fn=fds, pass_fds=(3, 4), stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        STARTED_PIDS.add(self.proc.pid)
        os.close(to_r)
        os.close(from_w)
        self._id = 0
        self._answers: dict[int, dict] = {}
        self.errors: list[str] = []
        self._cv = threading.Condition()
        threading.Thread(target=self._reader, daemon=True).start()
        tid = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=tid, flatten=True)["sessionId"]
        for domain in ("Runtime", "Page", "Log"):
            self.call(f"{domain}.enable", session=True)

    def _reader(self) -> None:
        buf = b""
        while True:
            chunk = os.read(self._from_r, 1 << 16)
            if not chunk:
                return
            buf += chunk
            while b"\0" in buf:
                raw, buf = buf.split(b"\0", 1)
                msg = json.loads(raw)
                self._event(msg)
                with self._cv:
                    if "id" in msg:
                        self._answers[msg["id"]] = msg
                    self._cv.notify_all()

    def _event(self, msg: dict) -> None:
        m, p = msg.get("method"), msg.get("params", {})
        if m == "Runtime.exceptionThrown":
            d = p["exceptionDetails"]
            self.errors.append(f"exception: {d.get('exception', {}).get('description') or d['text']}")
        elif m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            self.errors.append("console.error: " + " ".join(
                str(a.get("value", a.get("description"))) for a in p.get("args", [])))
        elif m == "Log.entryAdded" and p["entry"].get("source") == "javascript" \
                and p["entry"].get("level") == "error":
            self.errors.append("log: " + p["entry"].get("text", ""))

    def call(self, method: str, session: bool = False, timeout: float = 30, **params):
        """Send one command, wait for its answer; its result (raises on a protocol error)."""
        with self._cv:
            self._id += 1
            i = self._id
        msg = {"id": i, "method": method, "params": params}
        if session:
            msg["sessionId"] = self.session
        os.write(self._to_w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        with self._cv:
            while i not in self._answers:
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    raise AssertionError(f"chromium did not answer {method}")
                self._cv.wait(left)
            ans = self._answers.pop(i)
        if "error" in ans:
            raise AssertionError(f"{method}: {ans['error']}")
        return ans.get("result", {})

    def js(self, expr: str):
        """The value of a JavaScript expression in the page (promises awaited)."""
        r = self.call("Runtime.evaluate", session=True, expression=expr, returnByValue=True,
                      awaitPromise=True)
        if "exceptionDetails" in r:
            raise AssertionError(f"{expr}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def wait_js(self, expr: str, timeout: float = 20, every: float = 0.02) -> float:
        """Poll until ``expr`` is truthy; the seconds it took (AssertionError at the deadline)."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if self.js(expr):
                return time.monotonic() - t0
            time.sleep(every)
        raise AssertionError(f"never true in {timeout} s: {expr}")

    def navigate(self, url: str) -> None:
        """Load ``url`` in the page."""
        self.call("Page.navigate", session=True, url=url)

    def screenshot(self, path) -> None:
        """Save a PNG of the page at ``path``."""
        data = self.call("Page.captureScreenshot", session=True, format="png")["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))

    def close(self) -> None:
        """Stop chromium (our PID only) and close the pipes."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        STARTED_PIDS.discard(self.proc.pid)
        os.close(self._to_w)
        os.close(self._from_r)
