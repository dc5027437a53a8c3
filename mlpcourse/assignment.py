"""What the course's machinery knows of one assignment, read from its description.

Everything that is particular to an assignment, and not already in its master
notebook, is written once in ``source/<name>/assignment.toml`` beside the master
``source/<name>/<name>.ipynb``: its graded functions (the solution cell that defines
each and the grade cells that test it), its helper and hidden modules, its dataset
(or none) and the demo class. The authoring, grading, containment, quality and report
code reads it through :func:`load` rather than naming an assignment's functions and
cells; ``nbgrader_config.py`` reads every description of the course (the variables
kernels keep), and its ``CourseDirectory.ignore`` keeps them (and the fixture recipes) out
of the release. Besides its own files, every assignment releases the course's generic
checks, ``course_checks`` (:data:`COURSE_CHECKS`), which ``python -m mlpcourse release``
copies into its source folder.

The format, with asg01's as the worked example (``source/asg01/assignment.toml``)::

    helper_module = "asg01_checks"      # released, source/<name>/; optional
    hidden_module = "asg01_hidden"      # tests_assets/<name>/<hidden_module>.py
    reference_cells = ["linear", ...]   # code cells forming the reference solution
    [other_tests]                       # autograded cells that test no single function
    test_training = "training"          #   grade id -> what reports file it under
    [data]                              # optional: the assignment has a dataset
    loader = "kannada_mnist"            #   source/<name>/<loader>.py
    first_cell = "load_data"            #   the first cell that needs the data
    kernel_env = ["KANNADA_MNIST_DIR"]  #   variables the grading kernel keeps, by name
    [fixtures]                          # optional: python -m mlpcourse fixtures writes them
    recipe = "asg01_fixtures"           #   source/<name>/<recipe>.py, never released
    public = "asg01_public_fixtures.npz"  # source/<name>/, released
    hidden = "asg01_hidden_fixtures.npz"  # tests_assets/<name>/, with its MANIFEST.json
    [harness]                           # optional
    preload = "..."                     #   code a fast-harness worker runs first
    [functions.<key>]                   # one per graded function
    name, definition, batch_args, cell, visible, hidden
    [[demo]]                            # the demo class, one table per student
    student, start ("solved" or "release"), cells {grade_id: source}, unwritten [grade_id]
"""

import dataclasses
import importlib.util
import pathlib
import sys
import tomllib

from mlpcourse import paths

DESCRIPTION = "assignment.toml"
# The course's generic check helpers (mlpcourse/authoring/course_checks.py), copied into
# every assignment's source folder and released beside its notebook.
COURSE_CHECKS = "course_checks"
# What the fixtures command writes beside the hidden fixtures: their hashes and the reference's.
FIXTURE_MANIFEST = "MANIFEST.json"


class AssignmentError(ValueError):
    """The assignment does not exist or its description is wrong: the message says which and the fix."""


@dataclasses.dataclass(frozen=True)
class Function:
    """One graded function of an assignment.

    Attributes
    ----------
    key : str
        Its short name in the catalogue, the kill matrix and its grade ids (``cross_entropy``).
    name : str
        What the notebook calls it, and its failure messages must name (``categorical_cross_entropy``).
    definition : str
        The function or method that defines it (``"SGD.step"``): what the loop scan reads.
    batch_args : tuple of int
        Positions of the definition's arguments that hold the data (``self`` counts).
    cell : str
        The solution cell (grade id) that defines it.
    visible, hidden : tuple of str
        Its visible and hidden test cells (grade ids).
    """

    key: str
    name: str
    definition: str
    batch_args: tuple
    cell: str
    visible: tuple
    hidden: tuple

    @property
    def tests(self):
        """Its grade cells, visible then hidden: the only ones a bug in it may cost."""
        return self.visible + self.hidden


@dataclasses.dataclass(frozen=True)
class Data:
    """An assignment's dataset: the loader module, the cell that first needs it, the kernel's variables."""

    loader: str
    first_cell: str
    kernel_env: tuple


@dataclasses.dataclass(frozen=True)
class Fixtures:
    """An assignment's reference arrays: the recipe module that builds them from the reference
    solution (``build_public(ref, helpers)`` and ``build_hidden(ref, helpers)``, each returning
    ``{name: np.ndarray}``) and the file names of the public and the hidden set."""

    recipe: str
    public: str
    hidden: str


@dataclasses.dataclass(frozen=True)
class DemoSubmission:
    """One student of the demo class: the release (``start="release"``) or the solved release
    (``"solved"``), with ``cells`` ({grade_id: source}) replaced and ``unwritten`` cells as released."""

    student: str
    start: str
    cells: dict
    unwritten: tuple


@dataclasses.dataclass(frozen=True)
class Assignment:
    """One assignment of the course, as its ``assignment.toml`` describes it.

    Attributes
    ----------
    name : str
        The assignment id (``asg01``): its folders under ``source/``, ``release/``, ``tests_assets/``.
    course_dir : pathlib.Path
    helper_module, hidden_module : str or None
        The released check helpers and the hidden checks (module names).
    reference_cells : tuple of str
    functions : dict
        ``{key: Function}`` in the description's order.
    other_tests : dict
        ``{grade_id: label}`` of autograded cells that test no single function.
    data : Data or None
    fixtures : Fixtures or None
    harness_preload : str
        Python code each fast-harness worker runs once before grading entries (``HIDDEN_FOLDER``
        names the hidden folder there): reading the checks' fixtures ahead.
    demo : tuple of DemoSubmission
    """

    name: str
    course_dir: pathlib.Path
    helper_module: str | None
    hidden_module: str | None
    reference_cells: tuple
    functions: dict
    other_tests: dict
    data: Data | None
    fixtures: Fixtures | None
    harness_preload: str
    demo: tuple

    @property
    def source(self):
        """``source/<name>/``: the master notebook and the released helper files."""
        return paths.course_folder(self.course_dir, paths.SOURCE_DIRECTORY, self.name)

    @property
    def master(self):
        """The master notebook ``source/<name>/<name>.ipynb``."""
        return self.source / f"{self.name}.ipynb"

    @property
    def tests_assets(self):
        """``tests_assets/<name>/``: the hidden checks and their fixtures, never released."""
        return paths.course_folder(self.course_dir, paths.HIDDEN_DIRECTORY, self.name)

    @property
    def notebook_name(self):
        """The file name of the assignment's notebook in release/, submitted/, autograded/."""
        return f"{self.name}.ipynb"

    @property
    def course_modules(self):
        """The course's modules a notebook's tests rely on: the generic and the assignment's check
        helpers and the data loader (the kernel imports them) and the hidden checks (only the grader
        has the real one)."""
        named = (COURSE_CHECKS, self.helper_module, self.data.loader if self.data else None, self.hidden_module)
        return tuple(module for module in named if module)

    @property
    def unreleased_files(self):
        """Names of the files of ``source/<name>/`` that are the tools' and never released: the
        description and the fixture recipe (``nbgrader_config.py``'s ``CourseDirectory.ignore``)."""
        return (DESCRIPTION,) + ((f"{self.fixtures.recipe}.py",) if self.fixtures else ())

    def fixture_files(self):
        """Its ``[fixtures]`` table (:class:`Fixtures`).

        Raises
        ------
        AssignmentError
            The description has none: one line saying so.
        """
        if self.fixtures is None:
            raise AssignmentError(f"{self.source / DESCRIPTION} has no [fixtures] table: {self.name} has no "
                                  "fixtures to make (add the table and a recipe to give it some)")
        return self.fixtures

    @property
    def public_fixtures(self):
        """``source/<name>/<public>``: the reference arrays of the visible tests, released."""
        return self.source / self.fixture_files().public

    @property
    def hidden_fixtures(self):
        """``tests_assets/<name>/<hidden>``: the reference arrays of the hidden tests, never released."""
        return self.tests_assets / self.fixture_files().hidden

    @property
    def fixture_manifest(self):
        """``tests_assets/<name>/MANIFEST.json``: the hashes of both fixture files and of the reference."""
        self.fixture_files()
        return self.tests_assets / FIXTURE_MANIFEST

    def source_module(self, module):
        """Module ``module`` of ``source/<name>/`` (``<module>.py``), executed afresh in this process.

        While it runs, its folder comes first on ``sys.path``, as the notebook's folder does
        in a kernel: its own imports (``course_checks`` from ``asg01_checks``) resolve there.
        """
        folder = str(self.source)
        spec = importlib.util.spec_from_file_location(module, self.source / f"{module}.py")
        loaded = importlib.util.module_from_spec(spec)
        sys.path.insert(0, folder)
        try:
            spec.loader.exec_module(loaded)
        finally:
            sys.path.remove(folder)
        return loaded

    @property
    def kernel_env(self):
        """Names of the environment variables the grading kernel keeps for this assignment."""
        return self.data.kernel_env if self.data else ()

    @property
    def graded_cells(self):
        """The solution cells (grade ids) that define the graded functions, each once, in the description's order."""
        return tuple(dict.fromkeys(function.cell for function in self.functions.values()))

    def function_of(self, grade_id):
        """What a grade cell checks: its function's key, its ``other_tests`` label, else the grade id."""
        for function in self.functions.values():
            if grade_id in function.tests:
                return function.key
        return self.other_tests.get(grade_id, grade_id)

    def test_groups(self):
        """``{label: grade ids}`` of every autograded cell: one group per function, then the others."""
        groups = {key: function.tests for key, function in self.functions.items()}
        for grade_id, label in self.other_tests.items():
            groups[label] = groups.get(label, ()) + (grade_id,)
        return groups


def names(course_dir=paths.ROOT):
    """The assignments of the course in ``course_dir``: folders of ``source/`` with a description, sorted."""
    source = pathlib.Path(course_dir) / paths.SOURCE_DIRECTORY
    return sorted(path.parent.name for path in source.glob(f"*/{DESCRIPTION}"))


def default_name(course_dir=paths.ROOT):
    """The course's assignment when it has only one.

    Raises
    ------
    AssignmentError
        The course has none, or several (then one must be named).
    """
    found = names(course_dir)
    source = pathlib.Path(course_dir) / paths.SOURCE_DIRECTORY
    if not found:
        raise AssignmentError(f"{source} holds no assignment with an {DESCRIPTION}: "
                              f"write source/NAME/{DESCRIPTION} beside the master notebook")
    if len(found) > 1:
        raise AssignmentError(f"{source} holds {len(found)} assignments ({', '.join(found)}): "
                              "pass --assignment NAME")
    return found[0]


def _function(key, table):
    return Function(key=key, name=table.get("name", key), definition=table.get("definition", key),
                    batch_args=tuple(table.get("batch_args", ())), cell=table["cell"],
                    visible=tuple(table.get("visible", ())), hidden=tuple(table.get("hidden", ())))


def _fixtures(table):
    return Fixtures(recipe=table["recipe"], public=table["public"], hidden=table["hidden"]) if table else None


def _demo(table):
    if table.get("start") not in ("solved", "release"):
        raise ValueError(f"demo student {table.get('student')!r}: start must be \"solved\" or \"release\"")
    return DemoSubmission(student=table["student"], start=table["start"], cells=dict(table.get("cells", {})),
                          unwritten=tuple(table.get("unwritten", ())))


def load(course_dir=paths.ROOT, name=None):
    """The assignment ``name`` (default: the course's only one) of the course in ``course_dir``.

    Raises
    ------
    AssignmentError
        One line: no such assignment (and which there are), or what is wrong in its description.
    """
    course_dir = pathlib.Path(course_dir)
    name = name or default_name(course_dir)
    path = paths.course_folder(course_dir, paths.SOURCE_DIRECTORY, name) / DESCRIPTION
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise AssignmentError(f"{path} does not exist: the course's assignments are "
                              f"{', '.join(names(course_dir)) or 'none'}; pass one of them") from None
    except tomllib.TOMLDecodeError as error:
        raise AssignmentError(f"{path} is not valid TOML ({error}): correct it") from None
    try:
        data = raw.get("data")
        return Assignment(
            name=name,
            course_dir=course_dir,
            helper_module=raw.get("helper_module"),
            hidden_module=raw.get("hidden_module"),
            reference_cells=tuple(raw["reference_cells"]),
            functions={key: _function(key, table) for key, table in raw.get("functions", {}).items()},
            other_tests=dict(raw.get("other_tests", {})),
            data=Data(data["loader"], data["first_cell"], tuple(data.get("kernel_env", ()))) if data else None,
            fixtures=_fixtures(raw.get("fixtures")),
            harness_preload=raw.get("harness", {}).get("preload", ""),
            demo=tuple(_demo(table) for table in raw.get("demo", ())),
        )
    except (KeyError, TypeError, ValueError) as error:
        missing = f"it has no {error}" if isinstance(error, KeyError) else str(error)
        raise AssignmentError(f"{path} does not describe the assignment: {missing}") from None
