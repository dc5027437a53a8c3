"""Feedback built from an allow-list: a preprocessor for ``nbgrader generate_feedback``.

nbgrader writes the feedback page from the autograded notebook, which holds what a
student must never see: the hidden tests and mark schemes (nbgrader restores the locked
cells from the gradebook) and whatever the kernel printed. :class:`StudentFeedback`
(registered in ``nbgrader_config.py``) does not try to remove those from it: it builds
the page's notebook anew, cell by cell, from what a student may see:

- **locked cells** (prose, given code, test cells) are the **release** notebook's cells
  (``release/<assignment>/<notebook>.ipynb``), which never held hidden tests or mark
  schemes;
- **answer cells** and the **student's own cells** show the student's own source;
- **outputs** are the sanitised (:mod:`mlpcourse.reports.markup`) kernel outputs of cells that
  are not tests; a **test cell** shows the grader's verdict from ``run.json`` (``"passed"``,
  ``"failed"`` or ``"not run"``, with its student-safe message) and, for a visible test
  only, its sanitised kernel outputs; a hidden test shows only the verdict;
- the grading machine's paths are left out of the text shown.

Scores and comments are nbgrader's (its ``GetGrades`` step, which runs first, puts them
on the graded cells); comments are sanitised markdown too.

The page is written by :class:`FeedbackExporter` (``c.GenerateFeedback.exporter_class``):
nbconvert's HTML exporter, without the whole-page re-parse that was half its cost.
"""

import copy
import html.parser
import pathlib
import re

import jinja2
import nbformat
from nbconvert.exporters import HTMLExporter, TemplateExporter
from nbconvert.filters.highlight import Highlight2HTML
from nbconvert.filters.widgetsdatatypefilter import WidgetsDataTypeFilter
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import List, Unicode

from mlpcourse import gradebook, paths, records
from mlpcourse.reports import markup

# What GetGrades adds to a graded cell's nbgrader metadata: the only values taken from it.
GRADES = ("score", "points", "comment")
VERDICT_HEADING = "Grader's verdict"
SCRATCH_FOLDER = re.compile(r"/tmp/mlpc-[A-Za-z0-9_]+/(?:[A-Za-z0-9_]+/)?")


def _grade_id(cell):
    info = cell.get("metadata", {}).get("nbgrader")
    return info.get("grade_id") if isinstance(info, dict) else None


class StudentFeedback(NbGraderPreprocessor):
    """Replace the graded notebook by the cells a student may see (see the module docstring)."""

    begin_hidden = Unicode("BEGIN HIDDEN TESTS", help="Marker of the start of hidden tests").tag(config=True)
    secret_paths = List(
        Unicode(), [], help="Paths of the grading machine (the course folder) left out of the text shown"
    ).tag(config=True)

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        released, verdicts = self._release_and_verdicts(info)
        defined = gradebook.definition(info["db_url"], info["assignment"], info["notebook"])
        hidden = {name for name, cell in defined.items() if self.begin_hidden in cell.source}
        tests = {name for name, cell in defined.items() if cell.test}
        shown, placed = [], set()
        for cell in nb.cells:
            grade_id = _grade_id(cell)
            if grade_id in released and grade_id not in placed:
                placed.add(grade_id)
                verdict = verdicts.get(grade_id) if grade_id in tests else None
                shown.append(self._release_cell(released[grade_id], cell, grade_id in tests,
                                                grade_id in hidden, verdict))
            else:
                shown.append(self._student_cell(cell))
        nb.cells = shown
        nb.metadata = {key: nb.metadata[key] for key in ("kernelspec", "language_info") if key in nb.metadata}
        return nb, resources

    def _release_and_verdicts(self, info):
        """``({grade_id: release cell}, {grade_id: run.json entry with a verdict})`` of the notebook ``info`` names."""
        coursedir = CourseDirectory(config=self.config)
        release_path = pathlib.Path(coursedir.format_path(coursedir.release_directory, ".", info["assignment"]))
        release = nbformat.read(str(release_path / f"{info['notebook']}.ipynb"), as_version=4)
        run = records.read(paths.records_folder(coursedir.root, info["assignment"], info["student"]) / "run.json", {})
        verdicts = {entry["grade_id"]: entry for entry in run.get("cells", [])
                    if entry.get("grade_id") and entry.get("verdict")}
        return {_grade_id(cell): cell for cell in release.cells if _grade_id(cell)}, verdicts

    def _release_cell(self, released, graded, is_test, is_hidden, verdict):
        """The release's cell, with the student's answer if it is one, the grades and allowed outputs."""
        cell = copy.deepcopy(released)
        grades = graded.metadata.get("nbgrader", {})
        for key in GRADES:
            if key in grades:
                cell.metadata.nbgrader[key] = grades[key]
        if cell.metadata.nbgrader.get("comment"):
            cell.metadata.nbgrader["comment"] = markup.markdown(cell.metadata.nbgrader["comment"])
        if cell.metadata.nbgrader.get("solution"):
            cell.source = graded.source if cell.cell_type == "code" else self._markdown(graded, cell)
        if cell.cell_type != "code":
            return cell
        outputs = self._outputs(graded) if graded.cell_type == "code" else []
        if is_test:
            shown = self._verdict(verdict)
            message = verdict.get("message", "") if verdict else None
            kept = [] if is_hidden else [out for out in outputs if not (
                out.output_type == "error" and out.get("evalue") == message)]  # the grader's own copy
            outputs = shown + kept
        cell.outputs = outputs
        cell.execution_count = None
        return cell

    def _student_cell(self, graded):
        """The student's own cell: their source and sanitised outputs, no metadata."""
        if graded.cell_type == "code":
            return nbformat.v4.new_code_cell(graded.source, outputs=self._outputs(graded))
        if graded.cell_type == "markdown":
            cell = nbformat.v4.new_markdown_cell()
            cell.source = self._markdown(graded, cell)
            return cell
        return nbformat.v4.new_raw_cell(markup.html(graded.source))

    @staticmethod
    def _markdown(graded, cell):
        """The student's markdown, sanitised, with its images (attached to ``cell``)."""
        images = markup.attachments(graded.get("attachments"))
        if images:
            cell.attachments = images
        return markup.markdown(graded.source, images)

    def _outputs(self, graded):
        """The cell's kernel outputs, sanitised, without the grading machine's paths."""
        outputs = []
        for out in graded.get("outputs", []):
            out = markup.output(copy.deepcopy(out))
            if out is None:
                continue
            if out.output_type == "stream":
                out.text = self._scrub(out.text)
            elif out.output_type == "error":
                out.evalue = self._scrub(out.get("evalue", ""))
                out.traceback = [self._scrub(line) for line in out.get("traceback", [])]
            outputs.append(out)
        return outputs

    def _verdict(self, verdict):
        """The grader's verdict on a test cell as one output (none when run.json has no verdict)."""
        if not verdict:
            return []
        text = f"{VERDICT_HEADING}: {verdict['verdict']}\n"
        if verdict.get("message"):
            text += self._scrub(str(verdict["message"])).rstrip("\n") + "\n"
        name = "stdout" if verdict["verdict"] == "passed" else "stderr"
        return [nbformat.v4.new_output("stream", name=name, text=text)]

    def _scrub(self, text):
        text = str(text)
        for path in sorted(self.secret_paths, key=len, reverse=True):
            if path:
                text = text.replace(path.rstrip("/") + "/", "").replace(path, "...")
        return SCRATCH_FOLDER.sub("", text)


# nbconvert's text for an image that has none (HTMLExporter.from_notebook_node).
MISSING_ALT = "No description has been provided for this image"


class _ImagesWithoutAlt(html.parser.HTMLParser):
    """Where ``<img`` tags without an ``alt`` attribute start in an HTML page (offsets, in order).

    The tokenizer is the one nbconvert's own pass used (BeautifulSoup's ``html.parser``),
    so the tags found are the tags it found: ``<img`` inside an attribute value, a comment
    or a script is not a tag and is never touched.
    """

    def __init__(self, page):
        super().__init__(convert_charrefs=False)
        self.line_starts = [0] + [match.end() for match in re.finditer("\n", page)]
        self.offsets = []
        self.feed(page)
        self.close()

    def handle_starttag(self, tag, attrs):
        if tag == "img" and not any(name == "alt" for name, _ in attrs):
            line, column = self.getpos()
            self.offsets.append(self.line_starts[line - 1] + column)

    handle_startendtag = handle_starttag


def with_alt_text(page):
    """``page`` (HTML) with :data:`MISSING_ALT` as the ``alt`` of every image that has none;
    and how many it gave one.

    The attribute goes right after the tag's name (``<img alt="..." src=...>``), so the
    rest of the page is kept byte for byte.
    """
    offsets = _ImagesWithoutAlt(page).offsets
    parts, start = [], 0
    for offset in offsets:
        name_end = offset + len("<img")
        parts += [page[start:name_end], f' alt="{MISSING_ALT}"']
        start = name_end
    parts.append(page[start:])
    return "".join(parts), len(offsets)


class _CompiledTemplates(jinja2.BytecodeCache):
    """Compiled templates kept for the process's life (a grading worker's: one page per student).

    Each command builds a new exporter, and with it a new Jinja environment that would
    compile the same templates again. Jinja keys the bytecode by the template's name and a
    hash of its source, so a changed template is compiled anew; no student data is in it.
    """

    def __init__(self):
        self.compiled = {}

    def load_bytecode(self, bucket):
        if bucket.key in self.compiled:
            bucket.bytecode_from_string(self.compiled[bucket.key])

    def dump_bytecode(self, bucket):
        self.compiled[bucket.key] = bucket.bytecode_to_string()


_COMPILED_TEMPLATES = _CompiledTemplates()


class FeedbackExporter(HTMLExporter):
    """nbconvert's HTML exporter, for feedback pages, without its BeautifulSoup pass.

    ``HTMLExporter.from_notebook_node`` (nbconvert 7.17.2, pinned in requirements.txt)
    ends by parsing the whole page with BeautifulSoup and writing it out again, for
    accessibility: images without ``alt`` get :data:`MISSING_ALT`, and the inputs and
    outputs of a JupyterLab-template page become focusable (``tabindex``). On a feedback
    page (nbgrader's ``feedback`` template, built on nbconvert's classic one, which has
    no ``jp-Notebook``) only the first applies; :func:`with_alt_text` does it in place,
    at a fraction of the cost. :meth:`from_notebook_node` is nbconvert's up to that pass.
    """

    def _create_environment(self):
        environment = super()._create_environment()
        environment.bytecode_cache = _COMPILED_TEMPLATES
        return environment

    def from_notebook_node(self, nb, resources=None, **kw):
        language = nb.metadata.get("language_info", {})
        lexer = language.get("pygments_lexer", language.get("name", None))
        self.register_filter("highlight_code",
                             self.filters.get("highlight_code", Highlight2HTML(pygments_lexer=lexer, parent=self)))
        resources = self._init_resources(resources)
        self.register_filter("filter_data_type", WidgetsDataTypeFilter(
            notebook_metadata=self._nb_metadata, parent=self, resources=resources))
        page, resources = TemplateExporter.from_notebook_node(self, nb, resources, **kw)
        page, missing = with_alt_text(page)
        if missing:
            self.log.warning("Alternative text is missing on %s image(s).", missing)
        return page, resources
