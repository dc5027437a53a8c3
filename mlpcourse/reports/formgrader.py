"""``python -m mlpcourse formgrader``: JupyterLab with nbgrader's formgrader, for graders.

The server runs JupyterLab on loopback only, with a token, rooted at the course
directory, so that nbgrader's formgrader (a server extension, enabled when nbgrader
is installed; the JupyterLab "Nbgrader" menu opens it) reads this course's
``nbgrader_config.py`` and ``gradebook.db``. Graders open
``http://127.0.0.1:PORT/formgrader?token=TOKEN`` (or Nbgrader → Formgrader in
JupyterLab) and grade the written answers; each question's mark scheme is shown in
the question cell above the student's answer (see ``nbgrader_config.py``).

Student markup is sanitised before it is stored (:mod:`mlpcourse.reports.markup`); the server
adds two layers in case something slipped through, loaded as a Jupyter server
extension (this module):

- a **Content-Security-Policy** on every page: scripts, styles, images and
  connections from this server only (:data:`SERVER_POLICY`; JupyterLab and
  formgrader's own pages need inline scripts); the page that shows a submission gets
  a strict one (:func:`submission_policy`): only formgrader's own scripts run, by
  their hashes, so an event handler, a ``<script>`` or a ``javascript:`` link in a
  submission would not; formgrader pages asked for with quotes or angle brackets in
  their address are refused (nbgrader writes path parts into inline scripts
  unescaped);
- a **read-only Jupyter API** (:class:`ReadOnlyAuthorizer`): the grading server
  reads files but never writes them, runs no kernel and opens no terminal, so a
  script in the grader's page could not rewrite ``nbgrader_config.py`` or run code.
  Formgrader's own grade and comment API is nbgrader's and stays writable.
"""

import base64
import hashlib
import os
import secrets
import sys
import urllib.parse
from html.parser import HTMLParser

from jupyter_server.auth import Authorizer
from tornado.httputil import HTTPHeaders
from tornado.web import OutputTransform

from mlpcourse.grading import coursedir

LOOPBACK = "127.0.0.1"

# Every page: nothing loaded from or sent to another origin, no plugins, no foreign framing.
SERVER_POLICY = "; ".join([
    "default-src 'self'", "script-src 'self' 'unsafe-inline' 'unsafe-eval'", "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:", "font-src 'self' data:", "connect-src 'self'", "worker-src 'self' blob:",
    "object-src 'none'", "base-uri 'self'", "form-action 'self'", "frame-ancestors 'self'",
])
# nbgrader's page that shows one submission (its SubmissionHandler), the only one with student content.
SUBMISSION_PAGE = "/formgrader/submissions/"
# Where formgrader's page puts the notebook: every script before it is formgrader's own.
NOTEBOOK_CONTAINER = "notebook"
# API resources of the Jupyter server that a grading page never writes to or executes.
READ_ONLY_RESOURCES = frozenset({"contents", "kernels", "sessions", "terminals", "server", "config", "lsp"})


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
        # The policies and the read-only API of this module (see its docstring).
        "--ServerApp.jpserver_extensions", f"{__name__}=True",
        f"--ServerApp.authorizer_class={__name__}.ReadOnlyAuthorizer",
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
    os.execve(argv[0], argv, coursedir.environment())


class _TrustedScripts(HTMLParser):
    """The inline scripts and event handlers of a formgrader page, up to the notebook container."""

    def __init__(self, page):
        super().__init__(convert_charrefs=False)
        self.sources, self._script, self._done = [], None, False
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if self._done or attrs.get("id") == NOTEBOOK_CONTAINER:
            self._done = True
            return
        self.sources += [value for name, value in attrs.items() if name.startswith("on") and value]
        if tag == "script" and "src" not in attrs and attrs.get("type", "text/javascript") == "text/javascript":
            self._script = []

    def handle_data(self, data):
        if self._script is not None:
            self._script.append(data)

    def handle_endtag(self, tag):
        if tag == "script" and self._script is not None:
            self.sources.append("".join(self._script))
            self._script = None


def _hash(source):
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode()).digest()).decode() + "'"


def submission_policy(page):
    """The strict Content-Security-Policy of a submission page (HTML text ``page``).

    Only formgrader's own inline scripts and handlers (those before the notebook) run,
    allowed by their hashes: nothing in the notebook can run, not even a ``javascript:``
    link. Formulas are left as LaTeX: MathJax would come from a CDN.
    """
    hashes = " ".join(sorted({_hash(source) for source in _TrustedScripts(page).sources}))
    return "; ".join([
        "default-src 'self'", f"script-src 'self' 'unsafe-hashes' {hashes}", "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:", "font-src 'self' data:", "connect-src 'self'", "object-src 'none'",
        "base-uri 'none'", "form-action 'none'", "frame-src 'none'", "frame-ancestors 'self'",
    ])


class PagePolicy(OutputTransform):
    """Set :func:`submission_policy` on submission pages (files beside a submission may not run at all);
    refuse formgrader pages with markup in their address."""

    def __init__(self, request):
        super().__init__(request)
        self.path = urllib.parse.unquote(request.path)

    def transform_first_chunk(self, status_code, headers, chunk, finishing):
        if "/formgrader/" in self.path and set(self.path) & set("\"'<>\\"):
            body = b"not a formgrader address\n"
            return 400, HTTPHeaders({"Content-Type": "text/plain; charset=UTF-8",
                                     "Content-Length": str(len(body))}), body
        _, found, rest = self.path.partition(SUBMISSION_PAGE)
        if found and headers.get("Content-Type", "").startswith("text/html"):
            page = finishing and "/" not in rest.rstrip("/")  # the page itself, not a file beside the notebook
            headers["Content-Security-Policy"] = (submission_policy(chunk.decode("utf-8", "replace")) if page
                                                  else "default-src 'none'; sandbox")
        return status_code, headers, chunk


class ReadOnlyAuthorizer(Authorizer):
    """Jupyter API access for graders: read anything; write, execute nothing in READ_ONLY_RESOURCES."""

    def is_authorized(self, handler, user, action, resource):
        return action == "read" or resource not in READ_ONLY_RESOURCES


def _jupyter_server_extension_points():
    return [{"module": __name__}]


def _load_jupyter_server_extension(serverapp):
    """Install the server-wide policy and the submission pages' transform."""
    serverapp.web_app.settings.setdefault("headers", {})["Content-Security-Policy"] = SERVER_POLICY
    serverapp.web_app.add_transform(PagePolicy)
