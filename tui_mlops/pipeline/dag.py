"""The stage graph: cycle detection, topological order, parallel levels and an ASCII drawing."""

from __future__ import annotations

from typing import Any, Mapping


def _deps(stages: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    return {name: tuple(d for d in st.deps if d in stages) for name, st in stages.items()}


def find_cycle(stages: Mapping[str, Any]) -> list[str] | None:
    """A cycle as [a, b, ..., a] (in file order of its first stage), or None."""
    deps = _deps(stages)
    color: dict[str, int] = {}  # 1 on the stack, 2 done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        color[node] = 1
        stack.append(node)
        # A stage's dependencies come before it, so walking deps finds the cycle reversed.
        for dep in deps[node]:
            if color.get(dep) == 1:
                loop = stack[stack.index(dep):] + [dep]
                return list(reversed(loop))
            if dep not in color:
                found = visit(dep)
                if found:
                    return found
        stack.pop()
        color[node] = 2
        return None

    for name in stages:
        if name not in color:
            found = visit(name)
            if found:
                return found
    return None


def topo_order(stages: Mapping[str, Any]) -> list[str]:
    """Dependencies first; among stages free to run, file order."""
    return [name for level in levels(stages) for name in level]


def levels(stages: Mapping[str, Any]) -> list[list[str]]:
    """Stages grouped by depth: everything in one level can run at the same time."""
    deps = _deps(stages)
    depth: dict[str, int] = {}

    def d(name: str, seen: tuple[str, ...] = ()) -> int:
        if name not in depth:
            if name in seen:
                raise ValueError(f"cycle through {name}")
            depth[name] = 1 + max((d(x, seen + (name,)) for x in deps[name]), default=-1)
        return depth[name]

    for name in stages:
        d(name)
    out: list[list[str]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    for name in stages:
        out[depth[name]].append(name)
    return out


def upstream(stages: Mapping[str, Any], name: str) -> set[str]:
    """Every stage `name` needs, directly or not (not including itself)."""
    deps = _deps(stages)
    seen: set[str] = set()
    todo = list(deps[name])
    while todo:
        x = todo.pop()
        if x not in seen:
            seen.add(x)
            todo.extend(deps[x])
    return seen


def downstream(stages: Mapping[str, Any], name: str) -> set[str]:
    """Every stage that needs `name`, directly or not (not including itself)."""
    return {other for other in stages if other != name and name in upstream(stages, other)}


def dag_text(spec: Any, states: Mapping[str, str] | None = None) -> str:
    """The DAG level by level: stages side by side can run in parallel; arrows show each input."""
    stages = spec.stages
    states = states or {}
    lvls = levels(stages)
    out = [f"pipeline {spec.name}: {len(stages)} stage(s) in {len(lvls)} level(s), "
           f"executor {spec.executor}, up to {spec.max_parallel} at a time"]

    def box(name: str) -> str:
        state = states.get(name)
        return f"[{name}: {state}]" if state else f"[{name}]"

    for i, level in enumerate(lvls, start=1):
        if i > 1:
            out.append("   |")
            out.append("   v")
        out.append(f"{i:>2} " + "  ".join(box(n) for n in level))
        for n in level:
            st = stages[n]
            ins = [f"{ref} ({param})" for param, ref in st.inputs.items()]
            ins += [f"{a} (after)" for a in st.after]
            arrow = f" <- {', '.join(ins)}" if ins else ""
            out.append(f"     {n} [{st.kind}]{arrow}")
    return "\n".join(out)
