"""No import cycles inside `vmas_jax`, and every module imports on its own in a fresh process.

The graph counts every `import` statement, including those inside functions: a deferred import
hides a cycle from the interpreter but not from the reader.
"""

import ast
import pathlib
import subprocess
import sys

import vmas_jax

ROOT = pathlib.Path(vmas_jax.__file__).parent


def _modules() -> dict[str, pathlib.Path]:
  out = {}
  for path in sorted(ROOT.rglob("*.py")):
    parts = ("vmas_jax",) + path.relative_to(ROOT).with_suffix("").parts
    if parts[-1] == "__init__":
      parts = parts[:-1]
    out[".".join(parts)] = path
  return out


def _imports(name: str, path: pathlib.Path, known: set[str]) -> set[str]:
  """vmas_jax modules that `name` imports."""
  package = name if path.name == "__init__.py" else name.rpartition(".")[0]
  found = set()
  for node in ast.walk(ast.parse(path.read_text(), str(path))):
    if isinstance(node, ast.Import):
      targets = [a.name for a in node.names]
    elif isinstance(node, ast.ImportFrom):
      base = node.module or ""
      if node.level:
        base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1]
                        + ([base] if base else []))
      # `from pkg import sub` imports the module pkg.sub; `from pkg import name` needs pkg
      targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base
                 for a in node.names]
    else:
      continue
    for t in targets:
      while t and t not in known:
        t = t.rpartition(".")[0]
      if t and t != name:
        found.add(t)
  return found


def _cycle(graph: dict[str, set[str]]):
  """One cycle as a list of modules, or None."""
  state = {}

  def visit(n, stack):
    state[n] = "open"
    stack.append(n)
    for m in sorted(graph[n]):
      if state.get(m) == "open":
        return stack[stack.index(m):] + [m]
      if m not in state:
        found = visit(m, stack)
        if found:
          return found
    stack.pop()
    state[n] = "done"
    return None

  for n in sorted(graph):
    if n not in state:
      found = visit(n, [])
      if found:
        return found
  return None


def _graph() -> dict[str, set[str]]:
  """module -> the vmas_jax modules it imports.  A package's `__init__` runs before any of its
  submodules; that implicit edge is left out, so only the code's own imports count."""
  mods = _modules()
  return {n: _imports(n, p, set(mods)) for n, p in mods.items()}


def test_no_import_cycles():
  cycle = _cycle(_graph())
  assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_models_are_pure_modules():
  """Model files never reach checkpoint formats: `vmas_jax.build` is the layer above both."""
  graph = _graph()
  bad = {n: sorted(m for m in deps if m.startswith("vmas_jax.convert"))
         for n, deps in graph.items() if n.startswith("vmas_jax.models")}
  assert not any(bad.values()), bad


def test_every_module_imports_in_a_fresh_process():
  order, seen, graph = [], set(), _graph()

  def visit(n):  # dependencies first
    if n in seen:
      return
    seen.add(n)
    for m in sorted(graph[n]):
      visit(m)
    order.append(n)

  for n in sorted(graph):
    visit(n)
  code = "import importlib, sys\nfor m in sys.argv[1:]:\n  importlib.import_module(m)\n"
  proc = subprocess.run([sys.executable, "-c", code, *order], capture_output=True, text=True,
                        timeout=300)
  assert proc.returncode == 0, proc.stderr[-3000:]
