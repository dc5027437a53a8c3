"""``python -m mlpcourse COMMAND``: the instructor's and TA's commands.

They work from the virtual environment with or without activating it
(``.venv/bin/python -m mlpcourse ...``, or ``mlpcourse ...`` once activated). What
the user can get wrong (a course folder, a release, an archive, a roster, a student
id, the dataset) is checked before any work, and reported as one line on stderr
naming the fix, with exit status 2.
"""

import argparse
import csv
import json
import os
import pathlib
import sys

from mlpcourse import paths

# The columns of a roster CSV (mlpcourse.grading.collect.read_roster): LMS ids -> student ids.
ROSTER_COLUMNS = ("student_id", "lms_id")


def _report_staleness(reasons, prefix, subject, target):
    """Print why generated files are stale and the command that fixes it; the exit status."""
    for reason in reasons:
        print(f"stale: {prefix}{reason}")
    if reasons:
        print(f"{subject} stale: run `make {target}` (python -m mlpcourse {target})")
        return 1
    print(f"{subject} fresh")
    return 0


def _fixtures(args):
    from mlpcourse import assignment
    from mlpcourse.authoring import fixtures
    from mlpcourse.grading import coursedir

    course_dir = coursedir.course_folder(args.course_dir)
    described = assignment.load(course_dir, args.assignment)
    if args.check:
        return _report_staleness(fixtures.stale_reasons(described), "", "the fixtures are", "fixtures")
    public, hidden = fixtures.generate(described)
    print(f"wrote {len(public)} public arrays to {described.public_fixtures.relative_to(course_dir)}")
    print(f"wrote {len(hidden)} hidden arrays to {described.hidden_fixtures.relative_to(course_dir)}")
    return 0


def _release(args):
    from mlpcourse.authoring import release
    from mlpcourse.containment import limits
    from mlpcourse.grading import coursedir, dataset

    course_dir = coursedir.course_folder(args.course_dir)
    name = _assignment(args, course_dir)
    if args.check:
        reasons = release.stale_reasons(course_dir, name) + [
            f"../../tests_assets/{name}/{reason}" for reason in limits.stale_reasons(course_dir, name)]
        return _report_staleness(reasons, f"release/{name}/", "release/ is", "release")
    folder = release.generate(course_dir, name)
    print(f"generated {folder} with nbgrader generate_assignment")
    # The time limits derive from the reference's run: measured again when the master's code changed.
    if limits.stale_reasons(course_dir, name):
        dataset.prepare(course_dir, name, log=print)
        print("timing the reference solution's run under grading (the time limits derive from it) ...")
        print(f"wrote {limits.record(course_dir, name)}")
    return 0


def _demo(args):
    from mlpcourse import assignment
    from mlpcourse.grading import demo

    course_dir = pathlib.Path(args.course_dir)
    scores = demo.run(course_dir, log=lambda line: print(f"[demo] {line}"), name=args.assignment)
    print(demo.table(scores, assignment.load(course_dir, args.assignment)))
    return 0


def _formgrader(args):
    from mlpcourse.grading import coursedir
    from mlpcourse.reports import formgrader

    course_dir = coursedir.course_folder(args.course_dir)
    coursedir.require_release(course_dir, assignment=_assignment(args, course_dir))
    formgrader.serve(course_dir, port=args.port, token=args.token)  # never returns


def _released_course(args, output):
    """The checked --course-dir of a command that reads the gradebook and writes ``output`` (None: into the course)."""
    from mlpcourse.grading import coursedir

    course_dir = coursedir.course_folder(args.course_dir, writable=output is None)
    coursedir.require_release(course_dir, args.db_url, assignment=_assignment(args, course_dir))
    return course_dir


def _export_cells(args):
    from mlpcourse.grading import cellgrades

    course_dir = _released_course(args, args.output)
    name = _assignment(args, course_dir)
    path = cellgrades.export(course_dir, args.output, db_url=args.db_url, assignment=name)
    columns, table = cellgrades.rows(course_dir, db_url=args.db_url, assignment=name)
    print(f"wrote {path}: {len(table)} students x {len(columns) - 1 - len(cellgrades.TOTAL_COLUMNS)} grade cells")
    return 0


def _report(args):
    from mlpcourse.reports import report

    course_dir = _released_course(args, args.output_dir)
    page = report.build(course_dir, args.output_dir, db_url=args.db_url, assignment=_assignment(args, course_dir))
    print(f"wrote {page} (with report.json and the figures beside it)")
    return 0


def _kill_matrix(args):
    from mlpcourse.quality import killmatrix

    if args.from_json:
        matrix, failures = json.loads(pathlib.Path(args.from_json).read_text()), []
    else:
        matrix, results = killmatrix.compute(workers=args.workers)
        failures = killmatrix.feedback_failures(results)
    for path in killmatrix.write_reports(matrix, args.out):
        print(f"wrote {path}")
    summary = matrix["summary"]
    print(f"mutants caught {summary['mutants_caught']}/{summary['mutants']} "
          f"({summary['caught_by_visible_tests']} by a visible test), equivalents accepted "
          f"{summary['equivalents_accepted']}/{summary['equivalents']}, bugs charged once "
          f"{summary['charged_once']}/{summary['mutants_caught']}")
    failures += killmatrix.gate_failures(matrix)
    for failure in failures:
        print(f"FAIL: {failure}")
    golden = pathlib.Path(args.golden)
    if args.update_golden:
        killmatrix.write_json(matrix, golden)
        print(f"updated {golden}")
    else:
        differences = killmatrix.golden_differences(matrix, killmatrix.read_golden(golden))
        for difference in differences:
            print(f"changed: {difference}")
        if differences:
            print(f"the kill matrix differs from {golden}: review the changes above, "
                  f"then run `{killmatrix.UPDATE_COMMAND}`")
            failures.append("golden")
    return 1 if failures else 0


def _loops(args):
    from mlpcourse import assignment
    from mlpcourse.quality import loops

    described = assignment.load(paths.ROOT, args.assignment)
    for path in args.notebooks:
        print(loops.report(path, described))
    return 0


def _check_archive(path):
    """Raise CourseError unless ``path`` is a file this user can read (``collect`` checks what is in it)."""
    from mlpcourse.grading.coursedir import CourseError

    try:
        pathlib.Path(path).open("rb").close()
    except OSError as error:
        raise CourseError(f"cannot read the zip {path} ({error.strerror or error}): download the submissions "
                          "from the LMS again and pass that file's path to --zip") from None


def _check_roster(path):
    """Raise CourseError unless ``path`` is a CSV whose header has the roster's columns."""
    from mlpcourse.grading.coursedir import CourseError

    try:
        with open(path, newline="") as handle:
            header = next(csv.reader(handle), [])
    except (OSError, UnicodeDecodeError) as error:
        raise CourseError(f"cannot read the roster {path} ({getattr(error, 'strerror', None) or error}): "
                          "pass a CSV file to --roster") from None
    missing = [column for column in ROSTER_COLUMNS if column not in header]
    if missing:
        raise CourseError(f"the roster {path} has no {' or '.join(missing)} column (its header: "
                          f"{','.join(header) or 'empty'}): its first line must name the columns "
                          f"{','.join(ROSTER_COLUMNS)}")


def _timezone_option(command):
    command.add_argument("--timezone", default="UTC", help="the LMS server's time zone, in which the archive's "
                         "submission times are (IANA name, e.g. Europe/London; default: UTC)")


def _collect(args):
    from mlpcourse.grading import collect, coursedir

    _check_archive(args.zip)
    if args.roster:
        _check_roster(args.roster)
    course_dir = coursedir.writable_folder(args.course_dir)
    # A folder that is not a course yet (uploads laid out first) takes this repository's assignments.
    name = _assignment(args, course_dir if (course_dir / paths.SOURCE_DIRECTORY).is_dir() else paths.ROOT)
    report = collect.collect(args.zip, course_dir, name, roster=args.roster, timezone=args.timezone)
    for line in collect.summary(report):
        print(line)
    return 0


def _grade(args):
    from mlpcourse.grading import classroom, collect, coursedir, dataset, late

    # What the user gave is checked before any work, the data before any kernel starts.
    if args.scheduler and not args.db_url:
        raise coursedir.CourseError("--scheduler needs --db-url: a gradebook all workers can write to (PostgreSQL)")
    if args.roster and not args.zip:
        raise coursedir.CourseError("--roster maps the LMS ids in a --zip: pass the zip with --zip too")
    course_dir = coursedir.course_folder(args.course_dir)
    name = _assignment(args, course_dir)
    late.configured_due_date(course_dir)
    if args.zip:
        _check_archive(args.zip)
    if args.roster:
        _check_roster(args.roster)
    coursedir.require_release(course_dir, args.db_url, assignment=name)
    if args.zip:
        for line in collect.summary(collect.collect(args.zip, course_dir, name, roster=args.roster,
                                                    timezone=args.timezone)):
            print(line)
    coursedir.require_submissions(course_dir, args.student or [], name)
    dataset.prepare(course_dir, name)  # before any kernel starts: grading kernels have no network
    if args.scheduler:
        from dask.distributed import Client

        from mlpcourse.grading import scaleout

        threads = {name: str(args.kernel_threads) for name in classroom.THREAD_VARIABLES} if args.kernel_threads else None
        with Client(args.scheduler) as client:
            summary = scaleout.grade_class(client, course_dir, args.db_url, shard_count=args.shards,
                                           students=args.student, assignment=name, env=threads,
                                           feedback=not args.no_feedback)
    else:
        summary = classroom.grade_class(course_dir, workers=args.workers, students=args.student, assignment=name,
                                       db_url=args.db_url, feedback=not args.no_feedback)
    return 1 if summary.failed else 0


def _return(args):
    from mlpcourse.grading import coursedir, lms

    wanted = {"moodle": "--worksheet", "canvas": "--gradebook", "blackboard": "--gradebook"}.get(args.lms)
    given = {"--worksheet": args.worksheet, "--gradebook": args.gradebook}
    if wanted and not given[wanted]:
        what = "its offline grading worksheet (CSV)" if args.lms == "moodle" else "its gradebook download"
        raise coursedir.CourseError(f"--lms {args.lms} fills in the LMS's own file: pass {what} with {wanted}")
    extra = [option for option, value in given.items() if value and option != wanted]
    if extra:
        raise coursedir.CourseError(f"--lms {args.lms} takes no {extra[0]}"
                                    + (f": pass the file with {wanted}" if wanted else ""))
    if args.roster:
        _check_roster(args.roster)
    course_dir = _released_course(args, args.out)
    result = lms.return_grades(course_dir, args.lms, args.out, export=given.get(wanted), roster=args.roster,
                               column=args.column, db_url=args.db_url, assignment=_assignment(args, course_dir))
    for line in lms.summary(result):
        print(line)
    return 0


def _course_dir_option(command):
    command.add_argument("--course-dir", default=str(paths.ROOT), help="course directory (default: this repo)")


def _assignment_option(command):
    command.add_argument("--assignment", help="the assignment: a folder of COURSE_DIR/source/ with an "
                         "assignment.toml (default: the course's only one)")


def _assignment(args, course_dir):
    """The name of the assignment ``--assignment`` names in ``course_dir``, checked (default: the only one)."""
    from mlpcourse import assignment

    return assignment.load(course_dir, args.assignment).name


def _db_url_option(command):
    command.add_argument("--db-url", help="gradebook URL (default: COURSE_DIR/gradebook.db)")


def build_parser():
    parser = argparse.ArgumentParser(prog="python -m mlpcourse", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    command = commands.add_parser("fixtures", help="regenerate the test fixtures from the master notebook")
    _course_dir_option(command)
    command.add_argument("--check", action="store_true", help="only check that they are fresh")
    _assignment_option(command)
    command.set_defaults(run=_fixtures)

    command = commands.add_parser("release", help="regenerate release/ with nbgrader generate_assignment "
                                  "(and put the assignment in the gradebook)")
    _course_dir_option(command)
    command.add_argument("--check", action="store_true", help="only check that it is fresh")
    _assignment_option(command)
    command.set_defaults(run=_release)

    command = commands.add_parser("demo", help="grade the demo class end to end and print the grades")
    _course_dir_option(command)
    _assignment_option(command)
    command.set_defaults(run=_demo)

    command = commands.add_parser("formgrader", help="start JupyterLab with nbgrader's formgrader on 127.0.0.1")
    _course_dir_option(command)
    command.add_argument("--port", type=int, default=8888, help="port on 127.0.0.1 (default: 8888)")
    command.add_argument("--token", help="access token (default: $JUPYTER_TOKEN or a random one, printed)")
    _assignment_option(command)
    command.set_defaults(run=_formgrader)

    command = commands.add_parser("export-cells", help="write cell_grades.csv: one row per student, "
                                  "one column per grade cell")
    _course_dir_option(command)
    command.add_argument("--output", help="CSV path (default: COURSE_DIR/cell_grades.csv)")
    _db_url_option(command)
    _assignment_option(command)
    command.set_defaults(run=_export_cells)

    command = commands.add_parser("report", help="write the class report (JSON, PNG figures, HTML page)")
    _course_dir_option(command)
    command.add_argument("--output-dir", help="default: COURSE_DIR/build/report/ASSIGNMENT")
    _db_url_option(command)
    _assignment_option(command)
    command.set_defaults(run=_report)

    command = commands.add_parser("kill-matrix", help="grade the catalogue of bugs and correct variants; "
                                  "write the kill matrix; exit 1 if the gate fails or the golden differs")
    command.add_argument("--out", default=str(paths.ROOT / paths.BUILD_DIRECTORY / "kill-matrix"),
                         help="folder for kill_matrix.json/.md/.html/.png (default: build/kill-matrix)")
    command.add_argument("--workers", type=int, default=2, help="entries graded at once (default: 2)")
    command.add_argument("--update-golden", action="store_true",
                         help="rewrite tests/goldens/kill_matrix.json after reviewing the changes")
    command.add_argument("--from-json", help="use this kill_matrix.json instead of grading the catalogue")
    command.add_argument("--golden", default=str(paths.ROOT / "tests" / "goldens" / "kill_matrix.json"),
                         help="golden file to compare with or update (default: tests/goldens/kill_matrix.json)")
    command.set_defaults(run=_kill_matrix)

    command = commands.add_parser("loops", help="list loops over examples in a submission's graded "
                                  "functions, for a TA to review (not graded)")
    command.add_argument("notebooks", nargs="+", help="submitted notebooks (.ipynb)")
    _assignment_option(command)
    command.set_defaults(run=_loops)

    command = commands.add_parser("collect", help="lay out an LMS zip of uploads as submitted/<student>/<assignment>/")
    command.add_argument("zip", help="the archive the LMS produced (Moodle, Canvas, Blackboard or plain)")
    _course_dir_option(command)
    command.add_argument("--roster", help="CSV with student_id and lms_id columns (LMS ids -> student ids)")
    _timezone_option(command)
    _assignment_option(command)
    command.set_defaults(run=_collect)

    command = commands.add_parser("grade", help="grade the class: [collect ZIP ->] repair -> contained autograde "
                                  "-> feedback -> tamper report, W at a time; exit 1 if some could not be graded")
    _course_dir_option(command)
    command.add_argument("--zip", help="collect this LMS archive into submitted/ first")
    command.add_argument("--roster", help="with --zip: CSV with student_id and lms_id columns (LMS ids -> student ids)")
    _timezone_option(command)
    command.add_argument("--student", action="append", help="grade only this student (repeatable)")
    command.add_argument("--workers", type=int, default=1, help="submissions graded at once (default: 1)")
    _db_url_option(command)
    command.add_argument("--scheduler", help="grade on this Dask cluster instead (tcp://host:8786); "
                         "needs a PostgreSQL --db-url")
    command.add_argument("--shards", type=int, help="with --scheduler: number of tasks (default: one per "
                         "worker thread)")
    command.add_argument("--kernel-threads", type=int, help="with --scheduler: BLAS threads per grading kernel "
                         "(cores per machine / Dask worker threads per machine)")
    command.add_argument("--no-feedback", action="store_true", help="skip writing feedback/")
    _assignment_option(command)
    command.set_defaults(run=_grade)

    command = commands.add_parser("return", help="write the grades and feedback pages as the LMS uploads them: "
                                  "OUT/<its file> filled in and OUT/feedback.zip")
    _course_dir_option(command)
    command.add_argument("--lms", required=True, choices=("moodle", "canvas", "blackboard", "csv"))
    command.add_argument("--out", required=True, help="folder to write into (not the one the LMS's file is in)")
    command.add_argument("--worksheet", help="moodle: the assignment's offline grading worksheet (CSV)")
    command.add_argument("--gradebook", help="canvas, blackboard: the gradebook as the LMS exported it")
    command.add_argument("--column", help="canvas, blackboard: the gradebook column to fill (default: the one "
                         "named like the assignment; a new name creates a column)")
    command.add_argument("--roster", help="CSV with student_id and lms_id columns, for students not collected "
                         "from the LMS's archive")
    _db_url_option(command)
    _assignment_option(command)
    command.set_defaults(run=_return)
    return parser


def main(argv=None):
    from mlpcourse.assignment import AssignmentError
    from mlpcourse.grading.coursedir import CourseError, search_path

    # nbgrader's gradebook starts `alembic` by name, and nbgrader the kernels: from this
    # environment, whether or not it was activated.
    os.environ["PATH"] = search_path()
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (CourseError, AssignmentError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
