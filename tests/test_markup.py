"""Student markup made safe to show (mlpcourse.reports.markup): payloads neutralised, honest text kept."""

import base64
from html.parser import HTMLParser

import nbformat
import pytest

import asg01
from mlpcourse.authoring import notebook
from mlpcourse.reports import markup

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(32)).decode()

# Markdown a student may write in an answer: each one renders to something that runs script
# (or would, in nbconvert's rendering for formgrader and feedback) unless sanitised.
HOSTILE_MARKDOWN = [
    "Answer <img src=x onerror=\"fetch('/api/contents')\">",
    "<svg onload=alert(1)><circle r=4 /></svg>",
    "<script>document.title = 'owned'</script>",
    "[click here](javascript:fetch('/api/contents'))",
    "[click here](JaVaScRiPt:alert(1))",
    "[ref][x]\n\n[x]: javascript:alert(2)",
    "![chart](javascript:alert(3))",
    '<iframe srcdoc="<script>parent.alert(1)</script>"></iframe>',
    "<a href=\"/formgrader/manage_students/%22;alert(1);%22\">my working</a>",
    "<details open ontoggle=alert(1)>x</details>",
    "<style>body{display:none}</style>",
    "<form action=\"/api/contents\"><button>save</button></form>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
]

HONEST_MARKDOWN = [
    "ReLU keeps $x$ when $x > 0$ and gives $0$ when $x < 0$; so $f'(x) \\in \\{0, 1\\}$.",
    "> A quoted line, **bold**, *italic*, `code < 3` and a [link](https://en.wikipedia.org/wiki/ReLU).",
    "1. first\n2. second\n\n- [x] done\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n## A heading",
    "```python\nfor x in X:\n    print(x < 0)\n```",
    "$$\\frac{\\partial L}{\\partial w} = x^T \\delta$$ and a<sup>2</sup> + b<sub>i</sub><br>next",
]


class _Executable(HTMLParser):
    """Anything in an HTML string a browser would run or load: scripts, handlers, frames, URLs."""

    def __init__(self, text):
        super().__init__(convert_charrefs=True)
        self.found = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "iframe", "object", "embed", "svg", "math", "form", "style", "base", "meta"):
            self.found.append(tag)
        for name, value in attrs:
            value = (value or "").strip().lower()
            if name.startswith("on") or name in ("srcdoc", "style", "formaction") or \
                    (name in ("href", "src") and not value.startswith(("https://", "http://", "mailto:", "#",
                                                                       "data:image/png;base64,"))):
                self.found.append(f"{tag} {name}={value}")


def rendered(source):
    """How nbconvert (formgrader, feedback) renders markdown."""
    return markup.MarkdownWithMath(renderer=markup.IPythonRenderer(escape=False)).render(source)


@pytest.mark.parametrize("source", HOSTILE_MARKDOWN)
def test_hostile_markdown_is_shown_as_text(source):
    """Is markdown that would run script (raw HTML, javascript: links) replaced by its text in a code block?"""
    assert _Executable(rendered(source)).found or source.startswith(("<style", "<form")), "not hostile"
    safe = markup.markdown(source)
    assert safe.startswith(markup.NOTE) and source in safe
    assert _Executable(rendered(safe)).found == []


def test_comment_that_browsers_end_early_is_caught():
    """Is ``<!-->`` (an empty comment to a browser, the start of one to Python's parser) shown as text?"""
    assert markup.markdown("<!--><img src=x onerror=alert(1)>-->").startswith(markup.NOTE)


def test_hostile_markdown_cannot_close_the_code_block():
    """Does a source full of backtick fences stay inside the code block that shows it?"""
    source = "```\n````\n<img src=x onerror=alert(1)>\n````"
    assert _Executable(rendered(markup.markdown(source))).found == []


@pytest.mark.parametrize("source", HONEST_MARKDOWN)
def test_honest_markdown_is_kept_as_written(source):
    """Are maths, quotes, code, lists, tables, links and simple tags kept exactly as the student wrote them?"""
    assert markup.markdown(source) == source


def test_release_prose_is_kept_as_written():
    """Would every markdown cell of the release pass the sanitiser unchanged (no false alarm on real prose)?"""
    for cell in notebook.read(asg01.RELEASE_NOTEBOOK).cells:
        if cell.cell_type == "markdown":
            assert markup.markdown(cell.source) == cell.source, notebook.grade_id(cell)


def test_html_keeps_text_and_drops_everything_that_runs():
    """Does the HTML sanitiser keep tables and text and drop scripts, handlers, frames, SVG and bad URLs?"""
    payload = ("<table><tr><td>0.93</td></tr></table><b>ok</b>"
               "<img src=x onerror=alert(1)><svg onload=alert(2)></svg><script>alert(3)</script>"
               "<iframe srcdoc='<script>alert(4)</script>'></iframe><a href='javascript:alert(5)'>a</a>"
               "<a href='/api/contents/nbgrader_config.py'>b</a><img src='/files/gradebook.db'>"
               "<img src='http://127.0.0.1:8888/logout'>"
               "<div style='position:fixed' onclick=alert(6) id=q_gd class=score>c</div>")
    clean = markup.html(payload)
    assert _Executable(clean).found == [] and "logout" not in clean
    assert clean.startswith("<table><tbody><tr><td>0.93</td></tr></tbody></table><b>ok</b>")
    assert "q_gd" not in clean and "score" not in clean  # no id or class to confuse formgrader's page


def test_outputs_keep_only_types_that_render_as_text_or_images():
    """Are JavaScript, SVG, widget views and unsafe markdown dropped, HTML sanitised, images and text kept?"""
    out = nbformat.v4.new_output("display_data", data={
        "text/plain": "<Figure>", "image/png": PNG, "text/html": "<b onclick=alert(1)>hi</b>",
        "application/javascript": "fetch('/api/contents')", "image/svg+xml": "<svg onload=alert(1)/>",
        "application/vnd.jupyter.widget-view+json": {"model_id": "x"}, "text/markdown": "[a](javascript:alert(1))",
        "text/latex": "$x$"},
        metadata={"image/png": {"width": 200, "height": "1 onerror=alert(1)"}, "text/html": {"isolated": True},
                  "filenames": {"image/png": "javascript:alert(1)"}})
    safe = markup.output(out)
    assert sorted(safe.data) == ["image/png", "text/html", "text/latex", "text/plain"]
    assert safe.data["text/html"] == "<b>hi</b>"
    assert safe.metadata == {"image/png": {"width": 200}}
    fake_png = nbformat.v4.new_output("display_data", data={"image/png": 'x" onerror="alert(1)'})
    assert markup.output(fake_png).data == {}
    assert markup.output(nbformat.v4.new_output("stream", name="stdout", text="<b>")).text == "<b>"


def test_attachments_keep_only_valid_raster_images():
    """Are SVG, HTML and malformed attachments dropped, and a PNG attachment kept and shown?"""
    cell = nbformat.v4.new_markdown_cell("![plot](attachment:plot.png) ![x](attachment:x.svg)")
    cell.attachments = {"plot.png": {"image/png": PNG}, "x.svg": {"image/svg+xml": "<svg onload=alert(1)/>"},
                        "page.html": {"text/html": "<script>alert(1)</script>"}, "bad.png": {"image/png": "%%%"}}
    markup.cell(cell)
    assert cell.attachments == {"plot.png": {"image/png": PNG}}
    assert cell.source.startswith(markup.NOTE)  # x.svg is gone: shown as text rather than failing to render
    kept = nbformat.v4.new_markdown_cell("![plot](attachment:plot.png)")
    kept.attachments = {"plot.png": {"image/png": PNG}}
    assert markup.cell(kept).source == "![plot](attachment:plot.png)"


def test_notebook_drops_widget_state_and_trusts_only_exact_locked_cells():
    """Is widget state dropped, a locked cell kept only with its gradebook source, and every output sanitised?"""
    scheme = "Question.\n<!-- BEGIN MARK SCHEME -->\n> **Mark scheme (graders only).** ...\n<!-- END MARK SCHEME -->"
    locked = nbformat.v4.new_markdown_cell(scheme, metadata={"nbgrader": {"grade_id": "q_prompt", "locked": True}})
    forged = nbformat.v4.new_markdown_cell("<img src=x onerror=alert(1)>",
                                           metadata={"nbgrader": {"grade_id": "q_prompt", "locked": True}})
    given = nbformat.v4.new_code_cell("plot()", metadata={"nbgrader": {"grade_id": "plot", "locked": True}},
                                      outputs=[nbformat.v4.new_output("display_data", data={
                                          "text/html": "<img src=x onerror=alert(1)>"})])
    raw = nbformat.v4.new_raw_cell("<script>alert(1)</script>text")
    nb = nbformat.v4.new_notebook(cells=[locked, forged, given, raw],
                                  metadata={"widgets": {"application/vnd.jupyter.widget-state+json": {}}})
    markup.notebook(nb, {"q_prompt": scheme, "plot": "plot()"})
    assert "widgets" not in nb.metadata
    assert nb.cells[0].source == scheme
    assert nb.cells[1].source.startswith(markup.NOTE)
    assert nb.cells[2].outputs[0].data["text/html"] == "<img>"
    assert nb.cells[3].source == "alert(1)text"
