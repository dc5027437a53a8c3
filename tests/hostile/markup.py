"""Hostile corpus: script payloads in answers and outputs: nothing may run in a TA's or student's browser.

Issue 10, item 5. Each case is the fast reference solution plus payloads in one place a
student controls: the outputs of their code (every MIME type), their written answers,
their own markdown and raw cells and cell attachments. Grading must be unaffected, and
the payloads must reach neither the autograded notebook (which formgrader and
JupyterLab show the TA) nor the feedback in a form that runs.

``absent`` markers are chosen so that only an executable form contains them: the code
that builds an output payload splits its markers (``"on" + "error"``), and the markers
of markdown payloads are a tag's opening with a quoted attribute: the notebook's JSON
always escapes the quote, a sanitised page shows the ``<`` as ``&lt;`` (the answer as
text in a code block), while an unsanitised page would carry the live tag.
"""

import nbformat

from hostile.kit import Case, _bytes, _index, _source, _with_cell

# Markers an output payload carries only once it runs: the cell's source never holds them.
HTML_MARKERS = ("onerror=MARKIMG", "onload=MARKSVG", "<script>MARKSCRIPT", "javascript:MARKLINK", "srcdoc=MARK")
ACTIVE_MARKERS = ("MARKJS()", "MARKWIDGET1", "onload=MARKSVG2", "javascript:MARKMD", '"isolated": true',
                  "onerror=MARKPNG", "onmouseover=MARKMETA")
# Markers of markdown payloads: a live attribute, quotes included (see the module docstring).
ANSWER_MARKERS = ('<img src=x onerror="MARKANS', '<svg onload="MARKANS', '<a href="javascript:MARKANS',
                  '<iframe srcdoc="MARKANS', '<details open ontoggle="MARKANS')
CELL_MARKERS = ('<img src=x onerror="MARKCELL', "onerror=MARKRAW", "onerror=MARKATT", "onload=MARKATT")


def html_outputs(ctx):
    """``display(HTML(...))`` with an onerror image, an onload SVG, a script, a javascript: link and a srcdoc frame."""
    return "asg01.ipynb", _bytes(_with_cell(ctx.solved(), "test_sigmoid_hidden", """
        from IPython.display import HTML, display
        on, mark = "on", "MARK"
        display(HTML(f"<img src=x {on}error={mark}IMG()>"))
        display(HTML(f"<svg {on}load={mark}SVG()><circle r=3></circle></svg>"))
        display(HTML("<scr" + f"ipt>{mark}SCRIPT()</scr" + "ipt>"))
        display(HTML(f"<a href=java" + f"script:{mark}LINK()>my plot</a>"))
        display(HTML(f"<iframe src" + f"doc={mark}FRAME></iframe>"))
        print("displayed")
    """))


def active_outputs(ctx):
    """JavaScript, SVG, widget-view and markdown outputs, an isolated-iframe flag, a fake PNG, hostile metadata."""
    return "asg01.ipynb", _bytes(_with_cell(ctx.solved(), "test_softmax_hidden", """
        from IPython.display import Javascript, Markdown, display
        mark = "MARK"
        display(Javascript(mark + "JS()"))
        display({"application/vnd.jupyter.widget-view+json": {"model_id": mark + "WIDGET1", "version_major": 2,
                                                               "version_minor": 0}, "text/plain": "a widget"}, raw=True)
        display({"image/svg+xml": "<svg on" + f"load={mark}SVG2()></svg>", "text/plain": "svg"}, raw=True)
        display(Markdown("[notes](java" + f"script:{mark}MD())"))
        display({"text/html": "<b>framed</b>", "text/plain": "framed"}, metadata={"text/html": {"iso" + "lated": True}},
                raw=True)
        display({"image/png": "x on" + f"error={mark}PNG()", "text/plain": "png"}, raw=True)
        display({"image/png": "iVBORw0KGgo=", "text/plain": "png"},
                metadata={"image/png": {"width": "1 on" + f"mouseover={mark}META()"}}, raw=True)
    """))


def markdown_answers(ctx):
    """Written answers with an onerror image, an SVG, a javascript: link, a srcdoc frame and a details toggle."""
    nb = ctx.solved()
    answers = {
        "q_nonlinear": 'Without a non-linearity the layers collapse. <img src=x onerror="MARKANS1()">',
        "q_he_init": 'Variance 2/n keeps activations stable. <svg onload="MARKANS2()"><circle r="2"/></svg>',
        "q_gd": 'Not always: see [my notes](javascript:MARKANS3()) and <a href="javascript:MARKANS4()">this</a>.',
        "q_bias_variance": 'High variance. <iframe srcdoc="MARKANS5"></iframe><details open ontoggle="MARKANS6()">',
    }
    for grade_id, text in answers.items():
        _source(nb, grade_id).source = text
    return "asg01.ipynb", _bytes(nb)


def student_cells(ctx):
    """The student's own markdown and raw cells with payloads, hostile attachments, a missing attachment."""
    nb = ctx.solved()
    at = _index(nb, "q_gd") + 1
    note = nbformat.v4.new_markdown_cell('My notes <img src=x onerror="MARKCELL()"> ![plot](attachment:plot.svg) '
                                         '![page](attachment:page.html)')
    svg = "<svg xmlns='http://www.w3.org/2000/svg' onload=MARKATT()/>"
    note.attachments = {"plot.svg": {"image/svg+xml": svg},
                        "page.html": {"text/html": "<img src=x onerror=MARKATT()>"}}
    raw = nbformat.v4.new_raw_cell("<img src=x onerror=MARKRAW()>", metadata={"format": "text/html"})
    missing = nbformat.v4.new_markdown_cell("![gone](attachment:gone.png)")  # nbconvert fails on it
    nb.cells[at:at] = [note, raw, missing]
    return "asg01.ipynb", _bytes(nb)


CASES = (
    Case("markup_html_outputs", html_outputs, absent=HTML_MARKERS),
    Case("markup_active_outputs", active_outputs, absent=ACTIVE_MARKERS),
    Case("markup_markdown_answers", markdown_answers, absent=ANSWER_MARKERS),
    Case("markup_student_cells", student_cells, absent=CELL_MARKERS),
)
