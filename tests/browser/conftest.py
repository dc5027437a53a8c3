"""Browser tests: Debian's chromium, driven headless by Playwright, against servers on 127.0.0.1.

Playwright's own browser download is never used (``executable_path`` points at the
distribution's chromium). Outside CI the tests skip, saying why, when chromium or
Playwright is missing; with ``CI`` set they fail instead.
"""

import dataclasses
import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from mlpcourse import paths

SCREENSHOTS = paths.ROOT / "build" / "screenshots"

CHROMIUM_ARGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
)
VIEWPORT = {"width": 1400, "height": 1000}
# Every request to anything but loopback is refused (and recorded): tests stay offline.
NOT_LOOPBACK = re.compile(r"^(?!(https?|wss?)://127\.0\.0\.1[:/])")

# JupyterLab starts in 3-8 s on 2 cores; a minute means it is broken.
SERVER_START_TIMEOUT = 60.0
SERVER_STOP_TIMEOUT = 20.0

# JupyterLab user settings for the tests' private config dir: render every cell (no
# virtual scrolling, so the whole notebook can be inspected) and ask no questions.
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
}


def unavailable(reason):
    """Skip outside CI; fail in CI, where the browser tests must run."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so the browser tests must run)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def chromium_path():
    """Debian's chromium (``apt-get install chromium``; .ci/run installs it)."""
    path = shutil.which("chromium")
    if path is None:
        unavailable("chromium is not installed: apt-get install chromium")
    return path


# Module scope: sync Playwright keeps an asyncio loop running in this thread while it is
# started, which would break later tests that run their own loop (nbclient's kernels).
@pytest.fixture(scope="module")
def playwright_driver(chromium_path):
    """Playwright's driver process, for one test module."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("playwright is not installed: pip install -r requirements-dev.txt")
    with sync_playwright() as driver:
        yield driver


@dataclasses.dataclass
class Browser:
    """A headless Chromium with a fresh profile, and what its pages reported."""

    context: object
    console_errors: list = dataclasses.field(default_factory=list)
    refused_requests: list = dataclasses.field(default_factory=list)

    def new_page(self):
        """A new tab whose console errors and uncaught exceptions are recorded."""
        page = self.context.new_page()
        page.on("console", lambda message: message.type == "error" and self.console_errors.append(
            f"{message.text} ({message.location.get('url')})"))
        page.on("pageerror", lambda error: self.console_errors.append(f"uncaught: {error}"))
        return page


@pytest.fixture
def browser(playwright_driver, chromium_path, tmp_path):
    """A fresh headless Chromium that can reach 127.0.0.1 only."""
    context = playwright_driver.chromium.launch_persistent_context(
        str(tmp_path / "chromium-profile"), executable_path=chromium_path, headless=True,
        args=list(CHROMIUM_ARGS), viewport=VIEWPORT)
    context.set_default_timeout(30_000)
    result = Browser(context)

    def refuse(route):
        result.refused_requests.append(route.request.url)
        route.abort()

    context.route(NOT_LOOPBACK, refuse)
    yield result
    context.close()


@pytest.fixture
def screenshot():
    """``screenshot(page, name, full_page=False)`` saves ``build/screenshots/<name>.png``; returns its path."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def save(page, name, full_page=False):
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=full_page)
        return path

    return save


@pytest.fixture
def jupyter_env(tmp_path, grading_env):
    """The data environment plus private Jupyter config, data and runtime folders.

    The user's ~/.jupyter never leaks into a test, and JupyterLab renders every
    cell (see LAB_SETTINGS).
    """
    env = dict(grading_env)
    jupyter = tmp_path / "jupyter"
    for name, folder in (("JUPYTER_CONFIG_DIR", "config"), ("JUPYTER_DATA_DIR", "data"),
                         ("JUPYTER_RUNTIME_DIR", "runtime"), ("IPYTHONDIR", "ipython")):
        (jupyter / folder).mkdir(parents=True)
        env[name] = str(jupyter / folder)
    for plugin, settings in LAB_SETTINGS.items():
        path = jupyter / "config" / "lab" / "user-settings" / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(settings))
    return env


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def start_server(tmp_path):
    """``start_server(argv_for_port, cwd, env, token)``: run a Jupyter server until the test ends.

    ``argv_for_port(port)`` gives the command for a free port. Returns the base URL
    once ``/api/status`` answers with the token; the server's log goes to
    ``tmp_path`` and its tail is shown when it fails to start. The server is stopped
    with SIGTERM (killed after SERVER_STOP_TIMEOUT) after the test.
    """
    servers = []

    def start(argv_for_port, cwd, env, token):
        port = free_port()
        argv = argv_for_port(port)
        log_path = tmp_path / f"server-{port}.log"
        with open(log_path, "w") as log:
            process = subprocess.Popen(argv, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
        servers.append(process)
        status = f"http://127.0.0.1:{port}/api/status?token={token}"
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while time.monotonic() < deadline and process.poll() is None:
            try:
                with urllib.request.urlopen(status, timeout=2) as response:
                    if response.status == 200:
                        return f"http://127.0.0.1:{port}"
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.3)
        tail = "\n".join(log_path.read_text().splitlines()[-30:])
        pytest.fail(f"the server {' '.join(map(str, argv))} did not start (exit {process.poll()}):\n{tail}")

    yield start
    for process in servers:
        process.terminate()
        try:
            process.wait(SERVER_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
