"""Instructor and TA tooling for the asg01 "MLP from scratch" nbgrader course.

One role per module: ``paths`` (where things live), ``notebook`` (reading the master
notebook and running its reference solution), ``fixtures`` (reference arrays for the
tests), ``release`` (``nbgrader generate_assignment`` and its staleness check),
``grading`` (running nbgrader on a course directory), ``demo`` (the demo class),
``cli`` (the ``python -m mlpcourse`` front).
"""
