"""A minimal Chrome DevTools Protocol client for headless Debian Chromium.

Standard library only: Chromium is started with --remote-debugging-pipe, so
the protocol runs over two pipes (file descriptors 3 and 4 of the browser,
messages ended by a NUL byte) and needs no WebSocket client, no open port
and nothing from a package registry (Playwright and Puppeteer download
browsers of their own; this drives the one apt installed).

    with Browser() as browser:
        page = browser.new_page(1280, 900)
        page.navigate("http://127.0.0.1:8080/status")
        page.wait_for("document.body.dataset.updates >= 2", timeout=20)
        print(page.evaluate("document.title"))
        open("status.png", "wb").write(page.screenshot())

The flags are those this machine needs (see the env notes): headless, no
sandbox (root), no GPU, no QUIC, and no background networking of any kind
(the machine's network is closed), with a fresh profile directory.

Thread-safety: one Browser and its pages are used from one thread; a reader
thread inside only collects messages.
"""

import base64
import fcntl
import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-crash-reporter",
    "--disable-breakpad",
    "--disable-extensions",
    "--disable-default-apps",
    "--mute-audio",
    "--hide-scrollbars",
]


def find_chromium():
    """The Debian chromium binary, or None when it is not installed."""
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return "/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None


class CdpError(Exception):
    pass


def _above(fd, low):
    """fd moved to a number >= low (the old number is closed)."""
    new = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, low)
    os.close(fd)
    return new


class Browser:
    def __init__(self, binary=None, timeout=30, extra_flags=()):
        self.binary = binary or find_chromium()
        if not self.binary:
            raise CdpError("chromium is not installed (apt-get install chromium)")
        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix="brisk-chromium.")
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        # The browser's ends numbered above 4, so that the shell below can
        # move them to 3 and 4 without closing one it just placed.
        to_browser_r, from_browser_w = (_above(to_browser_r, 10),
                                        _above(from_browser_w, 10))
        env = dict(os.environ, HOME=self.profile)
        # fds 3 and 4 of the browser are the pipes (a shell moves them there).
        self.proc = subprocess.Popen(
            ["/bin/bash", "-c",
             f'exec "$0" "$@" 3<&{to_browser_r} 4>&{from_browser_w} '
             f'{to_browser_r}<&- {from_browser_w}>&-',
             self.binary, *CHROMIUM_FLAGS, *extra_flags, f"--user-data-dir={self.profile}",
             "--remote-debugging-pipe", "about:blank"],
            pass_fds=(to_browser_r, from_browser_w), env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._next_id = 0
        self._responses = {}
        self._cond = threading.Condition()
        self.events = queue.Queue()  # (sessionId, method, params)
        self._closed = False
        self._stderr = []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._drain_stderr, daemon=True).start()
        self.version = self.send("Browser.getVersion")

    def _drain_stderr(self):
        for line in self.proc.stderr:
            self._stderr.append(line.decode(errors="replace"))
            del self._stderr[:-50]

    def _read(self):
        buf = b""
        while True:
            chunk = os.read(self._from_browser, 1 << 16)
            if not chunk:
                break
            buf += chunk
            while b"\0" in buf:
                raw, buf = buf.split(b"\0", 1)
                msg = json.loads(raw)
                if "id" in msg:
                    with self._cond:
                        self._responses[msg["id"]] = msg
                        self._cond.notify_all()
                else:
                    self.events.put((msg.get("sessionId"), msg["method"],
                                     msg.get("params", {})))
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def send(self, method, params=None, session=None, timeout=None):
        """Sends one command; returns its result or raises CdpError."""
        self._next_id += 1
        msg = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._to_browser, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + (timeout or self.timeout)
        with self._cond:
            while self._next_id not in self._responses:
                left = deadline - time.monotonic()
                if self._closed or left <= 0:
                    raise CdpError(f"{method}: no answer from chromium "
                                   f"({'exited' if self._closed else 'timeout'}); "
                                   f"stderr: {''.join(self._stderr[-5:])}")
                self._cond.wait(left)
            reply = self._responses.pop(self._next_id)
        if "error" in reply:
            raise CdpError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    def new_page(self, width=1280, height=900):
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget",
                            {"targetId": target, "flatten": True})["sessionId"]
        return Page(self, session, width, height)

    def close(self):
        try:
            self.send("Browser.close", timeout=5)
        except CdpError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_browser)
        os.close(self._from_browser)
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Page:
    """One tab. Records the URLs it requested, JS exceptions and console
    errors (CSP violations included) as they come."""

    def __init__(self, browser, session, width, height):
        self.browser = browser
        self.session = session
        self.requests = []
        self.exceptions = []
        self.console_errors = []
        for domain in ("Page", "Runtime", "Network", "Log"):
            self.send(f"{domain}.enable")
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1,
                   "mobile": False})

    def send(self, method, params=None, timeout=None):
        result = self.browser.send(method, params, self.session, timeout)
        self._collect()
        return result

    def _collect(self):
        while True:
            try:
                session, method, params = self.browser.events.get_nowait()
            except queue.Empty:
                return
            if session != self.session:
                continue
            if method == "Network.requestWillBeSent":
                self.requests.append(params["request"]["url"])
            elif method == "Runtime.exceptionThrown":
                self.exceptions.append(params["exceptionDetails"].get("text", "")
                                       + " " + str(params["exceptionDetails"]
                                                   .get("exception", {})
                                                   .get("description", "")))
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                self.console_errors.append(params["entry"]["text"])
            elif (method == "Runtime.consoleAPICalled" and
                  params.get("type") == "error"):
                self.console_errors.append(
                    " ".join(str(a.get("value", "")) for a in params["args"]))

    def navigate(self, url, timeout=30):
        """Loads url; returns once the document has loaded."""
        result = self.send("Page.navigate", {"url": url})
        if result.get("errorText"):
            raise CdpError(f"navigate {url}: {result['errorText']}")
        self.wait_for(f"document.readyState === 'complete' && "
                      f"location.href === {json.dumps(url)}", timeout=timeout)

    def evaluate(self, expression):
        """The value of a JS expression (JSON-serialisable), awaited."""
        result = self.send("Runtime.evaluate",
                           {"expression": expression, "returnByValue": True,
                            "awaitPromise": True})
        if "exceptionDetails" in result:
            raise CdpError(f"evaluate {expression!r}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression, timeout=20, interval=0.1):
        """Polls until the expression is truthy; returns its value, or raises
        CdpError after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise CdpError(f"timed out after {timeout}s waiting for {expression}")
            time.sleep(interval)

    def screenshot(self):
        """The viewport as PNG bytes."""
        data = self.send("Page.captureScreenshot", {"format": "png"})["data"]
        return base64.b64decode(data)
