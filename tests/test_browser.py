"""JupyterLab in headless Chromium: run the quickstart, Accept a proposal, Apply it, and
check that the notebook cell now holds the accepted kernel; that the ended session's cell
shows its widget only, and, reopened with a fresh kernel, its static record only.

Needs Debian's `chromium` (`.ci/run` installs it) and Playwright's Python package; it never
downloads a browser. Screenshots of the key moments go to `test-artifacts/browser/`.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from kernelmagic.store import SessionStore

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts" / "browser"
MAGIC_LINE = "%%cuda_optimize"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"

# Its own waits (page loads, the chart, a whole session) add up past the suite's 300 s on a
# loaded machine.
pytestmark = [pytest.mark.browser, pytest.mark.timeout(1500)]


def _missing() -> str | None:
    if not os.path.exists(CHROMIUM):
        return "needs Debian's chromium (apt-get install -y chromium; .ci/run does it)"
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "needs playwright (pip install -e '.[test]')"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def lab(tmp_path):
    """A JupyterLab server on 127.0.0.1 over a copy of the quickstart; stopped afterwards.

    It loads the lab extension built in this checkout (kernelmagic/labextension), found
    first on JUPYTER_PATH, not whichever copy the last `pip install` left.
    """
    reason = _missing()
    if reason:
        pytest.skip(reason)
    root = tmp_path / "root"
    root.mkdir()
    shutil.copy(ROOT / "examples" / "quickstart.ipynb", root / "quickstart.ipynb")
    extensions = tmp_path / "jupyter" / "labextensions"
    extensions.mkdir(parents=True)
    (extensions / "kernelmagic").symlink_to(ROOT / "kernelmagic" / "labextension")
    port = _free_port()
    env = {
        **os.environ,
        # The kernel's "python" is this interpreter, activated or not: another on PATH
        # would run the notebook without kernelmagic (seen with an unactivated venv).
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        "KERNELMAGIC_SESSION_DB": str(tmp_path / "sessions.sqlite"),
        "JUPYTER_PATH": os.pathsep.join(
            filter(None, [str(tmp_path / "jupyter"), os.environ.get("JUPYTER_PATH")])
        ),
    }
    env.pop("OPENAI_API_KEY", None)  # the offline search proposer, whatever the machine has
    log = (tmp_path / "lab.log").open("w")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyterlab",  # not "jupyter lab", which runs whichever jupyter-lab PATH finds
            "--no-browser",
            f"--port={port}",
            "--ip=127.0.0.1",
            f"--ServerApp.root_dir={root}",
            "--IdentityProvider.token=",
            "--ServerApp.password=",
            "--ServerApp.disable_check_xsrf=True",
            "--allow-root",  # CI containers run as root
            "--LabApp.news_url=",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{url}/api/status", timeout=2)
            break
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                pytest.fail("jupyter lab did not start: " + (tmp_path / "lab.log").read_text())
            time.sleep(0.3)
    try:
        yield url, root, tmp_path / "sessions.sqlite"
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


# Whether "Error displaying widget: model not found" was ever on the page, however briefly.
WATCH_MODEL_NOT_FOUND = """
window.kmModelNotFound = false;
new MutationObserver(() => {
    window.kmModelNotFound ||= document.body.innerText.includes('model not found');
}).observe(document, {subtree: true, childList: true, characterData: true});
"""


def _magic_cell_state(page) -> dict:
    """The magic cell's output: its widget views, charts, buttons, and the record's parts.

    The widget's header reads "kernelmagic session ID (finished…)", the record's heading
    "kernelmagic session ID: finished…"; the record's chart is an SVG outside Plotly's.
    """
    return page.evaluate(
        """(magic) => {
        const shown = '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-CodeCell';
        const cell = Array.from(document.querySelectorAll(shown))
            .find(c => c.querySelector('.jp-InputArea').textContent.includes(magic));
        if (!cell) return {found: false};
        const out = cell.querySelector('.jp-Cell-outputArea');
        const buttons = {};
        for (const b of out.querySelectorAll('button')) {
            buttons[b.textContent.trim()] = !b.disabled;
        }
        const text = out.innerText;
        return {
            found: true,
            outputs: out.querySelectorAll(':scope > .jp-OutputArea-child').length,
            views: Array.from(out.querySelectorAll('.widget-vbox'))
                .filter(v => !v.parentElement.closest('.widget-vbox')).length,
            plots: out.querySelectorAll('.js-plotly-plot').length,
            points: out.querySelectorAll('.js-plotly-plot .scatterlayer .point').length,
            buttons,
            ended: /kernelmagic session \\w+ \\((?!running)/.test(text),
            record: /kernelmagic session \\w+: /.test(text),
            record_charts: Array.from(out.querySelectorAll('svg[role="img"]'))
                .filter(s => !s.closest('.js-plotly-plot')).length,
            source: cell.querySelector('.cm-content').innerText,
        };
    }""",
        MAGIC_LINE,
    )


def test_accept_then_apply_puts_the_kernel_into_the_cell(lab):
    from playwright.sync_api import sync_playwright

    url, root, db = lab
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1600})
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.add_init_script(WATCH_MODEL_NOT_FOUND)
        try:
            page.goto(f"{url}/lab/tree/quickstart.ipynb")
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=90_000)
            page.get_by_text("Python 3 (ipykernel) | Idle").wait_for(timeout=90_000)
            page.click('.lm-MenuBar-itemLabel >> text="Run"')
            page.click('.lm-Menu-itemLabel >> text="Run All Cells"')

            state = _wait(page, lambda s: s.get("points", 0) >= 2, 240, "chart points")
            page.screenshot(path=str(ARTIFACTS / "1-chart.png"), full_page=True)
            accepted = 0
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline:
                state = _magic_cell_state(page)
                if state["ended"]:
                    break
                if state["buttons"].get("Accept"):
                    if not accepted:
                        page.screenshot(path=str(ARTIFACTS / "2-accept.png"), full_page=True)
                    page.get_by_role("button", name="Accept", exact=True).click()
                    accepted += 1
                time.sleep(0.5)
            assert state["ended"], "the session did not end within 10 minutes"
            assert accepted >= 1, "no round proposed a new best to accept"
            time.sleep(2)  # the record's update follows the widget's last one
            page.screenshot(path=str(ARTIFACTS / "3-ended.png"), full_page=True)
            _assert_widget_only(_magic_cell_state(page))

            (info,) = SessionStore(db).sessions()
            stored = SessionStore(db).load(info.id)
            best = next(c for c in stored.candidates if c.id == stored.meta["best_id"])
            assert best.round > 0  # an accepted proposal, not the original
            before = state["source"]
            page.get_by_role("button", name="Apply", exact=True).click()
            _wait(page, lambda s: s["source"] != before, 60, "the applied kernel")
            page.screenshot(path=str(ARTIFACTS / "4-applied.png"), full_page=True)
            page.keyboard.press("Control+s")
            time.sleep(2)
            _assert_widget_only(_magic_cell_state(page))

            # The quickstart's last cell exported the session as a tutorial (Run All ran it
            # while the session was still going): its chart, a markdown attachment, shows.
            assert (root / "quickstart-tutorial.ipynb").exists()
            page.goto(f"{url}/lab/tree/quickstart-tutorial.ipynb")
            page.locator('.jp-MarkdownOutput h2:has-text("The starting kernel")').wait_for(
                timeout=90_000
            )
            chart = page.locator('.jp-MarkdownOutput img[alt^="Latency of every candidate"]')
            chart.wait_for(timeout=30_000)
            chart.scroll_into_view_if_needed()
            width = chart.evaluate("img => img.complete ? img.naturalWidth : 0")
            page.screenshot(path=str(ARTIFACTS / "5-tutorial.png"), full_page=True)
            assert width > 0, "the tutorial's chart did not render"
            saved = json.loads((root / "quickstart.ipynb").read_text())

            # Reopened after its kernel is gone (a fresh one starts): the record alone.
            for kernel in json.load(urllib.request.urlopen(f"{url}/api/kernels", timeout=10)):
                urllib.request.urlopen(
                    urllib.request.Request(f"{url}/api/kernels/{kernel['id']}", method="DELETE"),
                    timeout=30,
                )
            page.goto(f"{url}/lab/tree/quickstart.ipynb")
            reopened = _wait(page, lambda s: s["record"], 90, "the record after reopening")
            page.screenshot(path=str(ARTIFACTS / "6-reopened.png"), full_page=True)
            assert reopened["record_charts"] == 1 and reopened["outputs"] == 1, reopened
            assert reopened["views"] == 0 and reopened["plots"] == 0, reopened
            assert not page.evaluate("window.kmModelNotFound"), "model not found was shown"
        finally:
            browser.close()
    (magic,) = [c for c in saved["cells"] if "".join(c["source"]).startswith(MAGIC_LINE)]
    text = "".join(magic["source"])
    first, _, body = text.partition("\n")
    assert first.startswith(MAGIC_LINE)
    assert body.strip() == best.source.strip()
    # One output: the widget's view and the record, which the reopened page showed.
    (output,) = magic["outputs"]
    assert set(output["data"]) == {WIDGET_VIEW, "text/html", "text/plain"}, output["data"]
    assert output["metadata"] == {"kernelmagic": {"record": info.id}}
    assert f"kernelmagic session {info.id}: finished" in "".join(output["data"]["text/html"])
    assert not [e for e in errors if "kernelmagic" in e.lower() or "comm" in e.lower()], errors


def _assert_widget_only(state: dict) -> None:
    """The ended session's cell: one output, one view of the widget, no record beside it."""
    assert state["outputs"] == 1 and state["views"] == 1 and state["plots"] >= 1, state
    assert not state["record"] and state["record_charts"] == 0, state


def _wait(page, ready, seconds: float, what: str) -> dict:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        state = _magic_cell_state(page)
        if state.get("found") and ready(state):
            return state
        time.sleep(0.5)
    page.screenshot(path=str(ARTIFACTS / "timeout.png"), full_page=True)
    pytest.fail(f"timed out waiting for {what}: {state}")
