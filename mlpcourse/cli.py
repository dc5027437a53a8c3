"""``python -m mlpcourse COMMAND``: the instructor's and TA's commands."""

import argparse
import pathlib
import sys

from mlpcourse import paths


def _fixtures(args):
    from mlpcourse import fixtures

    if args.check:
        reasons = fixtures.stale_reasons()
        for reason in reasons:
            print(f"stale: {reason}")
        if reasons:
            print("the fixtures are stale: run `make fixtures` (python -m mlpcourse fixtures)")
            return 1
        print("fixtures are fresh")
        return 0
    public, hidden = fixtures.generate()
    print(f"wrote {len(public)} public arrays to {paths.PUBLIC_FIXTURES.relative_to(paths.ROOT)}")
    print(f"wrote {len(hidden)} hidden arrays to {paths.HIDDEN_FIXTURES.relative_to(paths.ROOT)}")
    return 0


def _release(args):
    from mlpcourse import release

    if args.check:
        reasons = release.stale_reasons()
        for reason in reasons:
            print(f"stale: release/{paths.ASSIGNMENT}/{reason}")
        if reasons:
            print("release/ is stale: run `make release` (python -m mlpcourse release)")
            return 1
        print("release/ is fresh")
        return 0
    folder = release.generate()
    print(f"generated {folder.relative_to(paths.ROOT)} with nbgrader generate_assignment")
    return 0


def _demo(args):
    from mlpcourse import demo

    scores = demo.run(pathlib.Path(args.course_dir), log=lambda line: print(f"[demo] {line}"))
    print(demo.table(scores))
    return 0


def build_parser():
    parser = argparse.ArgumentParser(prog="python -m mlpcourse", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    command = commands.add_parser("fixtures", help="regenerate the test fixtures from the master notebook")
    command.add_argument("--check", action="store_true", help="only check that they are fresh")
    command.set_defaults(run=_fixtures)

    command = commands.add_parser("release", help="regenerate release/ with nbgrader generate_assignment")
    command.add_argument("--check", action="store_true", help="only check that it is fresh")
    command.set_defaults(run=_release)

    command = commands.add_parser("demo", help="grade the demo class end to end and print the grades")
    command.add_argument("--course-dir", default=str(paths.ROOT), help="course directory (default: this repo)")
    command.set_defaults(run=_demo)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
