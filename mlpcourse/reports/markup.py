"""Student markup made safe to show: one sanitiser for every page a TA or student opens.

A student controls their written answers (markdown), every output their code produces
(any MIME type: HTML, SVG, JavaScript, markdown, widgets, images with their metadata),
cell attachments and raw cells. Formgrader, JupyterLab, the feedback page and the class
report render these as HTML in the grader's browser, where a script runs with the
grader's rights over the Jupyter API (read the hidden tests, change grades, write the
course's files). :class:`SanitiseNotebook` (an nbgrader preprocessor, registered for
``autograde`` after the contained run in ``nbgrader_config.py``) rewrites the graded
notebook so that it holds nothing a browser would run; the instructor's locked cells,
as the gradebook holds them, are kept as written:

- **HTML** (``text/html`` outputs, raw cells) goes through bleach, a maintained
  allow-list sanitiser: only the tags, attributes, classes and URL schemes below
  survive (no script, event handler, ``style``, iframe, form, SVG, ``javascript:``
  URL, or link to the server's own pages);
- **markdown** (answers, student cells, ``text/markdown`` outputs) is rendered the way
  nbconvert renders it for formgrader and feedback; when the sanitiser would change
  that HTML in any way (raw HTML it drops, a ``javascript:`` link, an event handler),
  the source is shown as text in a code block, with a note; otherwise it is kept as
  the student wrote it (maths, code spans and quotes intact);
- **outputs** keep only MIME types that render as text or as an image: plain text,
  sanitised HTML, markdown that the rule above keeps as written, LaTeX, JSON, and
  PNG/JPEG/GIF images whose data is valid base64; JavaScript, SVG, widget views and
  every other type are dropped, and so is output metadata other than an image's width
  and height;
- **attachments** keep only PNG/JPEG/GIF images with valid base64 data;
- the notebook's **widget state** (rendered by nbconvert with a widget manager) is
  dropped.

Stream and error outputs and code are text: every renderer escapes them.
"""

import base64
import binascii
from html.parser import HTMLParser

import bleach.sanitizer
from nbconvert.filters.markdown_mistune import InvalidNotebook, IPythonRenderer, MarkdownWithMath
from nbgrader.preprocessors import NbGraderPreprocessor
from pygments.token import STANDARD_TYPES

from mlpcourse import gradebook

TAGS = frozenset({
    "a", "abbr", "b", "blockquote", "br", "caption", "code", "dd", "del", "div", "dl", "dt", "em",
    "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "input", "ins", "kbd", "li", "ol", "p", "pre",
    "q", "s", "samp", "small", "span", "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th",
    "thead", "tr", "u", "ul", "var",
})
# Per tag: the attributes kept (their values are checked further in _allowed_attribute).
ATTRIBUTES = {
    "a": {"href", "title"}, "abbr": {"title"}, "img": {"src", "alt", "title", "width", "height"},
    "input": {"type", "checked", "disabled"}, "ol": {"start"}, "td": {"colspan", "rowspan", "align"},
    "th": {"colspan", "rowspan", "align"}, **{f"h{level}": {"id"} for level in range(1, 7)},
}
# Classes nbconvert's markdown renderer writes (code highlighting, heading anchors, task lists).
CLASSES = frozenset(STANDARD_TYPES.values()) | {"highlight", "anchor-link", "task-list-item",
                                                "task-list-item-checkbox"}
# Schemes a link or image may use (bleach checks them); data: only for images, see below.
PROTOCOLS = frozenset({"http", "https", "mailto", "data", "attachment"})
IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif")
# Output MIME types kept as they are (text/html and text/markdown are kept sanitised).
TEXT_TYPES = ("text/plain", "text/latex", "application/json")

NOTE = ("*(This cell contained markup that could run script or load content in a browser, "
        "so it is shown as text.)*")


def _allowed_attribute(tag, name, value):
    """bleach's attribute filter: the attribute allow-list, with values checked where it matters."""
    if name == "class":
        return tag in ("a", "code", "div", "input", "li", "pre", "span") and set(value.split()) <= CLASSES
    if name not in ATTRIBUTES.get(tag, ()):
        return False
    if name == "src":  # images: embedded PNG/JPEG/GIF, attachments, or https. Never http: the grading
        # server is plain http on loopback, and an image is fetched as the page loads (GET /logout).
        return value.startswith(tuple(f"data:{kind};base64," for kind in IMAGE_TYPES)) or \
            value.startswith(("attachment:", "https://"))
    if name == "href":  # the web, mail, or a place on the page; never the Jupyter server's own pages
        return value.strip().lower().startswith(("https://", "http://", "mailto:", "#"))
    if name == "type":
        return value == "checkbox"
    return True


def html(text):
    """``text`` (HTML) with everything outside the allow-list removed (bleach)."""
    cleaner = bleach.sanitizer.Cleaner(tags=TAGS, attributes=_allowed_attribute, protocols=PROTOCOLS,
                                       strip=True, strip_comments=False)  # Cleaner is not thread-safe
    return cleaner.clean(str(text))


class _Events(HTMLParser):
    """The tags, attributes and text of an HTML string, entities decoded, as a list."""

    def __init__(self, text):
        super().__init__(convert_charrefs=True)
        self.events = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.events.append(("tag", tag, tuple(sorted(attrs, key=lambda item: item[0]))))

    handle_startendtag = handle_starttag

    def handle_endtag(self, tag):
        self.events.append(("end", tag))

    def handle_data(self, data):
        if self.events and self.events[-1][0] == "text":
            self.events[-1] = ("text", self.events[-1][1] + data)
        else:
            self.events.append(("text", data))

    def handle_comment(self, data):
        self.events.append(("comment", data))

    def handle_decl(self, decl):
        self.events.append(("declaration", decl))

    handle_pi = unknown_decl = handle_decl


def _unchanged_by_sanitiser(rendered):
    """True when sanitising the HTML ``rendered`` would keep every tag, attribute and text."""
    return _Events(rendered).events == _Events(html(rendered)).events


def as_text(source):
    """Markdown that shows ``source`` verbatim, in a code block after :data:`NOTE`."""
    longest = run = 0
    for char in source:
        run = run + 1 if char == "`" else 0
        longest = max(longest, run)
    fence = "`" * max(3, longest + 1)  # a fence no run of backticks in the source can close
    return f"{NOTE}\n\n{fence}\n{source}\n{fence}"


def markdown(source, cell_attachments=None):
    """``source`` if nbconvert renders it to HTML the sanitiser keeps whole, else :func:`as_text`.

    ``cell_attachments`` are the cell's (already sanitised) attachments, which
    ``attachment:`` images refer to; a reference to a missing one is shown as text too
    (nbconvert would fail on it, and with it the whole formgrader or feedback page).
    """
    source = str(source)
    renderer = IPythonRenderer(escape=False, attachments=cell_attachments or {})
    try:
        rendered = MarkdownWithMath(renderer=renderer).render(source)
    except InvalidNotebook:
        return as_text(source)
    return source if _unchanged_by_sanitiser(rendered) else as_text(source)


def _valid_base64(data):
    try:
        base64.b64decode("".join(str(data).split()), validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def _image_metadata(metadata, kind):
    """Only the numeric width and height an image output may carry."""
    sizes = metadata.get(kind) if isinstance(metadata, dict) else None
    if not isinstance(sizes, dict):
        return {}
    kept = {key: sizes[key] for key in ("width", "height")
            if isinstance(sizes.get(key), (int, float)) and not isinstance(sizes.get(key), bool)}
    return {kind: kept} if kept else {}


def output(out):
    """One code cell output made safe to render, or None to drop it."""
    kind = out.get("output_type")
    if kind in ("stream", "error"):
        return out
    if kind not in ("display_data", "execute_result"):
        return None
    data, metadata = {}, {}
    for mime, value in dict(out.get("data", {})).items():
        if mime in TEXT_TYPES:
            data[mime] = value
        elif mime == "text/html":
            data[mime] = html("".join(value) if isinstance(value, list) else value)
        elif mime == "text/markdown":  # kept only whole: the output's text/plain stands in for it
            text = "".join(value) if isinstance(value, list) else str(value)
            if markdown(text) == text:
                data[mime] = text
        elif mime in IMAGE_TYPES and isinstance(value, str) and _valid_base64(value):
            data[mime] = value
            metadata.update(_image_metadata(out.get("metadata"), mime))
    out["data"], out["metadata"] = data, metadata
    return out


def attachments(found):
    """Cell attachments reduced to PNG/JPEG/GIF images with valid base64 data."""
    kept = {}
    for name, bundle in dict(found or {}).items():
        images = {mime: data for mime, data in dict(bundle).items()
                  if mime in IMAGE_TYPES and isinstance(data, str) and _valid_base64(data)}
        if images:
            kept[name] = images
    return kept


def cell(nb_cell, trusted=False):
    """One cell made safe to render (in place); returns it.

    ``trusted``: the cell's text is the instructor's (a locked cell as the gradebook
    holds it), so it is kept as it is; its outputs and attachments are still sanitised.
    """
    if "attachments" in nb_cell:
        nb_cell.attachments = attachments(nb_cell.attachments)
    if nb_cell.cell_type == "markdown" and not trusted:
        nb_cell.source = markdown(nb_cell.source, nb_cell.get("attachments"))
    elif nb_cell.cell_type == "raw" and not trusted:
        nb_cell.source = html(nb_cell.source)
    elif nb_cell.cell_type == "code":
        nb_cell.outputs = [kept for kept in map(output, nb_cell.get("outputs", [])) if kept is not None]
    return nb_cell


def notebook(nb, locked_sources=None):
    """``nb`` made safe to render (in place): every cell, and no widget state; returns it.

    ``locked_sources`` (``{grade_id: source}`` of the locked cells, from the gradebook)
    names the instructor's cells: a cell carrying one of these grade ids *and* exactly
    its source is trusted (mark schemes and prose stay as written).
    """
    locked_sources = locked_sources or {}
    nb.metadata.pop("widgets", None)
    for nb_cell in nb.cells:
        info = nb_cell.get("metadata", {}).get("nbgrader")
        grade_id = info.get("grade_id") if isinstance(info, dict) else None
        cell(nb_cell, trusted=grade_id in locked_sources and nb_cell.source == locked_sources[grade_id])
    return nb


class SanitiseNotebook(NbGraderPreprocessor):
    """Make a graded notebook safe to show in a browser (see the module docstring).

    Registered for ``nbgrader autograde`` after the contained run, so that the
    autograded notebook, which formgrader, JupyterLab, the feedback and the class report
    read, never holds student markup that could run.
    """

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        defined = gradebook.definition(info["db_url"], info["assignment"], info["notebook"])
        locked = {name: cell.source for name, cell in defined.items() if cell.locked}
        return notebook(nb, locked), resources
