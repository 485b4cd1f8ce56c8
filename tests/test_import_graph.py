"""`vmas_jax` has no import cycle: the modules' import-time imports form a DAG.

Only module-level imports count (a function-level import runs when called, after every
module has loaded).  `from vmas_jax.x import name` imports the submodule `vmas_jax.x.name`
when there is one (Python resolves it even while `vmas_jax/x/__init__.py` is still running,
so a package re-exporting its submodules is no cycle), else a name `vmas_jax.x` defines.
"""

import ast
import pathlib

import vmas_jax

ROOT = pathlib.Path(vmas_jax.__file__).parent


def _module_name(path: pathlib.Path) -> str:
  parts = ("vmas_jax",) + path.relative_to(ROOT).with_suffix("").parts
  return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _import_graph() -> dict[str, set[str]]:
  files = {_module_name(p): p for p in ROOT.rglob("*.py")}
  graph = {}
  for name, path in files.items():
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    deps = set()
    for node in ast.parse(path.read_text()).body:  # module level only
      if isinstance(node, ast.Import):
        deps.update(a.name for a in node.names)
      elif isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:  # relative import
          base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1]
                          + ([base] if base else []))
        for alias in node.names:  # a submodule, else a name the package itself defines
          sub = f"{base}.{alias.name}"
          deps.add(sub if sub in files else base)
    graph[name] = {d for d in deps if d in files and d != name}
  return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
  """Strongly connected components with more than one module (Tarjan's algorithm)."""
  index, low, stack, on_stack, out = {}, {}, [], set(), []

  def visit(v):
    index[v] = low[v] = len(index)
    stack.append(v)
    on_stack.add(v)
    for w in graph[v]:
      if w not in index:
        visit(w)
        low[v] = min(low[v], low[w])
      elif w in on_stack:
        low[v] = min(low[v], index[w])
    if low[v] == index[v]:
      component = []
      while True:
        w = stack.pop()
        on_stack.discard(w)
        component.append(w)
        if w == v:
          break
      if len(component) > 1:
        out.append(sorted(component))

  for v in sorted(graph):
    if v not in index:
      visit(v)
  return out


def test_vmas_jax_has_no_import_cycle():
  graph = _import_graph()
  assert "vmas_jax.train.loop" in graph and graph["vmas_jax.train.loop"]
  assert not _cycles(graph), f"import cycles in vmas_jax: {_cycles(graph)}"


def test_the_check_finds_a_cycle():
  graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
  assert _cycles(graph) == [["a", "b", "c"]]
