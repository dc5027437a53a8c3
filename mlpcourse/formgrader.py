"""``python -m mlpcourse formgrader``: JupyterLab with nbgrader's formgrader, for graders.

The server runs JupyterLab on loopback only, with a token, rooted at the course
directory, so that nbgrader's formgrader (a server extension, enabled when nbgrader
is installed; the JupyterLab "Nbgrader" menu opens it) reads this course's
``nbgrader_config.py`` and ``gradebook.db``. Graders open
``http://127.0.0.1:PORT/formgrader?token=TOKEN`` (or Nbgrader → Formgrader in
JupyterLab) and grade the written answers; each question's mark scheme is shown in
the question cell above the student's answer (see ``nbgrader_config.py``).
"""

import os
import secrets
import sys

from mlpcourse import grading

LOOPBACK = "127.0.0.1"


def urls(port, token):
    """The JupyterLab and formgrader addresses a grader opens, token included."""
    base = f"http://{LOOPBACK}:{port}"
    return {"lab": f"{base}/lab?token={token}", "formgrader": f"{base}/formgrader?token={token}"}


def jupyterlab_command(root_dir, port, token):
    """The argv that starts JupyterLab on loopback, with a token, serving ``root_dir``.

    Parameters
    ----------
    root_dir : path-like
        The folder JupyterLab shows; for grading, the nbgrader course directory.
    port : int
        TCP port on 127.0.0.1; the server fails rather than pick another one.
    token : str
        The secret every request must carry (``?token=`` or an Authorization header).
    """
    return [
        sys.executable, "-m", "jupyterlab",
        f"--ServerApp.ip={LOOPBACK}",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--ServerApp.root_dir={os.fspath(root_dir)}",
        f"--IdentityProvider.token={token}",
        "--ServerApp.open_browser=False",
        # Containers and CI run as root; Jupyter refuses that unless told.
        *(["--ServerApp.allow_root=True"] if os.geteuid() == 0 else []),
    ]


def serve(course_dir, port, token=None, log=print):
    """Replace this process with the JupyterLab server (never returns).

    ``token`` defaults to ``$JUPYTER_TOKEN``, else a fresh random one; the addresses
    to open are printed first. Running the server in place of this process (exec)
    means stopping it (Ctrl-C, SIGTERM) stops JupyterLab directly.
    """
    course_dir = os.path.abspath(course_dir)
    if not os.path.exists(os.path.join(course_dir, "nbgrader_config.py")):
        raise FileNotFoundError(f"{course_dir} is not an nbgrader course directory (no nbgrader_config.py)")
    token = token or os.environ.get("JUPYTER_TOKEN") or secrets.token_urlsafe(24)
    addresses = urls(port, token)
    log(f"formgrader for {course_dir}:\n  {addresses['formgrader']}\n  JupyterLab: {addresses['lab']}")
    sys.stdout.flush()
    argv = jupyterlab_command(course_dir, port, token)
    os.chdir(course_dir)  # formgrader reads nbgrader_config.py from the working directory
    os.execve(argv[0], argv, grading.environment())
