"""Script payloads in a submission, opened as a TA and a student would: nothing runs.

mallory's upload carries script in every place a student controls: written answers
(an ``onerror`` image, an ``onload`` SVG, ``<script>``, ``javascript:`` links, an
``srcdoc`` frame, a ``<details ontoggle>``), the outputs of her code (HTML, JavaScript,
SVG, markdown and widget outputs), a markdown cell and a raw cell of her own. Each
payload, if it ran, would count itself in ``top.pwned`` and fetch
``/api/contents/pwned-N`` with the grader's cookie. It is graded through real
``nbgrader autograde``, then opened in formgrader (the manual-grading page), in
JupyterLab (the autograded notebook), as the feedback page and in the class report.
"""

import functools
import hashlib
import http.server
import secrets
import sqlite3
import sys
import threading

import nbformat
import pytest

from hostile.kit import Context, _index, _source, _with_cell
import asg01
from mlpcourse import paths
from mlpcourse.authoring import notebook, release
from mlpcourse.grading import coursedir
from mlpcourse.reports import markup, report

STUDENT = "mallory"
COURSE_FILES = ("nbgrader_config.py", "source", "release", "tests_assets")


def js(n):
    """What payload ``n`` runs: it counts itself and calls the Jupyter API with the grader's cookie."""
    return f"top.pwned=(top.pwned||0)+1;fetch('/api/contents/pwned-{n}')"


def hostile_submission(release_nb):
    """The fast reference solution with script payloads in answers, outputs and the student's own cells."""
    nb = Context(release_nb, notebook.read(asg01.MASTER), 9).solved()
    _source(nb, "q_nonlinear").source = f'My answer to question 1. <img src=x onerror="{js(1)}">'
    _source(nb, "q_he_init").source = f'He initialisation. <svg onload="{js(2)}"><circle r="2"/></svg>'
    _source(nb, "q_gd").source = f"See [my notes](javascript:{js(3)}) and <script>{js(4)}</script>."
    _source(nb, "q_bias_variance").source = (f'<iframe srcdoc="<script>{js(5)}</script>"></iframe>'
                                             f'<details open ontoggle="{js(6)}">more</details> Overfitting.')
    html = f'<img src=x onerror="{js(7)}"><a href="javascript:{js(8)}">plot</a>'
    svg = {"image/svg+xml": f'<svg xmlns="http://www.w3.org/2000/svg" onload="{js(10)}"/>', "text/plain": "svg"}
    widget = {"application/vnd.jupyter.widget-view+json": {"model_id": "w", "version_major": 2, "version_minor": 0},
              "text/plain": "widget"}
    _with_cell(nb, "test_sigmoid_hidden", f"""
        from IPython.display import HTML, Javascript, Markdown, display
        display(HTML({html!r}))
        display(Javascript({js(9)!r}))
        display({svg!r}, raw=True)
        display(Markdown({f'<img src=x onerror="{js(11)}">'!r}))
        display({widget!r}, raw=True)
    """)
    at = _index(nb, "q_gd") + 1
    nb.cells[at:at] = [nbformat.v4.new_markdown_cell(f'Scratch notes <img src=x onerror="{js(12)}">'),
                       nbformat.v4.new_raw_cell(f"<script>{js(13)}</script>", metadata={"format": "text/html"})]
    return nb


def snapshot(course):
    """The gradebook's grades and comments, and the hashes of the course's own files."""
    with sqlite3.connect(course / "gradebook.db") as db:
        grades = db.execute("SELECT id, auto_score, manual_score, extra_credit, needs_manual_grade FROM grade "
                            "ORDER BY id").fetchall()
        comments = db.execute("SELECT id, auto_comment, manual_comment FROM comment ORDER BY id").fetchall()
    files = {p.relative_to(course).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
             for name in COURSE_FILES for p in sorted((course / name).rglob("*")) + [course / name] if p.is_file()}
    return grades, comments, files


def submission_id(course):
    with sqlite3.connect(course / "gradebook.db") as db:
        return db.execute("SELECT sn.id FROM submitted_notebook sn JOIN submitted_assignment sa "
                          "ON sa.id = sn.assignment_id WHERE sa.student_id = ?", (STUDENT,)).fetchone()[0]


@pytest.fixture(scope="module")
def graded_course(kannada_cache, tmp_path_factory):
    """A course with mallory's submission autograded, her feedback and the class report written."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv(asg01.DATA_CACHE_ENV, str(kannada_cache))
        env.setenv("ASG01_TRAIN_SPLIT", "test")
        env.setenv("KANNADA_MNIST_URL", "http://127.0.0.1:9/")
        course = coursedir.make_course(tmp_path_factory.mktemp("hostile-markup") / "course")
        release_dir = release.generate(course, asg01.NAME)
        release_nb = notebook.read(release_dir / f"{asg01.NAME}.ipynb")
        coursedir.submit(course, STUDENT, hostile_submission(release_nb), asg01.NAME)
        coursedir.nbgrader("autograde", asg01.NAME, "--student", STUDENT, "--force", course_dir=course)
        coursedir.nbgrader("generate_feedback", asg01.NAME, "--student", STUDENT, "--force", course_dir=course)
        report.build(course, course / "build" / "report", assignment=asg01.NAME)
    return course


class Watch:
    """What payloads did in a browser: API requests they made and CSP violations pages reported."""

    REPORT_VIOLATIONS = ("window.__violations = [];"
                         "document.addEventListener('securitypolicyviolation', e => "
                         "window.__violations.push([e.violatedDirective, e.blockedURI, e.sample].join(' ')));")

    def __init__(self, browser):
        self.requests = []
        browser.context.on("request", lambda request: self.requests.append(request.url))
        browser.context.add_init_script(self.REPORT_VIOLATIONS)

    @property
    def payload_requests(self):
        return [url for url in self.requests if "pwned-" in url]


def ran(page, content):
    """How many payloads ran in the page and its frames, and the live script hooks (event handlers,
    srcdoc, javascript: URLs) left in the elements that show the notebook (CSS selector ``content``)."""
    counts, hooks = [], []
    for frame in page.frames:
        counts.append(frame.evaluate("() => window.pwned || 0"))
        hooks += frame.evaluate("""content => [...document.querySelectorAll(content + ', ' + content + ' *')]
            .flatMap(el => [...el.attributes].filter(a => /^on/i.test(a.name) || a.name === 'srcdoc' ||
                            /^\\s*javascript:/i.test(a.value)).map(a => el.tagName + ' ' + a.name))""", content)
    return sum(counts), hooks


def script_violations(page):
    """The page's CSP reports of inline script, handlers, eval or javascript: URLs it refused to run.

    (The policy also refuses, by design, MathJax from its CDN and images from other sites.)
    """
    found = [v for frame in page.frames for v in frame.evaluate("() => window.__violations || []")]
    return [v for v in found if v.split(" ")[1] in ("inline", "eval") or "pwned" in v]


def start_formgrader(start_server, course, env):
    token = secrets.token_hex(16)
    base = start_server(lambda port: [sys.executable, "-m", "mlpcourse", "formgrader", "--course-dir", str(course),
                                      "--port", str(port), "--token", token], cwd=paths.ROOT, env=env, token=token)
    return base, token


@pytest.mark.slow
def test_stored_notebook_holds_no_live_markup(graded_course):
    """Does the autograded notebook (what formgrader and JupyterLab show) hold only sanitised markup?"""
    graded = notebook.read(graded_course / "autograded" / STUDENT / asg01.NAME / f"{asg01.NAME}.ipynb")
    cells = notebook.cells_by_grade_id(graded)
    assert all(cells[q].source.startswith(markup.NOTE) for q in ("q_nonlinear", "q_he_init", "q_gd", "q_bias_variance"))
    outputs = [out for cell in graded.cells if cell.cell_type == "code" for out in cell.outputs]
    mimes = {mime for out in outputs for mime in out.get("data", {})}
    assert "text/html" in mimes and not mimes & {
        "application/javascript", "image/svg+xml", "text/markdown", "application/vnd.jupyter.widget-view+json"}
    for out in outputs:
        assert "onerror" not in out.get("data", {}).get("text/html", "") and "javascript:" not in str(out.get("data"))
    assert [cell.source for cell in graded.cells if cell.cell_type == "raw"] == [js(13)]  # script tag gone


@pytest.mark.slow
@pytest.mark.browser
def test_formgrader_and_jupyterlab_run_no_student_script(graded_course, jupyter_env, browser, start_server, screenshot):
    """As the TA: do formgrader's manual-grading page and JupyterLab run no payload, make no API request
    for it, and leave the gradebook and course files unchanged; and does grading still work there?"""
    watch = Watch(browser)
    before = snapshot(graded_course)
    base, token = start_formgrader(start_server, graded_course, jupyter_env)
    page = browser.new_page()
    page.goto(f"{base}/login?token={token}")  # sets the login cookie formgrader's API requests need
    page.goto(f"{base}/formgrader/submissions/{submission_id(graded_course)}/")
    page.wait_for_function("() => formgrader.grades.loaded && formgrader.comments.loaded")
    assert "My answer to question 1." in page.locator("#notebook").first.inner_text()
    assert ran(page, "#notebook-container") == (0, [])
    assert script_violations(page) == []  # nothing even tried: the sanitiser removed it before the policy had to
    screenshot(page, "formgrader_hostile_submission")

    lab = browser.new_page()
    lab.goto(f"{base}/lab/tree/autograded/{STUDENT}/{asg01.NAME}/{asg01.NAME}.ipynb")
    for text in ("My answer to question 1.", "Scratch notes", "Overfitting."):  # rendered, as text
        lab.locator(".jp-RenderedMarkdown", has_text=text).first.wait_for()
    assert ran(lab, ".jp-Notebook") == (0, [])

    assert watch.payload_requests == []
    assert snapshot(graded_course) == before

    # Formgrader's own scripts still run under the strict policy: the TA's grade is saved.
    with page.expect_response(lambda r: "/formgrader/api/grade/" in r.url and r.request.method == "PUT") as saved:
        page.locator("#q_nonlinear").fill("3")
        page.locator("#q_nonlinear").blur()
    assert saved.value.ok
    assert script_violations(page) == []


@pytest.mark.slow
@pytest.mark.browser
def test_policy_stops_markup_that_was_never_sanitised(graded_course, jupyter_env, browser, start_server):
    """If an autograded notebook held raw payloads (graded before this fix), would formgrader's policy block them,
    and would the Jupyter API refuse to write nbgrader_config.py?"""
    course = graded_course
    path = course / "autograded" / STUDENT / asg01.NAME / f"{asg01.NAME}.ipynb"
    kept = path.read_bytes()
    graded = notebook.read(path)
    notebook.cells_by_grade_id(graded)["q_nonlinear"].source = f'Raw <img src=x onerror="{js(21)}">'
    graded.cells.append(nbformat.v4.new_code_cell("x", outputs=[nbformat.v4.new_output(
        "display_data", data={"text/html": f"<script>{js(22)}</script><a id=bad href=\"javascript:{js(23)}\">x</a>"})]))
    nbformat.write(graded, str(path))
    try:
        watch = Watch(browser)
        before = snapshot(course)
        base, token = start_formgrader(start_server, course, jupyter_env)
        page = browser.new_page()
        page.goto(f"{base}/login?token={token}")
        page.goto(f"{base}/formgrader/submissions/{submission_id(course)}/")
        page.wait_for_function("() => formgrader.grades.loaded && formgrader.comments.loaded")
        page.locator("#bad").click()
        page.wait_for_timeout(500)
        assert page.evaluate("() => window.pwned || 0") == 0
        assert len(script_violations(page)) >= 3  # the handler, the script and the link were each refused
        # A script that did run could not write the course's files through the API.
        written = page.evaluate("""async () => (await fetch('/api/contents/nbgrader_config.py', {method: 'PUT',
            headers: {'Content-Type': 'application/json', 'X-XSRFToken': document.cookie.match(/_xsrf=([^;]+)/)[1]},
            body: JSON.stringify({type: 'file', format: 'text', content: 'import os'})})).status""")
        assert written == 403
        assert watch.payload_requests == []
        assert snapshot(course) == before
    finally:
        path.write_bytes(kept)


@pytest.fixture
def served_course(graded_course):
    """The course folder served over HTTP on 127.0.0.1 (the browser reaches loopback only): its base URL."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(graded_course))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.slow
@pytest.mark.browser
def test_feedback_and_report_run_no_student_script(served_course, browser):
    """As the student and the TA: do the feedback page and the class report run no payload?"""
    watch = Watch(browser)
    for path, content in ((f"feedback/{STUDENT}/{asg01.NAME}/{asg01.NAME}.html", "#notebook-container"),
                          ("build/report/index.html", "body")):
        page = browser.new_page()
        assert page.goto(f"{served_course}/{path}", wait_until="load").ok
        assert ran(page, content) == (0, []), path
    assert watch.payload_requests == []
