"""Late work: the course's late-submission penalty, counted by nbgrader from the due date.

nbgrader does the counting. ``collect`` writes each submission's time, as the LMS
archive records it, to ``submitted/<student>/<assignment>/timestamp.txt``;
``nbgrader autograde`` stores it as the submission's timestamp, takes the seconds
past the assignment's due date in the gradebook (plus the student's extension, if
one was given) and asks ``c.AssignLatePenalties.plugin_class`` for the penalty,
which it stores as the notebook's ``late_submission_penalty``: formgrader, nbgrader's
export and the class report show it. nbgrader's export gives the score less it (never
below 0); so does the class report's late table.

``nbgrader_config.py`` sets both halves:

- the due date, ``c.DueDatePenalties.duedate``: :class:`DueDatePenalties` (nbgrader's
  ``AssignLatePenalties`` step) records it as the assignment's due date in the
  gradebook being graded before nbgrader counts (with ``grade --workers``, each
  worker's copy: the course's gradebook then gets the penalty and the timestamp, not
  the due date, which :func:`late_submissions` reads from the configuration);
- the rule, :class:`LatePenalty`: a share of the score per started period late,
  after a grace time, up to a cap.
"""

import datetime
import math
import warnings

import dateutil.parser
import dateutil.tz
from nbgrader.api import Gradebook
from nbgrader.plugins import BasePlugin
from nbgrader.preprocessors import AssignLatePenalties
from nbgrader.utils import parse_utc
from traitlets import Float, TraitError, Unicode, validate

from mlpcourse import gradebook, paths, records
from mlpcourse.grading import chain, coursedir


def due_date_utc(text):
    """The due date ``text`` (date, time and zone) as nbgrader reads it: a naive UTC datetime.

    nbgrader's ``parse_utc`` reads a zone it does not know (``BST``, ``Europe/Londn``),
    or none, as UTC, and a number after a space (``+0100``) as seconds; those are
    refused here instead.

    Raises
    ------
    ValueError
        One line, saying what is wrong with ``text`` and how to write it.
    """
    fix = ("write it as '2027-03-05 17:00:00 Europe/London' (an IANA zone name) or '2027-03-05 17:00:00+01:00' "
           "(an offset, no space before it) in nbgrader_config.py")
    parts = text.split(" ")
    try:
        with warnings.catch_warnings():  # an unknown zone name: refused below, in the course's words
            warnings.simplefilter("ignore", dateutil.parser.UnknownTimezoneWarning)
            if len(parts) == 3:  # parse_utc's "<date> <time> <zone>"
                zoned = not parts[2].lstrip("+-").isdigit() and dateutil.tz.gettz(parts[2]) is not None
            else:
                zoned = dateutil.parser.parse(text).tzinfo is not None
            due = parse_utc(text)
    except (ValueError, OverflowError):
        raise ValueError(f"{text!r} is not a date: {fix}") from None
    if not zoned:
        raise ValueError(f"{text!r} has no time zone nbgrader knows (it would read it as UTC): {fix}")
    return due


class LatePenalty(BasePlugin):
    """``per_period`` of the score for each started ``period_hours`` past the due date, at most ``cap`` of it.

    With the defaults (10 % a day, at most all of it), a submission 1 minute late loses
    10 % of its score, 25 hours late 20 %, 10 days late all of it.
    """

    per_period = Float(0.1, help="Share of the score taken for each started period late.").tag(config=True)
    period_hours = Float(24.0, help="Length of a period, in hours.").tag(config=True)
    cap = Float(1.0, help="Largest share of the score taken, however late.").tag(config=True)
    grace_minutes = Float(
        0.0, help="Lateness forgiven: minutes past the due date that cost nothing (an upload still running at the "
                  "deadline).").tag(config=True)

    @validate("per_period", "cap")
    def _share(self, proposal):
        if not 0 <= proposal["value"] <= 1:
            raise TraitError(f"LatePenalty.{proposal['trait'].name} is a share of the score, from 0 to 1")
        return proposal["value"]

    @validate("period_hours")
    def _positive(self, proposal):
        if proposal["value"] <= 0:
            raise TraitError("LatePenalty.period_hours must be positive")
        return proposal["value"]

    def periods_late(self, total_seconds_late):
        """The started periods past the due date and the grace time (0 if within them)."""
        counted = total_seconds_late - 60 * self.grace_minutes
        return math.ceil(counted / (3600 * self.period_hours)) if counted > 0 else 0

    def late_submission_penalty(self, student_id, score, total_seconds_late):
        """Points taken from ``score`` (the notebook's) for a submission ``total_seconds_late`` late."""
        share = min(self.cap, self.per_period * self.periods_late(total_seconds_late))
        return round(score * share, 2)


class DueDatePenalties(AssignLatePenalties):
    """nbgrader's late-penalty step, counting from the due date set in ``nbgrader_config.py``.

    With ``duedate`` unset, the gradebook's own due date (``nbgrader db assignment add
    --duedate``, formgrader) is used as it is; with none there, nothing is late.
    """

    duedate = Unicode(
        None, allow_none=True,
        help="The assignment's due date with its time zone, an IANA name or an offset: "
             "'2027-03-05 17:00:00 Europe/London', '2027-03-05 17:00:00+01:00' (see due_date_utc).",
    ).tag(config=True)

    @validate("duedate")
    def _parsable(self, proposal):
        if proposal["value"] is not None:
            try:
                due_date_utc(proposal["value"])
            except ValueError as error:
                raise TraitError(f"DueDatePenalties.duedate {error}") from None
        return proposal["value"]

    def preprocess(self, nb, resources):
        if self.duedate is not None:
            with Gradebook(resources["nbgrader"]["db_url"]) as book:
                book.update_or_create_assignment(resources["nbgrader"]["assignment"], duedate=self.duedate)
        return super().preprocess(nb, resources)


def configured_due_date(course_dir):
    """The due date the course's ``nbgrader_config.py`` sets (naive UTC), or None.

    ``grade`` calls this before any work: nbgrader would otherwise fail on a bad date
    for every student, one after the other.

    Raises
    ------
    CourseError
        One line naming the setting and how to write it.
    """
    configured = chain.config_value(course_dir, "DueDatePenalties", "duedate", None)
    try:
        return due_date_utc(configured) if configured else None
    except ValueError as error:
        raise coursedir.CourseError(f"c.DueDatePenalties.duedate {error}") from None


def late_submissions(course_dir, db_url=None, *, assignment):
    """The submissions that are late, or that the LMS marked late, with the penalty nbgrader applied.

    The due date is the one in ``nbgrader_config.py``, else the gradebook's (parallel
    grading records it in each worker's copy only); a student's extension counts.

    Returns
    -------
    dict
        ``duedate`` (ISO, UTC; None when there is none) and ``submissions``: one
        ``{"student_id", "submitted_at" (ISO, UTC), "seconds_late", "penalty" (points,
        from the gradebook), "score" (the total less the penalty, as nbgrader's export
        gives it), "marked_late" (by the LMS, in collect's record)}`` per late or
        marked submission, latest first.
    """
    marked = {student for student, entry in _collected(course_dir, assignment).items() if entry.get("marked_late")}
    configured_utc = configured_due_date(course_dir)
    db_url = db_url or coursedir.default_db_url(course_dir)
    duedate = configured_utc or gradebook.due_date(db_url, assignment)
    found = []
    for student, submission in gradebook.submissions(db_url, assignment).items():
        seconds = _seconds_late(submission, duedate)
        if seconds > 0 or student in marked:
            found.append({
                "student_id": student,
                "submitted_at": submission.timestamp.isoformat() if submission.timestamp else None,
                "seconds_late": seconds, "penalty": submission.late_penalty, "score": submission.total,
                "marked_late": student in marked,
            })
    found.sort(key=lambda late: (-late["seconds_late"], late["student_id"]))
    return {"duedate": duedate.isoformat() if duedate else None, "submissions": found}


def _seconds_late(submission, duedate):
    """Seconds a :class:`~mlpcourse.grading.gradebook.Submission` came in after ``duedate`` and its extension,
    as nbgrader counts them (0 if on time)."""
    if duedate is None or submission.timestamp is None:
        return 0.0
    due = duedate + (submission.extension or datetime.timedelta())
    return max(0.0, (submission.timestamp - due).total_seconds())


def _collected(course_dir, assignment):
    """``{student: entry}`` from the last ``collect`` (its record), or {}."""
    return records.read(paths.records_folder(course_dir, assignment) / "collect.json", {}).get("students", {})
