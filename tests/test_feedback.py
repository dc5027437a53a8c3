"""Feedback built from an allow-list (mlpcourse.reports.feedback), through real ``nbgrader generate_feedback``.

ben's autograded notebook in a copy of the graded demo class is made as bad as it could
be: it already holds the mark schemes and the hidden tests (nbgrader restores locked
cells from the gradebook); here its hidden test cells also carry outputs naming the
hidden fixtures, a visible test and a cell of ben's carry script payloads, and his
written answer and a grader's comment hold an ``onerror`` image. None of it may reach
the page, which still shows each test's verdict and ben's own work.
"""

from html.parser import HTMLParser

import bs4
import nbformat
import pytest
from nbgrader.api import Gradebook

import graded_demo
import asg01
from mlpcourse import paths, records
from mlpcourse.authoring import notebook
from mlpcourse.grading import coursedir
from mlpcourse.reports import feedback, markup

STUDENT = "ben"
LEAK = "LEAKED-HIDDEN-OUTPUT"
PAYLOAD = "<img src=x onerror=\"fetch('/api/contents/nbgrader_config.py')\">"
VERDICTS = {
    "test_relu_hidden": ("failed", "relu(x) has wrong values\n  case: a 3-D array"),
    "test_softmax_visible": ("failed", "softmax(y_hat) has wrong values"),
    "test_sigmoid_visible": ("passed", ""),
    "test_cross_entropy_hidden": ("not run", "This cell was not run: the kernel died."),
}  # every other test cell's run.json entry loses its verdict: feedback must cope


def _hidden_regions():
    """The lines of every hidden-test region of the master (what the gradebook restores)."""
    lines = []
    for cell in notebook.read(asg01.MASTER).cells:
        inside = False
        for line in cell.source.splitlines():
            if "BEGIN HIDDEN TESTS" in line:
                inside = True
            elif "END HIDDEN TESTS" in line:
                inside = False
            elif inside and len(line.strip()) > 15:
                lines.append(line.strip())
    return lines


def _mark_schemes():
    schemes = []
    for cell in notebook.read(asg01.MASTER).cells:
        if "BEGIN MARK SCHEME" in cell.source:
            inside = cell.source.split("BEGIN MARK SCHEME", 1)[1].split("END MARK SCHEME", 1)[0]
            schemes += [line.strip("> *").strip() for line in inside.splitlines() if len(line.strip()) > 30]
    return schemes


class _Page(HTMLParser):
    """The feedback page's text, scripts and event-handler attributes."""

    def __init__(self, text):
        super().__init__(convert_charrefs=True)
        self.scripts, self.handlers, self.words, self._in_script = [], [], [], False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        if tag == "script":
            self.scripts.append(dict(attrs))
            self._in_script = True
        self.handlers += [(tag, name) for name, _ in attrs if name.startswith("on") or name == "srcdoc"]

    def handle_endtag(self, tag):
        self._in_script = self._in_script and tag != "script"

    def handle_data(self, data):
        if not self._in_script:
            self.words.append(data)

    @property
    def text(self):
        return " ".join(" ".join(self.words).split())


def _plant(course):
    """Make ben's autograded notebook, run record and comments as hostile as they could be."""
    path = course / "autograded" / STUDENT / asg01.NAME / f"{asg01.NAME}.ipynb"
    nb = notebook.read(path)
    cells = notebook.cells_by_grade_id(nb)
    for grade_id, cell in cells.items():
        if grade_id.endswith("_hidden"):
            cell.outputs += [
                nbformat.v4.new_output("stream", name="stdout",
                                       text=f"{LEAK} {course}/tests_assets/asg01/asg01_hidden_fixtures.npz\n"),
                nbformat.v4.new_output("error", ename="AssertionError", evalue=f"{LEAK} asg01_hidden.check_relu",
                                       traceback=[f"{LEAK} File asg01_hidden.py"])]
    cells["test_softmax_visible"].outputs.append(
        nbformat.v4.new_output("display_data", data={"text/html": PAYLOAD, "text/plain": "x"}))
    cells["q_nonlinear"].source = f"My answer. {PAYLOAD}"
    extra = nbformat.v4.new_code_cell("show()", outputs=[nbformat.v4.new_output(
        "display_data", data={"text/html": PAYLOAD, "application/javascript": "fetch('/api/contents')",
                              "text/plain": "<shown>"})])
    nb.cells.insert(nb.cells.index(cells["q_nonlinear"]) + 1, extra)
    nbformat.write(nb, str(path))

    run_path = paths.records_folder(course, asg01.NAME, STUDENT) / "run.json"
    run = records.read(run_path)
    for entry in run["cells"]:
        entry.pop("verdict", None)
        entry.pop("message", None)
        if entry.get("grade_id") in VERDICTS:
            entry["verdict"], entry["message"] = VERDICTS[entry["grade_id"]]
    records.write(run_path, run)

    with Gradebook(coursedir.default_db_url(course)) as gradebook:
        comment = gradebook.find_comment("q_nonlinear", asg01.NAME, asg01.NAME, STUDENT)
        comment.manual_comment = f"Good. {PAYLOAD}"
        gradebook.db.commit()


@pytest.fixture(scope="module")
def page(kannada_cache, tmp_path_factory):
    """ben's feedback page after planting, as ``(raw HTML, parsed page, course)``."""
    demo_course, _ = graded_demo.graded_demo(tmp_path_factory, kannada_cache)
    course = graded_demo.copy_course(demo_course, tmp_path_factory.mktemp("feedback") / "course")
    _plant(course)
    coursedir.nbgrader("generate_feedback", asg01.NAME, "--student", STUDENT, "--force", course_dir=course)
    raw = (course / "feedback" / STUDENT / asg01.NAME / f"{asg01.NAME}.html").read_text()
    return raw, _Page(raw), course


@pytest.mark.slow
def test_no_mark_scheme_or_hidden_test_reaches_feedback(page):
    """Are mark schemes, hidden-test source and the hidden fixtures' path absent, though the graded copy has them?"""
    raw, parsed, course = page
    graded = (course / "autograded" / STUDENT / asg01.NAME / f"{asg01.NAME}.ipynb").read_text()
    hidden, schemes = _hidden_regions(), _mark_schemes()
    assert hidden and schemes and all(line in graded for line in hidden[:3])  # the planted source is there
    for text in hidden + schemes:
        assert text not in parsed.text, text
    for secret in ("BEGIN HIDDEN TESTS", "BEGIN MARK SCHEME", "asg01_hidden", "hidden_fixtures", "tests_assets",
                   LEAK, str(course)):
        assert secret not in raw, secret


@pytest.mark.slow
def test_no_payload_runs_in_feedback(page):
    """Does the page hold no event handler and no script but the template's MathJax?"""
    raw, parsed, _ = page
    assert parsed.handlers == []
    assert [s.get("src", s.get("type")) for s in parsed.scripts] == [
        "https://cdnjs.cloudflare.com/ajax/libs/mathjax/2.7.7/latest.js?config=TeX-AMS_CHTML-full,Safe",
        "text/x-mathjax-config"]
    assert "fetch('/api/contents')" not in raw  # the JavaScript output is dropped
    # ben's answer and the grader's comment are shown as text, escaped.
    assert f"My answer. {PAYLOAD}" in parsed.text and PAYLOAD not in raw
    assert f"Good. {PAYLOAD}" in parsed.text


@pytest.mark.slow
def test_every_image_has_alt_text(page):
    """Does every image on the page, the plots and the sanitised ``<img>`` of ben's output alike, have alt text?"""
    raw, _, _ = page
    images = bs4.BeautifulSoup(raw, "html.parser").select("img")
    assert len(images) >= 3 and all(image.get("alt") is not None for image in images)


# Pages on which an ``<img`` is a tag, or only looks like one (in an attribute value, a
# comment, a script or style, a textarea's text).
ALT_CASES = [
    '<p>a</p><img src="a.png"><IMG SRC="b.png"/><img\nsrc="c.png" alt=""><img alt="d" src="d.png">',
    '<a title="<img src=x onerror=alert(1)>">t</a><img src="e.png" title=\'a>b\'>',
    '<!-- <img src="f.png"> --><script>var s = "<img src=g.png>";</script><style>/* <img> */</style>',
    '<textarea><img src="h.png"></textarea>&lt;img src="i.png"&gt;<img\tsrc=j.png><img/src=k.png>',
    '<div>\n\n  <img src="l.png">\n<img data-alt="m" src="m.png">\u00e9<img src="n.png"></div>',
]


def _nbconverts_pass(page):
    """nbconvert 7.17's accessibility pass (HTMLExporter.from_notebook_node) as a tree of (tag, attrs, text)."""
    soup = bs4.BeautifulSoup(page, features="html.parser")
    for element in soup.select("img:not([alt])"):
        element.attrs["alt"] = feedback.MISSING_ALT
    return _tree(str(soup))


def _tree(page):
    return [(node.name, sorted(node.attrs.items()), None) if isinstance(node, bs4.Tag) else (None, None, str(node))
            for node in bs4.BeautifulSoup(page, features="html.parser").descendants]


@pytest.mark.parametrize("page", ALT_CASES)
def test_alt_text_is_nbconverts_and_the_rest_is_kept(page):
    """Does the exporter's in-place pass give the document nbconvert's re-parse gives, touching only img tags?"""
    shown, missing = feedback.with_alt_text(page)
    assert _tree(shown) == _nbconverts_pass(page)
    assert missing == len(bs4.BeautifulSoup(page, features="html.parser").select("img:not([alt])"))
    assert shown.replace(f' alt="{feedback.MISSING_ALT}"', "") == page


@pytest.mark.slow
def test_tests_show_verdicts_and_only_visible_outputs(page):
    """Does each test show run.json's verdict; a visible test its own output too; a hidden test nothing else?"""
    raw, parsed, _ = page
    text = parsed.text
    for grade_id, (verdict, message) in VERDICTS.items():
        shown = f"{feedback.VERDICT_HEADING}: {verdict} {' '.join(message.split())}".strip()
        assert shown in text, grade_id
    assert text.count(f"{feedback.VERDICT_HEADING}:") == len(VERDICTS)  # none where run.json has none
    # The visible softmax test keeps the kernel's own explanation (its CheckFailure traceback).
    assert "the worst is at index" in text and "hint: exponentiate" in text


@pytest.mark.slow
def test_scores_and_cells_are_nbgrader_and_release(page):
    """Are the scores the gradebook's, and the test cells the release's, in the release's order?"""
    raw, parsed, course = page
    scores = coursedir.cell_scores(course, asg01.NAME)[STUDENT]
    total = sum(score for score, _ in scores.values())
    assert f"(Score: {total:.1f} / {sum(full for _, full in scores.values()):.1f})" in raw
    release = notebook.read(course / "release" / asg01.NAME / f"{asg01.NAME}.ipynb")
    docstrings = [cell.source.splitlines()[0] for cell in release.cells
                  if notebook.grade_id(cell) and notebook.grade_id(cell).startswith("test_")]
    positions = [parsed.text.find(" ".join(line.split())) for line in docstrings]
    assert -1 not in positions and positions == sorted(positions)


def test_student_cells_lose_their_metadata():
    """Does a student's own cell keep its source and sanitised outputs, and lose metadata and grade ids?"""
    cell = nbformat.v4.new_code_cell("x = 1", metadata={"nbgrader": {"grade_id": "q_gd\" onclick=\"x",
                                                                      "grade": True, "points": 100}},
                                     outputs=[nbformat.v4.new_output("display_data", data={
                                         "text/html": PAYLOAD, "image/svg+xml": "<svg/>"})])
    shown = feedback.StudentFeedback()._student_cell(cell)
    assert shown.source == "x = 1" and shown.metadata == {}
    assert shown.outputs[0].data == {"text/html": markup.html(PAYLOAD)} == {"text/html": "<img>"}
