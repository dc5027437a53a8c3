"""Similar submissions: a disguised copy is found, independent correct work is not, the given code never counts."""

import ast
import collections
import io
import re
import tokenize

import nbformat
import pytest

import asg01
from mlpcourse import assignment
from mlpcourse.authoring import notebook
from mlpcourse.quality import catalogue
from mlpcourse.reports import similarity

DESCRIBED = assignment.load()
GRADED_CELLS = DESCRIBED.graded_cells


@pytest.fixture(scope="module")
def release_nb():
    return notebook.read(asg01.RELEASE_NOTEBOOK)


def _code(nb):
    """``nb``'s code as compared."""
    code, cut = similarity.compared_code(similarity.student_code(nb, notebook.read(asg01.RELEASE_NOTEBOOK)))
    assert not cut
    return code


def _pairs(codes, release_nb):
    """The listed pairs among ``codes`` (``{student: code as compared}``), the release's code boilerplate."""
    given, _ = similarity.compared_code(similarity.given_code(release_nb))
    pairs, _ = similarity.similar_pairs(codes, given)
    return pairs


def _without_markers(source):
    return "\n".join(line for line in source.splitlines() if "### BEGIN SOLUTION" not in line
                     and "### END SOLUTION" not in line)


def _honest(release_nb):
    """The master's answers in the release, as a student would hand them in (no solution markers)."""
    nb = notebook.solved(release_nb)
    for cell in nb.cells:
        if notebook.is_solution(cell):
            cell.source = _without_markers(cell.source)
    return nb


def _disguised(source, cell_index):
    """``source`` as a copier hides it: its own names renamed, top-level definitions reordered, comments rewritten."""
    tree = ast.parse(source)
    own = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store)}
    own |= {node.arg for node in ast.walk(tree) if isinstance(node, ast.arg) and node.arg != "self"}
    renames = {name: f"my_{name}_{cell_index}" for name in own}
    tokens = []
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.NAME and token.string in renames:
            token = token._replace(string=renames[token.string])
        elif token.type == tokenize.COMMENT:
            token = token._replace(string="# worked this out in the lab session")
        tokens.append(token)
    renamed = tokenize.untokenize(tokens)
    blocks = re.split(r"\n(?=(?:def|class) )", renamed)
    return "\n".join(reversed(blocks))


def _planted_copy(honest_nb):
    nb = nbformat.from_dict(honest_nb)
    for index, cell in enumerate(nb.cells):
        if notebook.grade_id(cell) in GRADED_CELLS:
            cell.source = _disguised(cell.source, index)
    return nb


def _independent(release_nb, n):
    """A correct notebook in its own style: the n-th correct rewrite of every graded function from the catalogue,
    written below the release's given code of its cell."""
    rewrites = collections.defaultdict(list)
    for entry in catalogue.EQUIVALENTS:
        rewrites[entry.function].append(entry)
    nb = nbformat.from_dict(release_nb)
    cells = notebook.cells_by_grade_id(nb)
    for entries in rewrites.values():
        entry = entries[n % len(entries)]
        cells[DESCRIBED.functions[entry.function].cell].source += "\n\n\n" + entry.source
    return nb


def test_disguise_really_changes_the_code(release_nb):
    """Is the planted copy not a plain copy: other names, other order, other comments, still valid Python?"""
    honest_nb = _honest(release_nb)
    honest, copy = (similarity.student_code(nb, release_nb) for nb in (honest_nb, _planted_copy(honest_nb)))
    ast.parse(copy)
    assert "def sigmoid" in copy and copy.index("def sigmoid") < copy.index("def relu")
    assert "my_weighted_in_" in copy and "weighted_in =" in honest and "weighted_in =" not in copy
    assert "# worked this out" in copy and "# worked this out" not in honest


@pytest.fixture(scope="module")
def class_codes(release_nb):
    """Graded code of a class: ada, eve (ada's, disguised) and four independent correct students."""
    honest = _honest(release_nb)
    nbs = {"ada": honest, "eve": _planted_copy(honest), **{f"ind{n}": _independent(release_nb, n) for n in range(4)}}
    return {student: _code(nb) for student, nb in nbs.items()}


def test_planted_copy_is_found_and_independent_work_is_not(release_nb, class_codes):
    """Is the disguised copy the one pair listed, with most of both students' code matched?"""
    pairs = _pairs(class_codes, release_nb)
    assert [pair["students"] for pair in pairs] == [["ada", "eve"]]
    (pair,) = pairs
    assert min(pair["similarity"]) >= 0.8
    for code, spans in zip(pair["code"], pair["copied"]):
        assert spans == sorted(spans) and all(0 <= start < end <= len(code) for start, end in spans)
    assert pair["code"] == [class_codes["ada"], class_codes["eve"]]


def test_the_release_code_is_boilerplate(release_nb, class_codes):
    """Without the release's code as boilerplate, do the independent students look alike (what it prevents)?"""
    independent = {s: code for s, code in class_codes.items() if s.startswith("ind")}
    assert _pairs(independent, release_nb) == []
    assert len(similarity.similar_pairs(independent, "")[0]) >= 3
    # Handing in the release as it is alike nobody.
    assert _pairs({"blank1": _code(release_nb), "blank2": _code(release_nb)}, release_nb) == []


def _answered_only(release_nb, grade_id, answer):
    """The release with one stub answered: what a student who wrote only that hands in."""
    nb = nbformat.from_dict(release_nb)
    cell = notebook.cells_by_grade_id(nb)[grade_id]
    assert "# YOUR CODE HERE\n    raise NotImplementedError()" in cell.source
    cell.source = cell.source.replace("# YOUR CODE HERE\n    raise NotImplementedError()", answer)
    return _code(nb)


def test_a_short_answer_alike_is_not_enough(release_nb, monkeypatch):
    """Are two students who wrote only the usual two-line softmax, alike as it is, left unlisted?"""
    answer = ("exps = np.exp(y_hat - np.max(y_hat, axis=1, keepdims=True))\n"
              "    soft_out = exps / np.sum(exps, axis=1, keepdims=True)")
    codes = {"kim": _answered_only(release_nb, "softmax", answer),
             "lee": _answered_only(release_nb, "softmax", answer.replace("exps", "e"))}
    assert _pairs(codes, release_nb) == []
    # What MIN_MATCHED prevents: all of their own code is alike.
    monkeypatch.setattr(similarity, "MIN_MATCHED", 0)
    assert [pair["similarity"] for pair in _pairs(codes, release_nb)] == [[1.0, 1.0]]


def test_compute_reads_the_autograded_notebooks(tmp_path, release_nb):
    """Over a course folder, is the planted pair found among the autograded notebooks, and a student without one
    left out?"""
    honest = _honest(release_nb)
    nbs = {"ada": honest, "eve": _planted_copy(honest), "ind0": _independent(release_nb, 0),
           "ind1": _independent(release_nb, 1)}
    for student, nb in nbs.items():
        folder = tmp_path / "autograded" / student / "asg01"
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / "asg01.ipynb")
    (tmp_path / "release" / "asg01").mkdir(parents=True)
    nbformat.write(release_nb, tmp_path / "release" / "asg01" / "asg01.ipynb")
    found = similarity.compute(tmp_path, [*nbs, "absent"], DESCRIBED)
    assert found["compared"] == sorted(nbs) and found["threshold"] == similarity.THRESHOLD
    assert [pair["students"] for pair in found["pairs"]] == [["ada", "eve"]]


def test_highlighted_code_is_escaped_text():
    """Is a student's markup shown as text, with only the matched spans marked?"""
    code = "x = '<script>alert(1)</script>'  # <b>"
    shown = similarity.highlighted(code, [[4, 13]])
    assert shown == "x = <mark>&#x27;&lt;script&gt;</mark>alert(1)&lt;/script&gt;&#x27;  # &lt;b&gt;"


def _course(tmp_path, release_nb, nbs):
    """A course folder with ``nbs`` (``{student: notebook}``) autograded and ``release_nb`` released."""
    for student, nb in nbs.items():
        folder = tmp_path / "autograded" / student / "asg01"
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / "asg01.ipynb")
    (tmp_path / "release" / "asg01").mkdir(parents=True, exist_ok=True)
    nbformat.write(release_nb, tmp_path / "release" / "asg01" / "asg01.ipynb")
    return tmp_path


def test_a_long_comment_does_not_hide_a_copy(tmp_path, release_nb):
    """Is the planted copy still found when it starts with a 100,000-character comment (once cut before tokens)?"""
    honest = _honest(release_nb)
    padded = _planted_copy(honest)
    first = notebook.cells_by_grade_id(padded)[GRADED_CELLS[0]]
    first.source = "#" + "x" * 100_000 + "\n" + '"""' + "y" * 100_000 + '"""\n' + first.source
    found = similarity.compute(_course(tmp_path, release_nb, {"ada": honest, "eve": padded}), ["ada", "eve"],
                               DESCRIBED)
    assert [pair["students"] for pair in found["pairs"]] == [["ada", "eve"]]
    assert min(found["pairs"][0]["similarity"]) >= 0.8


def test_a_copy_in_the_students_own_cells_is_found(tmp_path, release_nb):
    """Is the copy found when it sits in cells the student added below the untouched solution cells (the last
    definition wins when the notebook runs)?"""
    honest = _honest(release_nb)
    copy = _planted_copy(honest)
    moved = nbformat.from_dict(release_nb)
    for name in GRADED_CELLS:
        at = moved.cells.index(notebook.cells_by_grade_id(moved)[name])
        moved.cells.insert(at + 1, nbformat.v4.new_code_cell(notebook.cells_by_grade_id(copy)[name].source))
    found = similarity.compute(_course(tmp_path, release_nb, {"ada": honest, "eve": moved}), ["ada", "eve"],
                               DESCRIBED)
    assert [pair["students"] for pair in found["pairs"]] == [["ada", "eve"]]
    # Marking one's own cells locked (nbgrader's metadata, in the student's hands) hides nothing.
    for cell in moved.cells:
        cell.metadata.setdefault("nbgrader", {"locked": True})
    again = similarity.compute(_course(tmp_path / "locked", release_nb, {"ada": honest, "eve": moved}),
                               ["ada", "eve"], DESCRIBED)
    assert [pair["students"] for pair in again["pairs"]] == [["ada", "eve"]]


def _flooded(release_nb):
    """The release with every correct rewrite in the catalogue added to its cell as dead code."""
    nb = nbformat.from_dict(release_nb)
    cells = notebook.cells_by_grade_id(nb)
    for entry in catalogue.EQUIVALENTS:
        dead = "\n".join("    " + line for line in entry.source.splitlines())
        cells[DESCRIBED.functions[entry.function].cell].source += "\n\nif False:\n" + dead
    return nb


def test_one_students_flood_of_variants_lists_no_honest_student(tmp_path, release_nb):
    """When one student hands in every correct variant as dead code, is no pair listed (each independent
    student's code is mostly in the flooder's, but little of the flooder's in theirs), the flooder's code
    reported as unusually long instead, with nobody named as alike?"""
    nbs = {**{f"ind{n}": _independent(release_nb, n) for n in range(4)}, "flood": _flooded(release_nb)}
    found = similarity.compute(_course(tmp_path, release_nb, nbs), list(nbs), DESCRIBED)
    assert found["pairs"] == []
    (long_code,) = found["long"]
    assert long_code["student"] == "flood" and len(long_code["contains"]) >= 3
    assert all(share >= similarity.THRESHOLD for share in long_code["contains"].values())


def test_code_past_the_token_cap_is_reported_as_cut(tmp_path, release_nb, monkeypatch):
    """Is a student whose code runs past MAX_TOKENS reported as long and cut, and is what is compared their
    code's start, comments and docstrings aside?"""
    monkeypatch.setattr(similarity, "MAX_TOKENS", 50)
    code, cut = similarity.compared_code('# note\n"""doc"""\n' + "x = 1\n" * 20)
    assert cut and code == "\n\n" + "x = 1\n" * 16 + "x =" and "note" not in code  # 3 tokens a line
    nbs = {"ada": _honest(release_nb), "ind0": _independent(release_nb, 0)}
    found = similarity.compute(_course(tmp_path, release_nb, nbs), list(nbs), DESCRIBED)
    assert [entry["student"] for entry in found["long"] if entry["cut"]] == ["ada", "ind0"]
