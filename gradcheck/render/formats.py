"""The format registry: each output format is one object that writes every kind of block.

As tabulate's ``TableFormat``, a :class:`Format` is the whole of what a format knows: how
it writes a heading, a paragraph, inline and displayed maths, a table, code and a
standalone page. No code outside a format's own class asks which format it is: content
is built once as blocks (:mod:`gradcheck.render.document`) and handed to a format.

>>> from gradcheck.render import Document, Heading, Para, Table, Value, render
>>> doc = Document("demo", [Heading("Check", 2), Para("every gradient agrees"),
...                         Table(["param", "rel err"], [["W0", Value("< 1e-07")]], ["left", "right"])])
>>> print(render(doc, "markdown"))
# demo
<BLANKLINE>
### Check
<BLANKLINE>
every gradient agrees
<BLANKLINE>
| param   |   rel err |
|:--------|----------:|
| W0      |   < 1e-07 |
<BLANKLINE>
"""

from __future__ import annotations

from .document import Items

__all__ = ["Format", "FORMATS", "REPORT_FORMATS", "register", "get_format", "render"]

#: Every registered format by name: "html", "latex", "markdown", "text", "json".
FORMATS = {}
#: The formats a derivation report is written in.
REPORT_FORMATS = ("markdown", "html", "latex", "json")


class Format:
    """How one format writes each kind of block; subclasses override what differs.

    ``name`` is what ``--format`` takes; ``extension`` the file suffix of a report;
    ``separator`` goes between the parts (networks) of one output; ``for_people``: a
    progress bar may be shown while it is produced (not for a document read by programs).
    """

    name = ""
    extension = ""
    separator = "\n\n"
    for_people = True

    # -- text and maths ---------------------------------------------------------------
    def escape(self, text):
        return str(text)

    def math(self, m, display=False):
        """Inline maths."""
        return m.text()

    def inline(self, parts):
        """A run of prose: strings escaped, maths inline."""
        return "".join(self.escape(p) if isinstance(p, str) else self.math(p) for p in parts)

    def cell(self, c, table):
        if isinstance(c, str):
            return self.escape(c)
        if hasattr(c, "mathml"):
            return self.math(c, display=table.display)
        return self.value(str(c))

    def value(self, text):
        return self.escape(text)

    # -- blocks -------------------------------------------------------------------------
    def block(self, b):
        return getattr(self, b.kind)(b)

    def body(self, blocks):
        return "\n\n".join(text for text in (self.block(b) for b in blocks) if text)

    def picture(self, b):
        """A heat map (:mod:`gradcheck.render.heatmap`): only a format that can draw shows it."""
        return ""

    def page(self, title, body):
        """A standalone document around ``body``."""
        return body + "\n"

    def document(self, doc):
        return self.page(doc.title, self.body(doc.blocks))

    # -- what gradcheck writes ----------------------------------------------------------
    def write_runs(self, out, runs, errors=(), quiet=False):
        """Write :meth:`runs` to the text stream ``out`` (a format may stream it instead of building one string)."""
        out.write(self.runs(runs, errors, quiet))

    def runs(self, runs, errors=(), quiet=False):
        """The command line's output: one part per checked network (objects with ``name``, ``blocks()``,
        ``line()`` and ``json()``, see :mod:`gradcheck.render.runs`), or one line each when ``quiet``.
        ``errors`` (inputs that could not be checked) are reported on stderr, not here."""
        if not runs:
            return ""
        if quiet:
            body = self.body([Items([r.line() for r in runs])])
        else:
            body = self.separator.join(self.body(r.blocks()) for r in runs)
        return self.page("gradcheck: " + ", ".join(r.name for r in runs), body)

    def report(self, content):
        """A derivation report: ``content`` has ``document()`` (its blocks) and ``json()``."""
        return self.document(content.document())

    def __repr__(self):
        return f"<format {self.name!r} ({self.extension})>"


def register(fmt):
    """Add a format object to :data:`FORMATS` (replacing one of the same name); return it."""
    FORMATS[fmt.name] = fmt
    return fmt


def get_format(name):
    """The format called ``name``; ``ValueError`` lists the valid ones."""
    try:
        return FORMATS[name]
    except KeyError:
        raise ValueError(f"unknown format {name!r}; formats: {', '.join(FORMATS)}") from None


def render(doc, fmt):
    """``doc`` (a :class:`~gradcheck.render.document.Document`) written as a standalone page in ``fmt``."""
    return get_format(fmt).document(doc)

