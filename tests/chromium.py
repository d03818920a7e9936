"""Headless Chromium (Debian's package) driven over the DevTools protocol on a pipe (--remote-debugging-pipe).

No browser download and no network: every host name resolves to nothing and every request would go to
a closed loopback proxy, so a page can only show what its own file holds.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import Any

BINARY = "chromium"
_ISOLATION = (
    "--headless",
    "--no-sandbox",  # the tests run as root
    "--disable-gpu",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-domain-reliability",
    "--proxy-server=http://127.0.0.1:9",
    "--host-resolver-rules=MAP * ~NOTFOUND",
)


def find_chromium() -> str | None:
    """The chromium binary on PATH, if installed (scripts/install-test-deps)."""
    return shutil.which(BINARY)


def screenshot_dir(config: Any) -> Path:
    """build/test/screenshots of the checkout (`config`: pytest's), where the browser tests keep theirs."""
    directory: Path = config.rootpath / "build" / "test" / "screenshots"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def print_to_pdf(binary: str, page: Path, pdf: Path, profile: Path, timeout: float = 120.0) -> None:
    """Print a page to PDF as `chromium --headless --print-to-pdf` does for a person (no header, footer)."""
    subprocess.run(
        [binary, *_ISOLATION, f"--user-data-dir={profile}", "--no-pdf-header-footer",
         f"--print-to-pdf={pdf}", page.resolve().as_uri()],
        check=True, timeout=timeout, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


class Chromium:
    """One headless browser; `open(path)` loads a file in a page, then `evaluate` and `screenshot` it."""

    def __init__(self, binary: str, profile: Path, timeout: float = 60.0) -> None:
        self.timeout = timeout
        commands_read, self._commands = os.pipe()
        self._answers, answers_write = os.pipe()

        def wire() -> None:  # the DevTools pipe is fd 3 (commands in) and fd 4 (answers out)
            os.dup2(commands_read, 3)
            os.dup2(answers_write, 4)

        self._process = subprocess.Popen(
            [binary, *_ISOLATION, "--remote-debugging-pipe", f"--user-data-dir={profile}", "about:blank"],
            pass_fds=(3, 4),
            preexec_fn=wire,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(commands_read)
        os.close(answers_write)
        self._buffer = b""
        self._next_id = 0
        self._session: str | None = None

    def __enter__(self) -> Chromium:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def _message(self) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            chunk = os.read(self._answers, 1 << 16)
            if not chunk:
                raise RuntimeError("chromium closed the DevTools pipe")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        message: dict[str, Any] = json.loads(raw)
        return message

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one DevTools command (to the open page, once there is one) and return its result."""
        self._next_id += 1
        command: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if self._session is not None and not method.startswith(("Target.", "Browser.")):
            command["sessionId"] = self._session
        os.write(self._commands, json.dumps(command).encode() + b"\0")
        while True:
            message = self._message()
            if message.get("id") != self._next_id:
                continue  # an event, or the answer to another command
            if "error" in message:
                raise RuntimeError(f"{method}: {message['error']}")
            result: dict[str, Any] = message.get("result", {})
            return result

    def open(self, path: Path, width: int = 1400, height: int = 1000) -> None:
        """Load `path` in a new page and wait until the document is complete."""
        target = self.send("Target.createTarget", url=path.resolve().as_uri())["targetId"]
        self._session = self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        self.send(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )
        self.wait_for("document.readyState === 'complete'")

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page."""
        answer = self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in answer:
            raise RuntimeError(f"JavaScript failed: {answer['exceptionDetails']}")
        return answer["result"].get("value")

    def wait_for(self, expression: str) -> None:
        """Wait until a JavaScript expression is true."""
        deadline = time.monotonic() + self.timeout
        while not self.evaluate(expression):
            if time.monotonic() > deadline:
                raise TimeoutError(f"page never satisfied: {expression}")
            time.sleep(0.1)

    def screenshot(self, whole_page: bool = True) -> bytes:
        """A PNG of the whole page, or of what fits in the window (the first screen)."""
        data = self.send("Page.captureScreenshot", format="png", captureBeyondViewport=whole_page)["data"]
        return base64.b64decode(data)

    def screenshot_of(self, selector: str, max_height: int = 2000) -> bytes:
        """A PNG of the first element matching a CSS selector (its top `max_height` pixels)."""
        box = self.evaluate(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)}); e.scrollIntoView();"
            " const r = e.getBoundingClientRect();"
            " return [r.x + window.scrollX, r.y + window.scrollY, r.width, r.height]; })()"
        )
        clip = {"x": box[0], "y": box[1], "width": box[2], "height": min(box[3], max_height), "scale": 1}
        data = self.send("Page.captureScreenshot", format="png", clip=clip, captureBeyondViewport=True)[
            "data"
        ]
        return base64.b64decode(data)

    def close(self) -> None:
        """Close the browser and the pipes."""
        if self._process.poll() is None:
            with contextlib.suppress(OSError, RuntimeError):
                self.send("Browser.close")
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        os.close(self._commands)
        os.close(self._answers)
