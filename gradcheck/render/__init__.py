"""Output: one document model (:mod:`.document`) and one registry of formats (:mod:`.formats`).

Content — a shape trace, a check result, a derivation report — is built once as blocks
and written by the format asked for: ``render(doc, "html")``. The formats are
:data:`~gradcheck.render.text.TEXT`, :data:`~gradcheck.render.markdown.MARKDOWN`,
:data:`~gradcheck.render.html.HTML`, :data:`~gradcheck.render.latex.LATEX` and
:data:`~gradcheck.render.jsonformat.JSON`; formulas
come from :mod:`.mathprint` (SymPy, loaded only where a document holds maths).
"""

from .document import Code, Document, Equations, Heading, Items, Para, Table, Value
from .formats import FORMATS, REPORT_FORMATS, Format, get_format, register, render
from .html import HTML
from .latex import LATEX
from .markdown import MARKDOWN
from .text import TEXT

# isort: split
from .jsonformat import JSON  # registered last: --format lists it last

__all__ = ["notebook_html", "notebook_markdown", "Document", "Heading", "Para", "Items", "Equations", "Table", "Value",
           "Code", "Format", "FORMATS",
           "REPORT_FORMATS", "register", "get_format", "render", "TEXT", "MARKDOWN", "HTML", "LATEX",
           "JSON"]


def notebook_html(blocks):
    """HTML for a notebook cell (``_repr_html_``): the blocks without a page around them."""
    return HTML.fragment(blocks)


def notebook_markdown(blocks):
    """Markdown for a notebook cell (``_repr_markdown_``)."""
    return MARKDOWN.body(blocks)
