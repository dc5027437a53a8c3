"""Instructor and TA tooling for the asg01 "MLP from scratch" nbgrader course.

Laid out by role; each subpackage's docstring says what it holds:

- ``authoring``: the master notebook, its fixtures, and the release students get;
- ``containment``: running an untrusted notebook (sandboxed kernel, the grader's re-runs);
- ``grading``: the TA's chain, from the LMS's zip to a graded class in the gradebook;
- ``reports``: what people read (feedback pages, the sanitised formgrader, the class report);
- ``quality``: how good the tests are (the catalogue of bugs, the kill matrix, the harness).

Top level: ``paths`` and ``records`` (where things live), ``cli`` (``python -m mlpcourse``).
"""
