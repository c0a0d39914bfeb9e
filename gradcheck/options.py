"""Every setting of a check, declared once: the CLI, the pytest plugin and its marker read them here.

An :class:`Option` names a setting, its default, its help text and the kind of value it
takes, checked by that kind's one validator in :mod:`gradcheck.validate`.

>>> option("rtol").validate("1e-3", "--rtol")
0.001
>>> option("rtol").validate("0", "--rtol")
Traceback (most recent call last):
ValueError: --rtol: rtol='0': expected a number > 0 such as 1e-5
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Callable

from .validate import MAX_SEED, MAX_SIZE, brief, number, one_of, whole_number

__all__ = ["Option", "OPTIONS", "option", "add_cli_options",
           "add_pytest_options"]


# -- the options --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Option:
    """One setting.

    ``parse`` validates a raw value (see above); ``cli``/``plugin`` say where it is offered
    (``--name`` / ``--gradcheck-name`` and ini ``gradcheck_name``); ``marker``: also a keyword
    of ``@pytest.mark.gradcheck`` and of the fixture's methods. ``plugin_default`` replaces
    ``default`` in the plugin (a test-suite runs SymPy only when asked).
    """

    name: str
    help: str
    parse: Callable
    default: object = None
    choices: tuple = ()
    metavar: str | None = None
    cli: bool = True
    plugin: bool = True
    marker: bool = False
    plugin_default: object = ...
    default_text: str | None = None  # the default in --help, where the value alone does not say it

    def validate(self, value, where):
        """The parsed value; ``ValueError("where: name=value: expected …")`` if it is bad."""
        if value is None and self.default is None:
            return None
        try:
            return self.parse(value)
        except ValueError as e:
            raise ValueError(f"{where}: {self.name}={brief(value)}: {e}") from None

    @property
    def default_in_plugin(self):
        return self.default if self.plugin_default is ... else self.plugin_default


def _options():
    from .defaults import ATOL, DIRECTIONS, MAX_DIRECTIONS, MODES, RTOL, SAMPLE, TIMEOUT
    from .numeric.methods import names

    methods, symbolic = names(), ("auto", "on", "off")
    return (
        Option("rtol", "relative tolerance", partial(number, minimum=0, strict=True, example="1e-5"), RTOL,
               metavar="X", marker=True),
        Option("atol", "absolute tolerance: differences below it pass however large relative to the gradient",
               partial(number, minimum=0, example="1e-7"), ATOL, metavar="X", marker=True,
               default_text="none: each element is judged against the finite difference's own error bound"),
        Option("method", "finite differences: central, richardson (h and 2h extrapolated), complex-step (smooth "
                         "networks only)", partial(one_of, choices=methods), "auto", methods, marker=True,
               default_text="auto, the most accurate one for the network"),
        Option("seed", "seed for random params/data (0 to 2**64 - 1), overriding the spec's seed (in tests it "
                       "also seeds a layer's dout, default 0)", partial(whole_number, maximum=MAX_SEED), None,
               metavar="N", marker=True),
        Option("symbolic", "SymPy per-element check: auto skips networks above the size limit",
               partial(one_of, choices=symbolic), "auto", symbolic, plugin_default="off"),
        Option("mode", "full checks every element; sampled checks --sample elements per tensor (every row and "
                       "column) and --directions random directional derivatives over all of them, naming wrong "
                       "elements by group testing", partial(one_of, choices=MODES), "auto", MODES, marker=True,
               default_text="auto: full when it takes about 2 s or less"),
        Option("sample", "elements per tensor checked in sampled mode", partial(whole_number, maximum=MAX_SIZE),
               SAMPLE, metavar="K", marker=True),
        Option("directions", f"random directional derivatives in sampled mode (at most {MAX_DIRECTIONS:,})",
               partial(whole_number, maximum=MAX_DIRECTIONS), DIRECTIONS, metavar="D", marker=True),
        Option("blame", "rows in the blame table", partial(whole_number, maximum=MAX_SIZE), 5, metavar="N",
               plugin=False),
        Option("timeout", "seconds each call of your --impl may take: it runs in a separate process (its stdout "
                          "shown on stderr), stopped when the time is up", partial(number, minimum=0, strict=True,
                                                                                   example="60"),
               TIMEOUT, metavar="SECONDS", plugin=False),
    )


#: Every option, in the order ``--help`` lists them.
OPTIONS = _options()
_BY_NAME = {o.name: o for o in OPTIONS}


def option(name):
    """The :class:`Option` called ``name`` (KeyError names the valid ones)."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"no option {name!r}; options: {', '.join(_BY_NAME)}") from None


def _with_default(text, default):
    if default is None:
        return text
    return f"{text} (default {default:g})" if isinstance(default, float) else f"{text} (default {default})"


def add_cli_options(parser, type_error):
    """Add every CLI option to an argparse ``parser``; ``type_error`` is argparse's ArgumentTypeError."""
    def typed(o):
        def convert(text):
            try:
                return o.parse(text)
            except ValueError as e:
                raise type_error(f"{e}, got {brief(text)}") from None
        convert.__name__ = o.name
        return convert

    for o in OPTIONS:
        if not o.cli:
            continue
        text = _with_default(o.help, o.default_text or o.default)
        if o.choices:
            parser.add_argument(f"--{o.name}", choices=list(o.choices), default=o.default, help=text)
        else:
            parser.add_argument(f"--{o.name}", type=typed(o), default=o.default, metavar=o.metavar, help=text)


def add_pytest_options(group, parser):
    """Add ``--gradcheck-NAME`` to the pytest option ``group`` and ``gradcheck_NAME`` to the ini ``parser``.

    Values stay raw here: the session validates them (command line first, then ini) with the
    option's own validator, so both places give the same message.
    """
    for o in OPTIONS:
        if not o.plugin:
            continue
        text = _with_default(o.help, o.default_text or o.default_in_plugin)
        group.addoption(f"--gradcheck-{o.name}", metavar=o.metavar or "|".join(o.choices), default=None,
                        help=f"{text}; ini gradcheck_{o.name}")
        parser.addini(f"gradcheck_{o.name}", f"gradcheck: {text}", default="")
