"""Manual grading of the written answers: mark schemes for graders only, formgrader in Chromium."""

import html
import re
import secrets
import sys
import urllib.parse
import urllib.request

import pytest
from nbconvert import HTMLExporter
from nbgrader.api import Gradebook

import graded_demo
import asg01
from mlpcourse import paths
from mlpcourse.authoring import notebook
from mlpcourse.grading import coursedir, demo
from mlpcourse.reports import formgrader

WRITTEN_QUESTIONS = ("q_nonlinear", "q_he_init", "q_gd", "q_bias_variance")
# nbgrader's default ClearMarkScheme delimiters.
BEGIN_MARK_SCHEME, END_MARK_SCHEME = "BEGIN MARK SCHEME", "END MARK SCHEME"

# What the grader does in the test: ben's answer to question 2, 7 of 9 points.
STUDENT, QUESTION, SCORE = "ben", "q_he_init", 7.0
COMMENT = "Good variance argument with the factor 2; the symmetry problem of zero weights is missing."


def mark_schemes(nb):
    """``{grade_id: text}`` of the mark-scheme regions in ``nb``, delimiter lines excluded."""
    schemes = {}
    for cell in nb.cells:
        lines = cell.source.split("\n")
        begins = [i for i, line in enumerate(lines) if BEGIN_MARK_SCHEME in line]
        ends = [i for i, line in enumerate(lines) if END_MARK_SCHEME in line]
        if begins:
            schemes[notebook.grade_id(cell)] = "\n".join(lines[begins[0] + 1:ends[0]]).strip()
    return schemes


def words(text):
    """The words of markdown or page text: quote and bold marks and spacing removed."""
    text = re.sub(r"^\s*>\s?", "", text, flags=re.MULTILINE).replace("**", "")
    return " ".join(text.split())


def html_words(page):
    """The words of an HTML page: scripts, styles and tags removed, entities decoded."""
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.DOTALL)
    return words(html.unescape(re.sub(r"<[^>]+>", " ", page)))


def autograded_notebook(course_dir, student):
    """``student``'s notebook as ``nbgrader autograde`` left it: what formgrader shows graders."""
    return notebook.read(course_dir / "autograded" / student / asg01.NAME / f"{asg01.NAME}.ipynb")


def feedback_page(course_dir, student):
    """The HTML feedback of ``student``, as written by ``nbgrader generate_feedback``."""
    return (course_dir / "feedback" / student / asg01.NAME / f"{asg01.NAME}.html").read_text()


def gradebook(course_dir):
    """The course's nbgrader gradebook (use it as a context manager)."""
    return Gradebook(coursedir.default_db_url(course_dir))


@pytest.fixture(scope="module")
def graded_class(kannada_cache, tmp_path_factory):
    """A copy of the session's graded demo class (autograded, with feedback and grades.csv)."""
    course_dir, _ = graded_demo.graded_demo(tmp_path_factory, kannada_cache)
    return graded_demo.copy_course(course_dir, tmp_path_factory.mktemp("formgrader") / "course")


def test_formgrader_server_listens_on_loopback_with_a_token(tmp_path):
    """Does the formgrader command start JupyterLab on 127.0.0.1 only, with the token, at the course root?"""
    argv = formgrader.jupyterlab_command(tmp_path, 8899, "s3cret")
    assert {"--ServerApp.ip=127.0.0.1", "--ServerApp.port=8899", "--IdentityProvider.token=s3cret",
            f"--ServerApp.root_dir={tmp_path}", "--ServerApp.open_browser=False"} <= set(argv)
    with pytest.raises(FileNotFoundError, match="not an nbgrader course directory"):
        formgrader.serve(tmp_path, 8899, "s3cret")


def test_mark_schemes_sit_in_locked_prompt_cells():
    """Is each written question's mark scheme in its locked prompt cell, which autograde restores?"""
    master = notebook.read(asg01.MASTER)
    cells = notebook.cells_by_grade_id(master)
    schemes = mark_schemes(master)
    assert sorted(schemes) == sorted(f"{q}_prompt" for q in WRITTEN_QUESTIONS)
    for grade_id, text in schemes.items():
        meta = cells[grade_id].metadata.nbgrader
        assert meta["locked"] and not meta["solution"] and not meta["grade"], grade_id
        assert text.startswith("> **Mark scheme (graders only).**"), grade_id


def test_release_has_no_mark_scheme():
    """Is every mark scheme absent from the committed student release?"""
    released = words("\n\n".join(cell.source for cell in notebook.read(asg01.RELEASE_NOTEBOOK).cells))
    for grade_id, text in mark_schemes(notebook.read(asg01.MASTER)).items():
        assert words(text) not in released, grade_id
    assert BEGIN_MARK_SCHEME not in asg01.RELEASE_NOTEBOOK.read_text()


@pytest.mark.slow
def test_mark_schemes_reach_graders_but_not_feedback(graded_class):
    """Are the mark schemes in every autograded notebook (graders) and in no feedback page (students)?"""
    schemes = {grade_id: words(text) for grade_id, text in mark_schemes(notebook.read(asg01.MASTER)).items()}
    for student in demo.students():
        autograded = autograded_notebook(graded_class, student)
        restored = {grade_id: words(text) for grade_id, text in mark_schemes(autograded).items()}
        assert restored == schemes, student
        # The check below would see a mark scheme in HTML: it sees them in the graders' copy.
        graders_html = html_words(HTMLExporter().from_notebook_node(autograded)[0])
        assert all(text in graders_html for text in schemes.values())
        feedback = feedback_page(graded_class, student)
        for grade_id, text in schemes.items():
            assert text not in html_words(feedback), (student, grade_id)
        assert BEGIN_MARK_SCHEME not in feedback


def open_submission(page, base_url, token, student):
    """Open ``student``'s notebook the way a grader does (JupyterLab → Nbgrader → Formgrader).

    Returns the formgrader page's frame, its grade and comment fields filled in.
    """
    page.goto(f"{base_url}/lab?token={token}")
    page.get_by_role("menuitem", name="Nbgrader").click()
    page.get_by_role("menuitem", name="Formgrader").click()
    iframe = page.frame_locator("iframe").first
    iframe.get_by_role("link", name="Manual Grading").click()
    iframe.get_by_role("link", name=asg01.NAME).first.click()  # the assignment
    iframe.get_by_role("link", name=asg01.NAME).last.click()  # its notebook
    iframe.get_by_role("link", name=f"Submission #{len(demo.students())}").wait_for()
    iframe.get_by_role("button", name="Show All Names").click()
    iframe.get_by_role("link", name=student, exact=True).click()
    iframe.locator(f"#{QUESTION}").wait_for()
    submission = next(f for f in page.frames if "/formgrader/submissions/" in f.url)
    wait_for_grades(submission)
    return submission


def wait_for_grades(frame):
    """Wait until formgrader's page has fetched the grades and comments into its fields."""
    frame.wait_for_function("() => formgrader.grades.loaded && formgrader.comments.loaded")


def saved(page, kind):
    """Wait for formgrader's PUT of a grade or comment (``kind``: "grade" or "comment")."""
    return page.expect_response(
        lambda response: f"/formgrader/api/{kind}/" in response.url and response.request.method == "PUT")


@pytest.mark.slow
@pytest.mark.browser
def test_grader_scores_a_written_answer_in_formgrader(
        graded_class, jupyter_env, browser, start_server, screenshot):
    """Does a manual score and comment given in formgrader land in the gradebook and export,
    leave the autograded scores alone, survive a re-autograde, and reach feedback without the mark scheme?"""
    before = coursedir.cell_scores(graded_class, asg01.NAME)[STUDENT]
    before_total = demo.exported_totals(graded_class)[STUDENT]
    assert before_total == sum(score for score, _ in before.values())

    token = secrets.token_hex(16)
    base_url = start_server(
        lambda port: [sys.executable, "-m", "mlpcourse", "formgrader", "--course-dir", str(graded_class),
                      "--port", str(port), "--token", token],
        cwd=paths.ROOT, env=jupyter_env, token=token)
    with urllib.request.urlopen(f"{base_url}/formgrader/api/assignments") as anonymous:
        assert urllib.parse.urlparse(anonymous.url).path == "/login"  # nothing without the token
    page = browser.new_page()
    frame = open_submission(page, base_url, token, STUDENT)

    # The grader sees the mark scheme of every written question, in its question cell.
    shown = words(frame.locator("body").inner_text())
    for grade_id, text in mark_schemes(notebook.read(asg01.MASTER)).items():
        assert words(text) in shown, grade_id
    scheme = frame.locator("blockquote", has_text="Mark scheme").nth(WRITTEN_QUESTIONS.index(QUESTION))
    scheme.scroll_into_view_if_needed()
    assert scheme.is_visible()

    with saved(page, "grade") as response:
        frame.locator(f"#{QUESTION}").fill(f"{SCORE:g}")
        frame.locator(f"#{QUESTION}").blur()  # formgrader saves on "change"
    assert response.value.ok
    with saved(page, "comment") as response:
        frame.locator(f"#{QUESTION}-comment").fill(COMMENT)
        frame.locator(f"#{QUESTION}-comment").blur()
    assert response.value.ok
    scheme.scroll_into_view_if_needed()
    screenshot(page, "formgrader_manual_grade")

    # The gradebook has the grade; the autograded cells are untouched; export adds it.
    with gradebook(graded_class) as gb:
        grade = gb.find_grade(QUESTION, asg01.NAME, asg01.NAME, STUDENT)
        comment = gb.find_comment(QUESTION, asg01.NAME, asg01.NAME, STUDENT)
        assert (grade.manual_score, grade.score, grade.needs_manual_grade) == (SCORE, SCORE, False)
        assert comment.manual_comment == COMMENT
    after = coursedir.cell_scores(graded_class, asg01.NAME)[STUDENT]
    assert after == {**before, QUESTION: (SCORE, before[QUESTION][1])}
    coursedir.nbgrader("export", "--to", "grades.csv", course_dir=graded_class)
    assert demo.exported_totals(graded_class)[STUDENT] == before_total + SCORE

    # Autograding the student again keeps the manual grade; nbgrader flags it for review.
    coursedir.nbgrader("autograde", asg01.NAME, "--student", STUDENT, "--force", course_dir=graded_class)
    with gradebook(graded_class) as gb:
        grade = gb.find_grade(QUESTION, asg01.NAME, asg01.NAME, STUDENT)
        comment = gb.find_comment(QUESTION, asg01.NAME, asg01.NAME, STUDENT)
        assert (grade.manual_score, grade.score, grade.needs_manual_grade) == (SCORE, SCORE, True)
        assert comment.manual_comment == COMMENT
    assert coursedir.cell_scores(graded_class, asg01.NAME)[STUDENT] == after
    coursedir.nbgrader("export", "--to", "grades.csv", course_dir=graded_class)
    assert demo.exported_totals(graded_class)[STUDENT] == before_total + SCORE

    # The grader sees the kept score after reloading, marked for review.
    frame.goto(frame.url)
    wait_for_grades(frame)
    score_box = frame.locator(f"#{QUESTION}")
    assert float(score_box.input_value()) == SCORE
    assert "needs_manual_grade" in score_box.get_attribute("class")
    score_box.scroll_into_view_if_needed()
    screenshot(page, "formgrader_after_reautograde")

    # The student's feedback has the score and the comment, not the mark scheme.
    coursedir.nbgrader("generate_feedback", asg01.NAME, "--student", STUDENT, "--force",
                     course_dir=graded_class)
    raw = feedback_page(graded_class, STUDENT)
    feedback = html_words(raw)
    assert words(COMMENT) in feedback
    assert f'href="#{QUESTION}">Written response</a> (Score: {SCORE:.1f} / {before[QUESTION][1]:.1f})' in raw
    for grade_id, text in mark_schemes(notebook.read(asg01.MASTER)).items():
        assert words(text) not in feedback, grade_id

