"""The student's side: the released notebook, answered, run top to bottom in JupyterLab."""

import os
import re
import secrets
import shutil
import sys

import nbformat
import pytest

import asg01
from mlpcourse.authoring import notebook

# A whole run takes ~20 s here (training 10 epochs on the stand-in split included).
RUN_ALL_TIMEOUT_MS = 300_000
STDERR_MIME = "application/vnd.jupyter.stderr"  # JupyterLab shows tracebacks and stderr with it


def prompts_running():
    """JavaScript: is any cell queued or running (prompt ``[*]``)?"""
    return "[...document.querySelectorAll('.jp-InputPrompt')].some(e => e.textContent.includes('*'))"


def success_lines(nb):
    """The lines the visible tests print when they pass: ``passed: ...``."""
    return [f"passed: {message}" for cell in nb.cells if cell.cell_type == "code"
            for message in re.findall(r'^passed\("([^"]+)"\)', cell.source, flags=re.MULTILINE)]


def student_jupyterlab(folder, port, token):
    """A student's own JupyterLab on loopback (not the grading server, whose API is read-only)."""
    return [sys.executable, "-m", "jupyterlab", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
            "--ServerApp.port_retries=0", f"--ServerApp.root_dir={folder}", f"--IdentityProvider.token={token}",
            "--ServerApp.open_browser=False", *(["--ServerApp.allow_root=True"] if os.geteuid() == 0 else [])]


def planned_epochs():
    """The number of epochs the master's ``design`` cell trains for."""
    design = notebook.cells_by_grade_id(notebook.read(asg01.MASTER))["design"].source
    return int(re.search(r"^epochs = (\d+)", design, flags=re.MULTILINE).group(1))


@pytest.mark.slow
@pytest.mark.browser
def test_solved_release_runs_cleanly_in_jupyterlab(tmp_path, jupyter_env, browser, start_server, screenshot):
    """Does the release, answered, run in JupyterLab without errors, with progress bars, learning
    curves and every visible test's success line on the page?"""
    folder = tmp_path / "student"
    shutil.copytree(asg01.RELEASE, folder)
    solved = notebook.solved(notebook.read(asg01.RELEASE_NOTEBOOK))
    nbformat.write(solved, str(folder / asg01.RELEASE_NOTEBOOK.name))

    token = secrets.token_hex(16)
    base_url = start_server(lambda port: student_jupyterlab(folder, port, token),
                            cwd=folder, env=jupyter_env, token=token)
    page = browser.new_page()
    page.goto(f"{base_url}/lab/tree/{asg01.RELEASE_NOTEBOOK.name}?token={token}")
    page.locator("#jp-main-statusbar").get_by_text("Idle").wait_for(timeout=60_000)
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    page.wait_for_function(prompts_running())
    page.wait_for_function(f"() => !{prompts_running()}", timeout=RUN_ALL_TIMEOUT_MS)

    # Every code cell ran (a failing cell stops "Run All" and leaves the rest unnumbered).
    code_cells = [cell for cell in solved.cells if cell.cell_type == "code"]
    numbered = [text for text in page.locator(".jp-CodeCell .jp-InputPrompt").all_inner_texts()
                if re.fullmatch(r"\[\d+\]:", text.strip())]
    assert len(numbered) == len(code_cells)
    errors = page.locator(f".jp-OutputArea-output[data-mime-type='{STDERR_MIME}']")
    assert errors.count() == 0, errors.all_inner_texts()

    # The training cell shows one full tqdm progress bar per epoch.
    train = page.locator(".jp-CodeCell", has_text="optimizer = SGD(lr=sgd_lr")
    bars = train.locator(".widget-hprogress .progress-bar")
    epochs = planned_epochs()
    assert bars.count() == epochs
    assert all("width: 100%" in bar.get_attribute("style") for bar in bars.all())
    labels = [" ".join(text.split()) for text in train.locator(".widget-html-content").all_inner_texts()]
    assert [label for label in labels if label.endswith(": 100%")] == [
        f"epoch {epoch}/{epochs}: 100%" for epoch in range(1, epochs + 1)]
    train.locator(".widget-hprogress").first.scroll_into_view_if_needed()
    screenshot(page, "student_lab_training")

    # The learning curves are drawn: one loaded image in the plotting cell's output.
    curves = page.locator(".jp-CodeCell", has_text="ax_loss.set(").locator(".jp-OutputArea-output img")
    assert curves.count() == 1
    assert curves.evaluate("img => img.complete && img.naturalWidth > 0 && img.naturalHeight > 0")
    curves.scroll_into_view_if_needed()
    screenshot(page, "student_lab_learning_curves")

    # Every visible test printed its success line.
    outputs = "\n".join(page.locator(".jp-OutputArea-output").all_inner_texts())
    expected = success_lines(solved)
    assert expected, "the release's visible tests no longer call passed(...)"
    assert [line for line in expected if line not in outputs] == []
