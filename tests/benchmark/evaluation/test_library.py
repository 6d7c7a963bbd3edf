"""benchmark.evaluation is a self-contained library: what it imports, and how its modules depend on each other."""
import ast
import os
import subprocess
import sys

import benchmark.evaluation as evaluation

PACKAGE_DIR = os.path.dirname(os.path.abspath(evaluation.__file__))
ALLOWED_THIRD_PARTY = {"numpy", "torch", "scipy", "tabulate"}
SUITE = {"benchmark", "ccvid", "samplers", "temporal_models", "leaderboards"}


def _imports(path):
    """(sibling modules, absolute top-level names) imported anywhere in the file, lazy imports included."""
    with open(path) as f:
        tree = ast.parse(f.read(), filename=path)
    siblings, absolute = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                absolute.add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                absolute.add(node.module)
            elif node.level == 1 and node.module:
                siblings.add(node.module.split(".")[0])
            elif node.level == 1:
                siblings.update(alias.name for alias in node.names)
            else:
                absolute.add("." * node.level + (node.module or ""))  # above the package: not allowed
    return siblings, absolute


def _modules():
    return {name[:-3]: os.path.join(PACKAGE_DIR, name)
            for name in sorted(os.listdir(PACKAGE_DIR)) if name.endswith(".py")}


def test_imports_only_numpy_torch_scipy_tabulate_and_stdlib():
    for name, path in _modules().items():
        _, absolute = _imports(path)
        for mod in absolute:
            top = mod.split(".")[0]
            if mod == "benchmark.evaluation" or mod.startswith("benchmark.evaluation."):
                continue
            assert top not in SUITE, f"{name}.py imports {mod}"
            assert top in ALLOWED_THIRD_PARTY or top in sys.stdlib_module_names, f"{name}.py imports {mod}"


def test_module_graph_has_no_cycle():
    graph = {name: {s for s in _imports(path)[0] if s in _modules()} for name, path in _modules().items()}
    assert graph["inputs"] == set()
    assert "metrics" not in graph["rerank"]
    state = {}

    def visit(node, stack):
        state[node] = "open"
        for nxt in graph[node]:
            assert state.get(nxt) != "open", f"import cycle: {' -> '.join(stack + [node, nxt])}"
            if nxt not in state:
                visit(nxt, stack + [node])
        state[node] = "done"

    for node in graph:
        if node not in state:
            visit(node, [])


def test_public_names():
    assert sorted(evaluation.__all__) == sorted([
        "PROTOCOLS", "CLOTHES_PROTOCOLS", "METRICS", "SHOTS", "SELECTION_RULES", "reference_selection", "evaluate",
        "format_table", "format_variants", "load_features_npz", "save_features_npz",
        "k_reciprocal_distances", "rerank_matrix", "check_feature_pair", "evaluate_single_shot"])
    for name in evaluation.__all__:
        assert hasattr(evaluation, name)
    assert evaluation.METRICS == ("cosine", "euclidean") and evaluation.PROTOCOLS == ("general", "cc", "sc")
    # the test oracles are not part of the library
    from benchmark.evaluation import metrics, rerank
    assert not hasattr(metrics, "evaluate_reference") and not hasattr(rerank, "_rerank_dense_reference")


def test_import_loads_nothing_else_of_the_suite():
    code = ("import sys, benchmark.evaluation; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in %r))" % sorted(SUITE))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=os.path.dirname(os.path.dirname(PACKAGE_DIR)))
    loaded = eval(out.stdout)
    assert loaded and all(m == "benchmark" or m.startswith("benchmark.evaluation") for m in loaded), loaded
