"""JSON, a registered format: the command line's documents of checks and shape traces, a derivation report,
and any document of blocks.

Unlike the other formats, JSON is not written from blocks: a run and a report give their own
JSON document (:mod:`gradcheck.render.jsondoc`, :func:`gradcheck.reports.derivation.report_json`).
"""

from __future__ import annotations

import io
import json
from dataclasses import fields

from .formats import Format, register
from .jsonstream import write_json

__all__ = ["JSON", "render_json"]


def render_json(docs, errors=()):
    """One JSON text: a single document, or ``{"passed", "results": [...]}`` for several.

    ``errors`` are ``{"source", "error"}`` entries for inputs that could not be checked.
    """
    out = io.StringIO()
    write_json(_whole(docs, errors), out)
    return out.getvalue()


def _whole(docs, errors):
    docs = list(docs)
    if len(docs) == 1 and not errors:
        doc = docs[0]
    else:
        doc = {"results": docs + list(errors)}
        if all("passed" in d for d in docs):
            doc = {"passed": all(d["passed"] for d in docs) and not errors, **doc}
    return doc


def _plain(x):
    """A block's field as JSON: maths as its text and LaTeX, a table cell's value as its text."""
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if hasattr(x, "latex"):
        return {"text": x.text(), "latex": x.latex()}
    return x if x is None or isinstance(x, (str, bool, int, float)) else str(x)


class Json(Format):
    """A document of its own: the command line's runs and a report are JSON documents built from the results
    (not from blocks); a document of blocks is its title and each block's kind and fields."""

    name, extension = "json", ".json"
    for_people = False

    def block(self, b):
        return {"kind": b.kind, **{f.name: _plain(getattr(b, f.name)) for f in fields(b)}}

    def body(self, blocks):
        return json.dumps([self.block(b) for b in blocks], indent=2, ensure_ascii=False)

    def document(self, doc):
        return json.dumps({"title": doc.title, "blocks": [self.block(b) for b in doc.blocks]}, indent=2,
                          ensure_ascii=False) + "\n"

    def runs(self, runs, errors=(), quiet=False):
        return render_json([r.json() for r in runs], errors) + "\n"

    def write_runs(self, out, runs, errors=(), quiet=False):
        """Stream the runs' document to ``out``: arrays go out row by row, never as one string."""
        write_json(_whole([r.json() for r in runs], errors), out)
        out.write("\n")

    def report(self, content):
        return json.dumps(content.json(), indent=2, ensure_ascii=False) + "\n"


JSON = register(Json())
