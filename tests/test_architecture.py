"""The house rules, checked on the source: packages import only to their left, no import cycle anywhere
(lazy imports and the schema's owner references count), every function stays short, every error a user can
fix is a UserError, and every set of allowed values a config field names exists where the schema says."""
import ast
import importlib
import inspect
import os

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAYERS = ("ccvid", "samplers", "temporal_models", "benchmark", "leaderboards")


def modules():
    """{dotted module name: path} of every module of the five packages (``pkg.__init__`` for packages)."""
    out = {}
    for top in LAYERS:
        for folder, _, files in os.walk(os.path.join(REPO, top)):
            for f in files:
                if f.endswith(".py"):
                    rel = os.path.relpath(os.path.join(folder, f), REPO)[:-3].replace(os.sep, ".")
                    out[rel] = os.path.join(folder, f)
    return out


def resolve(name, mods):
    """The module a dotted name means: itself, or its package's __init__; None outside the suite."""
    if name in mods:
        return name
    if f"{name}.__init__" in mods:
        return f"{name}.__init__"
    return None


def package_of(mod):
    """The package a module lives in (for ``a.b.__init__``: ``a``, the package holding ``a.b``)."""
    parts = mod.split(".")
    return ".".join(parts[:-2] if parts[-1] == "__init__" else parts[:-1])


def owner_reference(node):
    """The owner string of a schema field ``choice(default, "module:NAME")`` or ``choices("module:NAME")``."""
    func = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)
    position = {"choice": 1, "choices": 0}.get(func)
    if position is not None and len(node.args) > position and isinstance(node.args[position], ast.Constant):
        value = node.args[position].value
        return value if isinstance(value, str) and ":" in value else None
    return None


def imports(mod, path, mods):
    """Modules of the suite that ``mod`` imports anywhere in its body (lazy imports included)."""
    tree = ast.parse(open(path, encoding="utf-8").read())
    pkg = mod[:-len(".__init__")] if mod.endswith(".__init__") else package_of(mod)  # what "." means here
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and owner_reference(node):
            names = [owner_reference(node).partition(":")[0]]  # choice(default, "module:NAME") imports module
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = pkg.split(".")[:len(pkg.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            # `from pkg import x`: the module pkg.x when there is one, else pkg itself (x is a name in it)
            names = [f"{base}.{a.name}" if resolve(f"{base}.{a.name}", mods) else base for a in node.names]
        else:
            continue
        for name in names:
            target = resolve(name, mods)
            if target is None or target.endswith(".__init__") and mod.startswith(target[:-len("__init__")]):
                continue  # outside the suite, or the package this module lives in (already being imported)
            found.add(target)
            # importing a.b.c runs a/__init__ and a/b/__init__ first, unless the importer lives inside them
            parts = package_of(target).split(".")
            for i in range(1, len(parts) + 1):
                prefix = ".".join(parts[:i])
                init = prefix + ".__init__"
                if init in mods and init != target and not mod.startswith(prefix + "."):
                    found.add(init)
    found.discard(mod)
    return found


@pytest.fixture(scope="module")
def graph():
    mods = modules()
    return {m: imports(m, p, mods) for m, p in mods.items()}


def test_packages_import_only_to_their_left(graph):
    wrong = [(m, t) for m, ts in graph.items() for t in ts
             if LAYERS.index(t.split(".")[0]) > LAYERS.index(m.split(".")[0])]
    assert not wrong, wrong


def test_no_import_cycle_anywhere(graph):
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(v):  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    assert not cycles, cycles
    assert "benchmark.config.__init__" in graph["benchmark.records"]  # the graph holds the package inits


def test_the_checker_sees_a_cycle_and_a_lazy_import(tmp_path):
    # the checker itself must be able to fail: a lazy import inside a function counts
    mods = {"benchmark.a": str(tmp_path / "a.py"), "benchmark.b": str(tmp_path / "b.py")}
    (tmp_path / "a.py").write_text("from . import b\n")
    (tmp_path / "b.py").write_text("def f():\n    from .a import x\n")
    assert imports("benchmark.a", mods["benchmark.a"], mods) == {"benchmark.b"}
    assert imports("benchmark.b", mods["benchmark.b"], mods) == {"benchmark.a"}


def test_the_evaluation_library_needs_nothing_else_of_the_suite(graph):
    outside = {t for m, ts in graph.items() if m.startswith("benchmark.evaluation.") for t in ts
               if not t.startswith("benchmark.evaluation.")}
    assert not outside, outside


def test_benchmark_is_split_by_job():
    subs = {d for d in os.listdir(os.path.join(REPO, "benchmark"))
            if os.path.isfile(os.path.join(REPO, "benchmark", d, "__init__.py"))}
    assert {"evaluation", "training", "tools", "cli", "config"} <= subs


def test_every_function_stays_short():
    long = []
    for path in modules().values():
        tree = ast.parse(open(path, encoding="utf-8").read())
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > 80:
                    long.append(f"{os.path.relpath(path, REPO)}:{node.lineno} {node.name} ({n} lines)")
    assert not long, long


def test_the_length_check_can_fail(tmp_path):
    body = "\n".join(f"    x{i} = {i}" for i in range(90))
    tree = ast.parse(f"def f():\n{body}\n")
    (node,) = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]
    assert node.end_lineno - node.lineno + 1 > 80


def test_every_owner_of_allowed_values_exists_and_the_graph_holds_it(graph):
    import dataclasses

    from benchmark.config.checks import allowed
    from benchmark.config.schema import SECTIONS, Config
    cfg = Config()
    owners = {(section, f.name): f.metadata["owner"] for section in SECTIONS
              for f in dataclasses.fields(getattr(cfg, section)) if "owner" in f.metadata}
    assert len(owners) >= 20, owners
    for (section, name), owner in owners.items():
        values, default = allowed(owner), getattr(getattr(cfg, section), name)
        assert values, (section, name, owner)
        items = default if isinstance(default, list) else [default]
        assert all(d is None or d in values for d in items), (section, name, default, values)  # defaults allowed
    # the schema's owner references are edges of the import graph: layering and cycles see them
    assert "samplers.clips" in graph["benchmark.config.schema"]
    assert "benchmark.engine.optimizers" in graph["benchmark.config.schema"]


def test_an_owner_reference_counts_as_an_import(tmp_path):
    mods = {"benchmark.a": str(tmp_path / "a.py"), "samplers.clips": str(tmp_path / "clips.py")}
    (tmp_path / "a.py").write_text('x = choice("stride", "samplers.clips:TRAIN_MODES")\n')
    (tmp_path / "clips.py").write_text("")
    assert imports("benchmark.a", mods["benchmark.a"], mods) == {"samplers.clips"}


def _suite_modules():
    for mod in modules():
        if mod.endswith("__main__"):
            continue
        yield importlib.import_module(mod[:-len(".__init__")] if mod.endswith(".__init__") else mod)


def test_every_error_the_suite_defines_is_a_user_error():
    """One way out for user errors: the CLIs catch UserError in one place (one line, exit status 2)."""
    from ccvid.base import UserError
    internal = {"LockHeld"}  # control flow inside the sweep tool, never shown to a user
    errors = {f"{m.__name__}.{name}": cls for m in _suite_modules()
              for name, cls in inspect.getmembers(m, inspect.isclass)
              if cls.__module__ == m.__name__ and issubclass(cls, BaseException)}
    assert len(errors) >= 10, errors
    wrong = [name for name, cls in errors.items() if not issubclass(cls, UserError) and cls.__name__ not in internal]
    assert not wrong, wrong
