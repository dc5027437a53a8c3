"""Scale-out grading: Dask tasks on a LocalCluster writing to a real PostgreSQL gradebook."""

import json
import os
import subprocess
import sys

import pytest
from nbgrader.api import Gradebook

import graded_demo
import asg01
from mlpcourse.grading import cellgrades, classroom, coursedir, scaleout


@pytest.fixture(scope="session")
def demo_course(tmp_path_factory, kannada_cache):
    return graded_demo.graded_demo(tmp_path_factory, kannada_cache)


@pytest.fixture(scope="module")
def postgres_url():
    """A PostgreSQL server on 127.0.0.1 (.ci/run installs Debian's postgresql package)."""
    if scaleout.postgres_bin() is None:
        reason = "PostgreSQL's server programs are not installed: apt-get install postgresql"
        if os.environ.get("CI"):
            pytest.fail(reason + " (.ci/run installs it)")
        pytest.skip(reason)
    with scaleout.local_postgres() as url:
        yield url


def test_shards_cover_every_student_once():
    """Do the shards split the class into disjoint groups of nearly equal size?"""
    students = [f"s{i:02d}" for i in range(11)]
    groups = scaleout.shards(students, 4)
    assert sorted(s for g in groups for s in g) == students
    assert sorted(len(g) for g in groups) == [2, 3, 3, 3]
    assert scaleout.shards(students[:2], 4) == [["s00"], ["s01"]]


@pytest.mark.slow
def test_local_postgres_listens_on_loopback_only(postgres_url):
    """Is the test server a real PostgreSQL reached on 127.0.0.1 that nbgrader can use as a gradebook?"""
    import sqlalchemy

    assert "@127.0.0.1:" in postgres_url
    engine = sqlalchemy.create_engine(postgres_url)
    with engine.connect() as connection:
        assert connection.execute(sqlalchemy.text("SHOW listen_addresses")).scalar() == "127.0.0.1"
        assert connection.execute(sqlalchemy.text("SELECT version()")).scalar().startswith("PostgreSQL")
    engine.dispose()


@pytest.mark.slow
def test_a_worker_without_the_data_stops_the_class_before_anyone_is_graded(grading_env, tmp_path):
    """When one Dask worker cannot get the digits (the other can), is no one graded, with the loader's reason?"""
    from dask.distributed import Client, LocalCluster

    from mlpcourse.grading import dataset

    course = graded_demo.ungraded_class(tmp_path / "course")
    (tmp_path / "empty").mkdir()
    no_data = {**os.environ, asg01.DATA_CACHE_ENV: str(tmp_path / "empty"), "KANNADA_MNIST_URL": "http://127.0.0.1:9/"}
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        worker = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", cluster.scheduler_address,
                                   "--nthreads", "1", "--no-dashboard"], env=no_data,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            client.wait_for_workers(2, timeout=60)
            with pytest.raises(dataset.DataUnavailable, match="Kannada-MNIST"):
                scaleout.grade_class(client, course, coursedir.default_db_url(course), shard_count=2,
                                     assignment=asg01.NAME, log=lambda line: None)
        finally:
            worker.terminate()
            worker.wait(timeout=30)
    assert not (course / "autograded").exists() and coursedir.cell_scores(course, asg01.NAME) == {}


@pytest.mark.slow
def test_grade_on_dask_writes_postgres_like_nbgrader(postgres_url, demo_course, grading_env, tmp_path):
    """With `grade --scheduler` on a 2-worker LocalCluster, does every grade land in PostgreSQL once, as nbgrader scored it?"""
    from dask.distributed import LocalCluster

    course = graded_demo.ungraded_class(tmp_path / "course")
    # nbgrader generate_assignment --CourseDirectory.db_url=URL
    scaleout.prepare_gradebook(course, postgres_url, asg01.NAME)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        result = subprocess.run([sys.executable, "-m", "mlpcourse", "grade", "--course-dir", str(course),
                                 "--scheduler", cluster.scheduler_address, "--db-url", postgres_url,
                                 "--kernel-threads", "1", "--no-feedback"],
                                capture_output=True, text=True, env=coursedir.environment())
    assert result.returncode == 1, result.stderr  # dan could not be graded
    summary = classroom.read_log(course, asg01.NAME)
    students = ["ada", "ben", "cy"]
    assert [o.student for o in summary.graded] == students
    assert [o.student for o in summary.failed] == [graded_demo.BROKEN_STUDENT]
    assert summary.failed[0].reason.startswith("unreadable: ")
    assert sorted({o.worker for o in summary.outcomes}) == [0, 1]  # two tasks, one per shard
    assert "as 2 Dask tasks on 2 workers" in result.stdout
    assert len([line for line in result.stdout.splitlines() if line.startswith("[")]) == 4
    assert classroom.verify(course, summary, postgres_url) == []
    with Gradebook(postgres_url) as gradebook:
        submissions = sorted(s.student_id for s in gradebook.assignment_submissions(asg01.NAME))
        assert submissions == [*students, graded_demo.BROKEN_STUDENT]  # dan: recorded, scoring 0
    _, in_postgres = cellgrades.rows(course, db_url=postgres_url, assignment=asg01.NAME)
    _, by_nbgrader = cellgrades.rows(demo_course[0], assignment=asg01.NAME)
    assert [r for r in in_postgres if r["student_id"] in students] == by_nbgrader
    assert sorted(p.name for p in (course / "autograded").iterdir()) == students
    for command in (["export-cells", "--output", str(tmp_path / "cells.csv")],
                    ["report", "--output-dir", str(tmp_path / "report")]):
        subprocess.run([sys.executable, "-m", "mlpcourse", *command, "--course-dir", str(course),
                        "--db-url", postgres_url], check=True, capture_output=True, env=coursedir.environment())
    again = cellgrades.export(course, tmp_path / "again.csv", db_url=postgres_url, assignment=asg01.NAME)
    assert (tmp_path / "cells.csv").read_text() == again.read_text()
    assert json.loads((tmp_path / "report" / "report.json").read_text())["summary"]["graded"] == 3
