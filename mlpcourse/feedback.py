"""Feedback without leaks: a preprocessor for ``nbgrader generate_feedback``.

nbgrader writes feedback from the autograded notebook, which holds the hidden tests
(restored from the gradebook) and their tracebacks, which quote hidden code and the
hidden fixtures' path. :class:`SanitiseFeedback` (registered in
``nbgrader_config.py``) leaves each test's name (its docstring line), points and
message, and removes:

- the hidden region of every test cell (between nbgrader's hidden-test markers),
  replaced by a one-line note;
- everything a hidden test cell printed, and its tracebacks: an error keeps only
  its last line, the message written for students (the grader's messages for hidden
  checks carry no reference values, see :func:`mlpcourse.judge.redact`);
- traceback lines of any cell that mention the hidden tests' module or folder;
- the grading machine's paths (the course folder, the grader's scratch folders).
"""

import re

from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import List, Unicode

HIDDEN_NOTE = "# (hidden tests run here while grading; they are not shown)"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


class SanitiseFeedback(NbGraderPreprocessor):
    """Remove hidden tests, their output and tracebacks, and the grader's paths from feedback."""

    begin_hidden = Unicode("BEGIN HIDDEN TESTS", help="Marker of the start of hidden tests").tag(config=True)
    end_hidden = Unicode("END HIDDEN TESTS", help="Marker of the end of hidden tests").tag(config=True)
    secret_words = List(
        Unicode(), ["asg01_hidden", "tests_assets", "hidden_fixtures"],
        help="Traceback lines containing any of these are removed").tag(config=True)
    secret_paths = List(
        Unicode(), [], help="Paths (course folder, hidden folder) replaced by '...' wherever they appear"
    ).tag(config=True)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return cell, resources
        hidden = self.begin_hidden in cell.source
        if hidden:
            cell.source = self._without_hidden_region(cell.source)
        outputs = []
        for output in cell.get("outputs", []):
            if output.output_type == "error":
                outputs.append(self._error(output, hidden))
            elif not hidden:
                outputs.append(self._scrubbed(output))
        cell.outputs = outputs
        return cell, resources

    def _without_hidden_region(self, source):
        lines, inside = [], False
        for line in source.splitlines():
            if self.begin_hidden in line:
                inside = True
                lines.append(line[:len(line) - len(line.lstrip())] + HIDDEN_NOTE)
            elif self.end_hidden in line:
                inside = False
            elif not inside:
                lines.append(line)
        return "\n".join(lines)

    def _scrub(self, text):
        for path in sorted(self.secret_paths, key=len, reverse=True):
            if path:
                text = text.replace(path.rstrip("/") + "/", "").replace(path, "...")
        return re.sub(r"/tmp/mlpc-[A-Za-z0-9_]+/(?:[A-Za-z0-9_]+/)?", "", text)

    def _error(self, output, hidden):
        message = self._scrub(str(output.get("evalue", "")))
        if hidden:
            output.traceback = [f"\x1b[0;31m{output.ename}\x1b[0m: {message}"]
        else:
            kept = [line for line in output.get("traceback", [])
                    if not any(word in ANSI.sub("", line) for word in self.secret_words)]
            output.traceback = [self._scrub(line) for line in kept]
        output.evalue = message
        return output

    def _scrubbed(self, output):
        if output.output_type == "stream":
            output.text = self._scrub(output.text)
        return output
