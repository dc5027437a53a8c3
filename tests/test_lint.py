"""Static checks of the repository's Python: no unused imports or undefined names, no tangled functions."""

import ast
import json
import pathlib
import subprocess
import sys

from mlpcourse import paths

CHECKED = ("mlpcourse", "tests", "benchmarks", "source", "tests_assets", "nbgrader_config.py")


def test_pyflakes_checks_pass():
    """Does ruff's pyflakes rule set (F) find nothing in the course's Python files?"""
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--select", "F", "--no-cache", *CHECKED],
                            cwd=paths.ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


# McCabe complexity (ruff's C901: branches and loops, not boolean operators) a function may
# have. Above it, a function is split into named steps, or is listed in COMPLEX_ALLOWED and
# its docstring says why it is complex as one piece.
MAX_COMPLEXITY = 15
# "path:function", the path relative to the repository.
COMPLEX_ALLOWED = set()


def _too_complex(files, limit=MAX_COMPLEXITY):
    """``{"path:function": docstring or None}`` for the functions of ``files`` above ``limit``."""
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--select", "C901", "--no-cache",
                             "--config", f"lint.mccabe.max-complexity={limit}", "--output-format", "json", *files],
                            cwd=paths.ROOT, capture_output=True, text=True)
    assert result.returncode in (0, 1), result.stdout + result.stderr
    found = {}
    for finding in json.loads(result.stdout):
        path = pathlib.Path(finding["filename"])
        functions = [node for node in ast.walk(ast.parse(path.read_text()))
                     if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))]
        node = next(node for node in functions if node.lineno == finding["location"]["row"])
        where = path.relative_to(paths.ROOT) if path.is_relative_to(paths.ROOT) else path.name
        found[f"{where}:{node.name}"] = ast.get_docstring(node)
    return found


def test_no_function_is_too_complex():
    """Is every function at most MAX_COMPLEXITY, or allowed with a docstring that says why it is complex?"""
    found = _too_complex(CHECKED)
    assert set(found) <= COMPLEX_ALLOWED, f"split these into named steps: {sorted(set(found) - COMPLEX_ALLOWED)}"
    for name in set(found) & COMPLEX_ALLOWED:
        assert "complex" in (found[name] or ""), f"{name}: its docstring must say why it is complex"


def test_the_complexity_check_finds_a_tangled_function(tmp_path):
    """Does the complexity check name a function one branch over the limit, and none at the limit?"""
    def function(name, branches):
        return f"def {name}(x):\n" + "".join(f"    if x == {i}:\n        return {i}\n" for i in range(branches))

    (tmp_path / "tangled.py").write_text(function("tangled", MAX_COMPLEXITY) + function("flat", MAX_COMPLEXITY - 1))
    assert _too_complex([str(tmp_path / "tangled.py")]) == {"tangled.py:tangled": None}
