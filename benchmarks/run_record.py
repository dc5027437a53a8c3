"""What a benchmark run records about itself beside its figures: when, how it was called, how busy
the machine was (the 1-minute load average at the start and at the end).

The figures in ``docs/benchmarks.md`` are rendered from the committed results in
``benchmarks/results/`` (``docs/figures.py``), with this record, so that a reader can
tell a quiet run from a loaded one.
"""

import datetime
import os
import pathlib
import sys

# Where `make bench` writes the results that the docs show.
RESULTS = pathlib.Path(__file__).resolve().parent / "results"


def start(script, argv=None):
    """The record of a run of ``script`` (a path) with ``argv`` (default: this process's arguments), begun now."""
    arguments = sys.argv[1:] if argv is None else list(argv)
    return {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "command": " ".join(["python", f"benchmarks/{pathlib.Path(script).name}", *arguments]),
            "load_average": [round(os.getloadavg()[0], 1)]}


def finish(record):
    """``record`` with the load average at the end of the run."""
    return {**record, "load_average": [record["load_average"][0], round(os.getloadavg()[0], 1)]}
