#!/usr/bin/env python3
"""Checks the module graph of the library in src/ for import cycles.

Every module is a node (src/batch/mod.rs is `batch`, src/nomad/client/jobs.rs is
`nomad::client::jobs`). When module S names module T (`crate::a::b::...` or `super::x::...`,
in a `use` or inline), the edge goes between their ancestors that are siblings: from
`knative::cluster::query` naming `knative::load` the edge is `knative::cluster -> knative::load`,
from `verify::cold` naming `knative::cluster` it is `verify -> knative`. So each level (the
top-level modules, the submodules of each, and so on down) is its own graph, and a cycle at any
level (a strongly connected component of more than one module) is reported. A child naming its
parent's items, or a parent its children, is how Rust modules are built and is not an edge.
Comments, string literals and the `#[cfg(test)] mod tests` at the end of a file are ignored:
this is about the shipped code. Also enforced: no library module refers to `crate::cli` (only
src/main.rs and src/cli/ may know the command line).

Usage: python3 tools/check_module_cycles.py [--graph]   (exit 1 on a cycle or a cli reference)
"""
import re
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"
IDENT = r"[A-Za-z_][A-Za-z0-9_]*"


def module_path(file):
    """src/a/b.rs -> ('a', 'b'); src/a/mod.rs -> ('a',); src/lib.rs -> ()."""
    parts = list(file.relative_to(SRC).with_suffix("").parts)
    if parts[-1] in ("mod", "lib"):
        parts.pop()
    return tuple(parts)


def code_of(file):
    """The file's code: no comments, no string literals (prose may hold `crate::`), no tests."""
    text = file.read_text()
    text = re.sub(r"//[^\n]*", "", text)
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r'"(?:\\.|[^"\\])*"', '""', text)
    tests = re.search(r"#\[cfg\(test\)\]\s*mod tests\b", text)
    return text[: tests.start()] if tests else text


def paths_after(code, prefix):
    """Every path after `prefix::`, as segment tuples, expanding `{a, b::c}` groups."""
    found = []
    for m in re.finditer(r"(?<![A-Za-z0-9_:])" + re.escape(prefix) + r"::", code):
        found.extend(_paths(code, m.end(), ()))
    return found


def _paths(code, i, head):
    """Paths starting at code[i] (after a `::`), each prefixed by `head`."""
    if code.startswith("{", i):
        depth, j, item, out = 1, i + 1, "", []
        while j < len(code) and depth:
            ch = code[j]
            depth += {"{": 1, "}": -1}.get(ch, 0)
            if (ch == "," and depth == 1) or depth == 0:
                first = re.match(r"\s*((?:" + IDENT + r"::)*" + IDENT + ")", item)
                if first:
                    out.append(head + tuple(first.group(1).split("::")))
                    nested = re.match(r"\s*((?:" + IDENT + r"::)+)\{", item)
                    if nested:
                        inner = head + tuple(nested.group(1).rstrip(":").split("::"))
                        out.extend(_paths(item, nested.end() - 1, inner))
                item = ""
            else:
                item += ch
            j += 1
        return out
    m = re.match(r"((?:" + IDENT + r"::)*" + IDENT + r")(::\{)?", code[i:])
    if not m:
        return []
    segments = head + tuple(m.group(1).split("::"))
    if m.group(2):
        return _paths(code, i + m.end() - 1, segments)
    return [segments]


def sibling_edge(source, target, modules):
    """The edge between the ancestors of `source` and `target` that are siblings, if any."""
    # The longest prefix of the named path that is a module.
    while target and target not in modules:
        target = target[:-1]
    if not target:
        return None
    common = 0
    while common < min(len(source), len(target)) and source[common] == target[common]:
        common += 1
    if common >= len(source) or common >= len(target):
        return None  # one is the other's ancestor: parent and child
    return source[: common + 1], target[: common + 1]


def cycles(graph):
    """Strongly connected components with more than one node (Tarjan)."""
    index, low, stack, on_stack, result = {}, {}, [], set(), []
    counter = [0]

    def visit(node):
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph.get(node, ())):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                result.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return result


def main():
    files = [f for f in SRC.rglob("*.rs") if f.relative_to(SRC).parts[0] not in ("main.rs", "bin")]
    modules = {module_path(f) for f in files} - {()}
    graph = {m: set() for m in modules}
    cli_users = set()
    for f in files:
        source = module_path(f)
        if not source:
            continue
        code = code_of(f)
        named = list(paths_after(code, "crate"))
        parent = source[:-1]
        named += [parent + p for p in paths_after(code, "super")]
        for target in named:
            if target[:1] == ("cli",) and source[:1] != ("cli",):
                cli_users.add(str(f.relative_to(SRC.parent)))
            edge = sibling_edge(source, target, modules)
            if edge:
                graph[edge[0]].add(edge[1])
    if "--graph" in sys.argv:
        for node in sorted(graph, key=lambda m: (len(m), m)):
            if graph[node] or len(node) == 1:
                targets = ", ".join("::".join(t) for t in sorted(graph[node])) or "(nothing)"
                print(f"{'  ' * (len(node) - 1)}{'::'.join(node)} -> {targets}")
    failed = False
    for component in cycles(graph):
        print("import cycle: " + " <-> ".join("::".join(m) for m in component))
        failed = True
    for user in sorted(cli_users):
        print(f"{user} refers to crate::cli; only src/main.rs and src/cli/ may")
        failed = True
    if not failed:
        edges = sum(len(targets) for targets in graph.values())
        print(
            f"no import cycles among {len(modules)} modules ({edges} edges between siblings); "
            "no library module refers to crate::cli"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
