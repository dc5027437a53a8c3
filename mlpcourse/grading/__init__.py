"""The TA's grading: collecting uploads, repairing, autograding one submission and a class."""
