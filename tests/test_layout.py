"""The package's layout: the catalogue owns every fact of a kind, so no module outside it tests a kind's name;
and no modules import one another in a loop, at the top or inside a function."""

from __future__ import annotations

import re
from pathlib import Path

from gradcheck.catalogue import ACTIVATIONS, BIAS_STYLES, CONVENTIONS, LAYER_KINDS, LOSSES

PACKAGE = Path(__file__).resolve().parent.parent / "gradcheck"
CATALOGUE = PACKAGE / "catalogue"
STRATEGIES = PACKAGE / "strategies"


def _names():
    return sorted({*LAYER_KINDS, *ACTIVATIONS, *LOSSES, *CONVENTIONS, *BIAS_STYLES})


def _tests_of(names):
    """A regex for a comparison with one of ``names``: == "name", != "name", "name" ==, in ("…", "name", …)."""
    quoted = "|".join(rf"""["']{re.escape(n)}["']""" for n in names)
    return re.compile(rf"""(?:[!=]=\s*(?:{quoted}))|(?:(?:{quoted})\s*[!=]=)|(?:\bin\s*[(\[{{][^)\]}}]*(?:{quoted}))""")


def name_tests(root=PACKAGE, skip=CATALOGUE, names=None):
    """["file:line: text"] of every comparison with a registered kind, activation, loss, convention or bias name in
    the code of ``root`` outside ``skip`` (comments and doctest lines are not code that decides anything)."""
    pattern = _tests_of(_names() if names is None else names)
    out = []
    for path in sorted(root.rglob("*.py")):
        if skip in path.parents:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.strip()
            if code.startswith(("#", ">>>", "...")):
                continue
            if pattern.search(code.split("  #")[0]):
                out.append(f"{path.relative_to(root.parent)}:{number}: {code}")
    return out


def test_no_module_outside_the_catalogue_tests_a_kind_convention_or_bias_name():
    found = name_tests()
    assert not found, "ask the catalogue's object instead of testing its name:\n" + "\n".join(found)


def test_the_search_finds_each_form_of_a_name_test(tmp_path):
    package = tmp_path / "pkg"
    (package / "catalogue").mkdir(parents=True)
    (package / "catalogue" / "kinds.py").write_text('if kind == "conv2d":\n    pass\n')  # the catalogue may
    (package / "mod.py").write_text(
        'if ly.kind == "conv2d":\n    pass\n'
        "ok = spec.convention != 'column'\n"
        'if ly.kind in ("maxpool2d", "avgpool2d"):\n    pass\n'
        'if "augmented" == spec.bias:\n    pass\n'
        'if x.kind == "c":  # a dtype, not a kind\n    pass\n'
        '# if ly.kind == "conv2d": a comment\n')
    found = name_tests(package, package / "catalogue")
    assert [f.split(":")[1] for f in found] == ["1", "3", "4", "6"], found


def test_a_layer_kind_registers_itself_and_the_layer_replays_are_the_kinds_own():
    from dataclasses import dataclass

    from gradcheck.catalogue.layers import Layer
    from gradcheck.diagnose.mistake import REGISTRY

    @dataclass(frozen=True, repr=False)
    class Doubling(Layer):
        kind = "doubling_for_a_test"

    try:
        assert LAYER_KINDS["doubling_for_a_test"] is Doubling
        assert all(m.known in LAYER_KINDS[m.kind].mistakes for m in REGISTRY if not m.local)
    finally:
        del LAYER_KINDS["doubling_for_a_test"]
    assert "doubling_for_a_test" not in LAYER_KINDS


def test_bias_styles_are_parsed_into_objects():
    from gradcheck import load_spec
    from gradcheck.catalogue import AUGMENTED, NONE
    from gradcheck.spec.parse import Spec

    spec = load_spec({"input": 2, "layers": [{"units": 1}], "bias": "augmented"})
    assert spec.bias is AUGMENTED and spec.bias.in_weights and not spec.bias.has_b
    assert spec.to_dict()["bias"] == "augmented" and spec.param_shapes() == [{"W": (1, 3)}]
    assert Spec(input=2, layers=spec.layers, bias="none").bias is NONE  # a name given in Python


def kind_lists(root=PACKAGE, skip=CATALOGUE):
    """["file:line: text"] of every literal collection holding two or more layer kinds' names outside the catalogue
    and the strategies (which draw kinds, never decide by them): a list of kinds is a fact of each of those kinds."""
    quoted = "|".join(rf"""["']{re.escape(n)}["']""" for n in LAYER_KINDS)
    pattern = re.compile(rf"""[({{\[][^)}}\]]*(?:{quoted})\s*,\s*(?:{quoted})""")
    out = []
    for path in sorted(root.rglob("*.py")):
        if skip in path.parents or STRATEGIES in path.parents:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.strip()
            if not code.startswith(("#", ">>>", "...")) and pattern.search(code.split("  #")[0]):
                out.append(f"{path.relative_to(root.parent)}:{number}: {code}")
    return out


def test_no_module_outside_the_catalogue_keeps_a_list_of_kinds(tmp_path):
    found = kind_lists()
    assert not found, "give the kinds an attribute in the catalogue instead of listing them:\n" + "\n".join(found)
    package = tmp_path / "pkg"
    (package / "catalogue").mkdir(parents=True)
    (package / "mod.py").write_text('CHEAP = frozenset({"dense", "activation"})\nONE = ("dense",)\n')
    assert [f.split(":")[1] for f in kind_lists(package, package / "catalogue")] == ["1"]


def import_graph(root=PACKAGE):
    """{module: {modules it imports}} for every module of the package at ``root`` (``gradcheck.judge.bands``), from
    every import statement, at the top or inside a function; the package a submodule is in is not counted as
    imported with it (its ``__init__`` only hands names on)."""
    import ast

    top = root.name
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets |= {a.name for a in node.names if a.name.split(".")[0] == top}
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[:len(package.split(".")) - node.level + 1]
                    source = ".".join(base + ([node.module] if node.module else []))
                elif (node.module or "").split(".")[0] == top:
                    source = node.module
                else:
                    continue
                # ``from . import probes`` imports the module probes; ``from .bands import MARGIN``, bands
                targets |= {f"{source}.{a.name}" if f"{source}.{a.name}" in modules else source for a in node.names}
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def circles(graph):
    """The sets of two or more modules that import one another in a loop (strongly connected components)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            part = set()
            while True:
                w = stack.pop()
                on.discard(w)
                part.add(w)
                if w == v:
                    break
            if len(part) > 1:
                out.append(sorted(part))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_modules_import_one_another_in_a_loop():
    assert circles(import_graph()) == []


def test_the_loop_finder_finds_a_loop_of_imports(tmp_path):
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("")
    (package / "a.py").write_text("from .sub import b\n")
    (package / "sub" / "b.py").write_text("def f():\n    from ..c import g\n")
    (package / "c.py").write_text("from pkg.a import x\n")
    (package / "d.py").write_text("from . import c\n")
    assert circles(import_graph(package)) == [["pkg.a", "pkg.c", "pkg.sub.b"]]
