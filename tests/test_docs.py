"""The README and the pages under docs/: every link, command, path and name they give exists,
and their figures are what the tools' committed outputs say."""

import ast
import importlib
import importlib.util
import re

import pytest

import asg01
from mlpcourse import paths
from mlpcourse.authoring import notebook


def _load_figures():
    """docs/figures.py, which renders the docs' figures and knows the commands (not a package)."""
    spec = importlib.util.spec_from_file_location("figures", paths.ROOT / "docs" / "figures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


figures = _load_figures()

PAGES = [paths.ROOT / "README.md", *sorted((paths.ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.DOTALL | re.MULTILINE)
SPAN = re.compile(r"`([^`\n]+)`")
# A command starts a code line or a code span (after an optional `$ ` or a `cd ...&&`).
MAKE = re.compile(r"(?:^|&&\s*)make\s+(?:-\S+\s+)*([a-z][\w-]*)", re.MULTILINE)
MLPCOURSE = re.compile(r"(?:^|&&\s*)(?:\S*python\S* -m )?mlpcourse\s+([a-z][\w-]*)([^\n|#;&]*)", re.MULTILINE)
# Files of this repository (runtime folders such as submitted/ or build/ are not checked).
REPO_PATH = re.compile(r"(?<![\w/.-])(?:\.ci|benchmarks|docs|mlpcourse|release|source|tests|tests_assets)/"
                       r"[\w./-]*(?:::\w+)?")
DOTTED = re.compile(r"(?<![\w.])mlpcourse(?:\.\w+)+")
# Names of the modules released beside the notebook (asg01_checks.check_array).
RELEASED_NAME = re.compile(r"(?<![\w.])(asg01_checks|course_checks|kannada_mnist)\.(?!py\b)(\w+)")


def _id(page):
    return page.relative_to(paths.ROOT).as_posix()


def code(text):
    """The text of a page's code blocks and code spans, one piece per line or span."""
    blocks = FENCE.findall(text)
    prose = FENCE.sub("", text)
    return [line.strip().removeprefix("$ ") for block in blocks for line in block.splitlines()] + \
        [span.strip() for span in SPAN.findall(prose)]


def slug(heading):
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page):
    """The anchors of a page's headings (a repeated heading gets -1, -2, ...)."""
    seen = {}
    for heading in re.findall(r"^#{1,6} (.+)$", FENCE.sub("", page.read_text()), re.MULTILINE):
        base = slug(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        yield base if count == 0 else f"{base}-{count}"


def resolves(dotted):
    """Whether ``dotted`` names a module of the package or an attribute of one."""
    parts = dotted.split(".")
    for split in range(len(parts), 0, -1):
        try:
            value = importlib.import_module(".".join(parts[:split]))
            break
        except ModuleNotFoundError:
            continue
    for part in parts[split:]:
        if not hasattr(value, part):
            return False
        value = getattr(value, part)
    return True


def link_problems(page, text):
    """Links of ``text`` (on ``page``) to a file or heading that does not exist."""
    found = []
    for target in LINK.findall(FENCE.sub("", text)):
        if re.match(r"[a-z]+:", target):
            continue  # an address on the web: not checked (no network)
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        if not linked.exists():
            found.append(f"link to {target}: no file {path}")
        elif anchor and linked.suffix == ".md" and anchor not in set(anchors(linked)):
            found.append(f"link to {target}: no heading #{anchor} in {linked.name}")
    return found


def command_problems(piece, targets, options):
    """`make` targets and ``mlpcourse`` subcommands and options in ``piece`` that do not exist."""
    found = [f"`make {t}`: no such documented target in the Makefile" for t in MAKE.findall(piece) if t not in targets]
    for name, rest in MLPCOURSE.findall(piece):
        if name not in options:
            found.append(f"`mlpcourse {name}`: no such subcommand")
            continue
        found += [f"`mlpcourse {name} {option}`: no such option"
                  for option in re.findall(r"(?<!\S)(--?[a-z][\w-]*)", rest) if option not in options[name]]
    return found


def name_problems(piece):
    """Repository paths, tests, ``mlpcourse.…`` names and check-helper names in ``piece`` that do not exist."""
    found = []
    for path in REPO_PATH.findall(piece):
        file, _, test = path.partition("::")
        if not (paths.ROOT / file).exists():
            found.append(f"{file}: no such file or folder")
        elif test and not re.search(rf"^def {test}\(", (paths.ROOT / file).read_text(), re.MULTILINE):
            found.append(f"{path}: no such test")
    found += [f"{name}: cannot be imported" for name in DOTTED.findall(piece) if not resolves(name)]
    for module, name in RELEASED_NAME.findall(piece):
        tree = ast.parse((asg01.MASTER.parent / f"{module}.py").read_text())
        defined = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))} | {
            t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)}
        if name not in defined:
            found.append(f"{module}.{name}: not defined in source/{asg01.NAME}/{module}.py")
    return found


def problems(page):
    """What the page names that does not exist, one line each."""
    text = page.read_text()
    targets = figures.make_targets()
    options = {name: {option for action in parser._actions for option in action.option_strings}
               for name, (_, parser) in figures.subcommands().items()}
    found = link_problems(page, text)
    for piece in code(text):
        found += command_problems(piece, targets, options) + name_problems(piece)
    return found


def test_every_audience_has_a_page_linked_from_the_readme():
    """Does the README link a page under docs/ for every audience the course has?"""
    readme = (paths.ROOT / "README.md").read_text()
    for page in ("instructors", "students", "tas", "grader-quality", "containment", "scale-out", "benchmarks",
                 "development"):
        assert f"(docs/{page}.md)" in readme, f"the README does not link docs/{page}.md"


@pytest.mark.parametrize("page", PAGES, ids=_id)
def test_every_link_command_path_and_name_exists(page):
    """Does every link, make target, mlpcourse subcommand and option, file and module the page names exist?"""
    found = problems(page)
    assert not found, "\n".join(found)


def test_the_development_page_names_every_module_of_the_package():
    """Does docs/development.md's layout name every module, in its subpackage's row?"""
    text = (paths.ROOT / "docs" / "development.md").read_text()
    rows = {row.split("|")[1].strip(): row for row in text.splitlines() if row.startswith("| `mlpcourse/")}
    missing = []
    for module in sorted((paths.ROOT / "mlpcourse").rglob("*.py")):
        relative = module.relative_to(paths.ROOT)
        if module.name in ("__init__.py", "__main__.py") or "catalogue" in relative.parts:
            continue  # a subpackage's docstring, the entry point, the catalogue's entries
        if len(relative.parts) == 2:
            named = any(f"`{relative.as_posix()}`" in key for key in rows)
        else:
            named = f"`{module.name}`" in rows.get(f"`{relative.parent.as_posix()}/`", "")
        if not named:
            missing.append(relative.as_posix())
    assert not missing, f"docs/development.md's layout does not name {missing}"


def test_the_check_finds_what_does_not_exist(tmp_path):
    """Does the check report a broken link, anchor, target, subcommand, option, path and name?"""
    page = tmp_path / "page.md"
    page.write_text("# Title\n\n[a](missing.md) [b](#nowhere) [c](#title)\n\n"
                    "```bash\nmake nonsense\npython -m mlpcourse frobnicate\nmlpcourse grade --wrokers 2\n```\n\n"
                    "`mlpcourse/nothing.py`, `tests/test_docs.py::test_nothing`, `mlpcourse.grading.nothing`,\n"
                    "`asg01_checks.nothing`, `error: cannot write: make it writable`.\n")
    assert problems(page) == [
        "link to missing.md: no file missing.md",
        "link to #nowhere: no heading #nowhere in page.md",
        "`make nonsense`: no such documented target in the Makefile",
        "`mlpcourse frobnicate`: no such subcommand",
        "`mlpcourse grade --wrokers`: no such option",
        "mlpcourse/nothing.py: no such file or folder",
        "tests/test_docs.py::test_nothing: no such test",
        "mlpcourse.grading.nothing: cannot be imported",
        f"asg01_checks.nothing: not defined in source/{asg01.NAME}/asg01_checks.py",
    ]


def test_the_docs_figures_are_rendered_from_the_tools():
    """Are the generated regions (the commands table, the kill matrix's figures) what docs/figures.py renders now?"""
    stale = figures.stale()
    assert not stale, "\n".join(stale)


def test_the_points_table_gives_the_master_notebooks_points():
    """Does docs/instructors.md give every grade cell of the master notebook, with its points?"""
    text = (paths.ROOT / "docs" / "instructors.md").read_text()
    table = text[text.index("## Points"):]
    table = table[:table.index("\n\n", table.index("| part |"))]
    documented = {grade_id: float(points) for grade_id, points in re.findall(r"`(\w+)` (\d+)", table)}
    master = {grade_id: float(cell.metadata.nbgrader["points"])
              for grade_id, cell in notebook.cells_by_grade_id(notebook.read(asg01.MASTER)).items()
              if cell.metadata.nbgrader.get("points")}
    assert documented == master
