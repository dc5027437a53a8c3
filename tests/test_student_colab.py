"""A student's run: the release notebook in a plain Python environment, as in Colab.

The environment has what Colab has (numpy, matplotlib, scikit-learn, tqdm, a kernel)
and no nbgrader; the helper files are not beside the notebook, so its first cell
fetches them from ASG01_BASE_URL, here a real HTTP server on loopback.
"""

import functools
import http.server
import json
import os
import re
import subprocess
import threading
import venv

import pytest

import asg01
from mlpcourse import paths
from mlpcourse.authoring import notebook

# Colab-like packages, pinned as in requirements.txt where the course pins them.
STUDENT_PACKAGES = ("numpy", "matplotlib", "scikit-learn", "tqdm", "ipywidgets", "pandas")
KERNEL_PACKAGES = ("ipykernel==7.4.0", "nbclient==0.11.0", "nbformat==5.11.1")

RUN_NOTEBOOK = """
import sys, nbformat
from nbclient import NotebookClient
nb = nbformat.read(sys.argv[1], 4)
NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=True).execute()
nbformat.write(nb, sys.argv[1])
"""


def _pins():
    pins = {}
    for line in (paths.ROOT / "requirements.txt").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.strip().split("==")
            pins[name] = version
    return [f"{name}=={pins[name]}" for name in STUDENT_PACKAGES]


class _RecordingHandler(http.server.SimpleHTTPRequestHandler):
    requested = []

    def do_GET(self):
        type(self).requested.append(self.path)
        super().do_GET()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def student_run(tmp_path_factory, kannada_cache):
    """The solved release executed top to bottom in a fresh venv without nbgrader."""
    root = tmp_path_factory.mktemp("student")
    env_dir = root / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", *_pins(), *KERNEL_PACKAGES],
                   check=True, capture_output=True)
    work = root / "colab"
    work.mkdir()
    solved = notebook.solved(notebook.read(asg01.RELEASE_NOTEBOOK))
    path = work / f"{asg01.NAME}.ipynb"
    path.write_text(json.dumps(solved))

    handler = functools.partial(_RecordingHandler, directory=str(asg01.RELEASE))
    _RecordingHandler.requested = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("NBGRADER", "PYTHONPATH"))}
    env.update({"ASG01_BASE_URL": f"http://127.0.0.1:{server.server_address[1]}/",
                "KANNADA_MNIST_DIR": str(kannada_cache), "ASG01_TRAIN_SPLIT": "test",
                "KANNADA_MNIST_URL": "http://127.0.0.1:9/",
                "PATH": f"{env_dir / 'bin'}{os.pathsep}{env['PATH']}"})
    try:
        subprocess.run([str(python), "-c", RUN_NOTEBOOK, str(path)], cwd=work, env=env, check=True,
                       capture_output=True)
    finally:
        server.shutdown()
    nb = notebook.read(path)
    return {"nb": nb, "python": python, "requested": list(_RecordingHandler.requested), "work": work}


def _text(cell):
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")


@pytest.mark.slow
def test_student_environment_has_no_nbgrader(student_run):
    """Is the student's environment really without nbgrader (as in Colab)?"""
    result = subprocess.run([str(student_run["python"]), "-c", "import nbgrader"], capture_output=True)
    assert result.returncode != 0


@pytest.mark.slow
def test_first_cell_fetches_the_helper_files(student_run):
    """Did the setup cell download the loader, both check modules and the public fixtures over HTTP?"""
    assert sorted(student_run["requested"]) == sorted(
        ["/course_checks.py", "/asg01_checks.py", "/kannada_mnist.py", "/asg01_public_fixtures.npz"])
    for name in ("course_checks.py", "asg01_checks.py", "kannada_mnist.py", "asg01_public_fixtures.npz"):
        assert (student_run["work"] / name).read_bytes() == (asg01.RELEASE / name).read_bytes()


@pytest.mark.slow
def test_solved_release_runs_top_to_bottom(student_run):
    """Does every cell of the solved release run without an error?"""
    errors = [notebook.grade_id(c) or c.source[:40] for c in student_run["nb"].cells
              if c.cell_type == "code" and any(o.output_type == "error" for o in c.outputs)]
    assert errors == []


@pytest.mark.slow
def test_visible_tests_report_success(student_run):
    """Does every visible test cell print its 'passed:' line?"""
    cells = notebook.cells_by_grade_id(student_run["nb"])
    for grade_id in [g for g in cells if g.startswith("test_") and g.endswith("_visible")]:
        assert "passed:" in _text(cells[grade_id]), grade_id


@pytest.mark.slow
def test_training_shows_progress_curves_and_reaches_94_percent(student_run):
    """Does full training show a progress bar and curves, and reach >= 94% on the stand-in split (about 94.7%)?"""
    cells = notebook.cells_by_grade_id(student_run["nb"])
    assert "STAND-IN DATA" in _text(cells["load_data"])
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in cells["train"].outputs)
    assert any("image/png" in o.get("data", {}) for o in cells["learning_curves"].outputs)
    loss = float(re.search(r"initial loss ([\d.]+)", _text(cells["sanity_initial_loss"])).group(1))
    assert abs(loss - 2.303) < 0.3
    accuracy = float(re.search(r"validation accuracy: ([\d.]+)%", _text(cells["test_training"])).group(1))
    print(f"reference validation accuracy on the stand-in split: {accuracy}%")
    assert accuracy >= 94.0
