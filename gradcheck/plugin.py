"""pytest plugin: gradient checks in your own test-suite.

Registered through the ``pytest11`` entry point, so installing gradcheck activates it
(``-p no:gradcheck`` turns it off). It adds:

* options ``--gradcheck-rtol/-atol/-method/-seed/-symbolic/-report/-specs`` (group
  "gradcheck") and the matching ini keys ``gradcheck_rtol``, ..., plus ``gradcheck_impl``;
  the command line wins over the ini file;
* the fixture ``gradcheck``: ``gradcheck.function(f, grad, x)``,
  ``gradcheck.layer(forward, backward, x, *params)``, ``gradcheck.network(spec, impl)``
  check, raise ``AssertionError`` with the blame table on failure and return the result;
* the marker ``@pytest.mark.gradcheck(rtol=..., atol=..., method=..., seed=...)``;
* collection of net.json specs from ``--gradcheck-specs DIR``: one test item per file;
* a header line, a terminal summary and (``--gradcheck-report DIR``) a JSON summary.

Paths: ``--gradcheck-specs``/``--gradcheck-report`` on the command line are relative to
the current directory; ``gradcheck_specs``/``gradcheck_report``/``gradcheck_impl`` in the
ini file are relative to the rootdir (the ini file's directory). A spec's own ``"impl":
"file.py:fn"`` is relative to the spec file's folder. All state lives in one
:class:`~gradcheck.testing.session.GradcheckSession` per pytest run
(``config.stash[SESSION_KEY]``); every option is declared in :mod:`gradcheck.options`.
"""

from __future__ import annotations

import pytest

from .options import add_pytest_options
from .testing.checker import Checker
from .testing.items import SpecFile
from .testing.session import MARKER_KEYS, REPORT_FILE, SESSION_KEY, WORKER_KEY, GradcheckSession, marker_values

__all__ = ["SESSION_KEY"]


# -- hooks ----------------------------------------------------------------------------------

def pytest_addoption(parser):
    group = parser.getgroup("gradcheck", "gradcheck: check hand-written gradients against finite differences")
    add_pytest_options(group, parser)
    group.addoption("--gradcheck-report", metavar="DIR", default=None,
                    help=f"write a JSON summary of every gradient check run to DIR/{REPORT_FILE}")
    group.addoption("--gradcheck-specs", metavar="DIR", default=None,
                    help="collect every *.json in DIR (recursively) as a network spec test item "
                         "(ini gradcheck_specs, relative to the rootdir)")
    for key, text in [("report", f"folder to write {REPORT_FILE} into (relative to the rootdir)"),
                      ("specs", "folder of net.json specs to collect as tests (relative to the rootdir)"),
                      ("impl", "default backprop 'module:function' or 'file.py:function' (relative to the "
                               "rootdir) for collected specs without an impl key")]:
        parser.addini(f"gradcheck_{key}", f"gradcheck: {text}", default="")


def pytest_configure(config):
    config.addinivalue_line(
        "markers", f"gradcheck({', '.join(k + '=None' for k in MARKER_KEYS)}): settings of the gradcheck "
                   "fixture in this test")
    session = GradcheckSession.from_config(config)
    config.stash[SESSION_KEY] = session
    session.extend_args(config)


def pytest_report_header(config):
    session = config.stash.get(SESSION_KEY, None)
    return session.header() if session else None


def pytest_collect_file(file_path, parent):
    session = parent.config.stash.get(SESSION_KEY, None)
    if session is not None and session.owns(file_path):
        return SpecFile.from_parent(parent, path=file_path)
    return None


def pytest_runtest_setup(item):
    session = item.config.stash.get(SESSION_KEY, None)
    if session is None or item.get_closest_marker("gradcheck") is None:
        return
    _marked_settings(session, item)


@pytest.fixture
def gradcheck(request):
    """A :class:`Checker`: ``gradcheck.function(f, grad, x)``, ``.layer(forward, backward, x, *params)``,
    ``.network(spec, impl)`` with this run's tolerances and the test's ``@pytest.mark.gradcheck``."""
    session = request.config.stash[SESSION_KEY]
    return Checker(session, _marked_settings(session, request.node), request.node.nodeid)


def _marked_settings(session, node):
    """The session's settings with the node's marker applied; a bad marker fails the test with one line."""
    try:
        return session.settings.update(marker_values(node), "@pytest.mark.gradcheck")
    except ValueError as e:
        message = str(e)
    pytest.fail(message, pytrace=False)


def pytest_sessionfinish(session):
    config = session.config
    state = config.stash.get(SESSION_KEY, None)
    if state is None:
        return
    if hasattr(config, "workerinput"):  # an xdist worker hands its records to the controller
        config.workeroutput[WORKER_KEY] = state.records_json()
    else:
        state.write_report()


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    """xdist's controller: gather a finished worker's records, for the summary and the report."""
    state = node.config.stash.get(SESSION_KEY, None)
    records = getattr(node, "workeroutput", {}).get(WORKER_KEY)
    if state is not None and records:
        state.add_records_json(records)


def pytest_terminal_summary(terminalreporter, config):
    session = config.stash.get(SESSION_KEY, None)
    lines = session.summary_lines() if session else []
    if lines:
        terminalreporter.section("gradcheck")
        for line in lines:
            terminalreporter.write_line(line)
