#!/usr/bin/env python3
"""Imports run one way (issue #18, item 3): fails if a file of src/ imports from
a layer above its own (its top-level module; lib.rs and main.rs are left out)
or if files import each other in a cycle. `--list` prints the file graph.

A reference (a `use` tree, a `crate::`/`super::`/`self::` path, a path through
a name a `use` or `mod` brought in; not in comments or literals) points at the
file of the deepest module it names: crate::db::Ex is src/db/mod.rs. A macro
is code of the file defining it, not of the crate root where #[macro_export]
puts its name: `crate::on!` runs SQL, so using it imports db.
"""

import re
import sys
from pathlib import Path

# Lowest first. A file may import from its own rank and those below; within a
# rank, the cycle check alone keeps imports one way.
LAYERS = [
    # Building blocks that import nothing of the crate: the rules, how people
    # read values (time), keys derived from the instance secret, passwords.
    ("domain", "format", "keys", "password"),
    ("db",),
    # error turns sqlx errors into the app's Error and asks db which mean a
    # full disk (db::is_unwritable: error codes are the database's business).
    # db answers sqlx::Error and never needs error: so error sits just above.
    ("error",),
    ("ledger",),
    ("mail", "notifications"),
    # config embeds mail::MailConfig; cli and startup read it, and services
    # and web may take their settings from it.
    ("config",),
    ("services",),
    ("web",),
    ("cli", "startup", "demo"),
]
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}

SRC = Path(__file__).resolve().parent.parent / "src"
# Comments, raw and plain strings, char literals: blanked out, line breaks kept.
BLANK = re.compile(r"""//[^\n]*|/\*.*?\*/|(?<!\w)b?r(#*)".*?"\1|(?<!\w)b?"(?:\\.|[^"\\])*"|'(?:\\.[^']*|[^\\'\n])'""", re.S)
SPACES = lambda match: re.sub(r"[^\n]", " ", match.group())  # noqa: E731
USE = re.compile(r"(\bpub\b(?:\s*\([^)]*\))?\s*)?\buse\s+([^;]*);")
TOKEN = re.compile(r"\$?\w+|::|[{},*]")
PATH = re.compile(r"(?<![\w$:])(\$?crate|super|self)((?:::\w+)+)")
BRACES = re.compile(r"\bmod\s+(\w+)\s*\{|[{}]")
CHILD = re.compile(r"\bmod\s+(\w+)\s*;")
MACRO = re.compile(r"#\[macro_export\]\s*macro_rules!\s*(\w+)")


def module_of(path):
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return parts[:-1] if parts[-1] == "mod" else parts


def use_tree(tokens, i, prefix, out):
    """Appends (segments, offset, bound name) for each leaf; returns the next index."""
    segs, at = list(prefix), None
    while i < len(tokens):
        tok, pos = tokens[i]
        if tok == "{":
            i += 1
            while i < len(tokens) and tokens[i][0] != "}":
                i = use_tree(tokens, i, segs, out)
                i += i < len(tokens) and tokens[i][0] == ","
            return i + 1
        if tok == "*":
            out.append((segs, pos, None))
            return i + 1
        if tok in (",", "}", "as"):
            break
        if tok != "::":
            segs, at = segs + [tok], pos
        i += 1
    segs = segs[:-1] if len(segs) > 1 and segs[-1] == "self" else segs
    alias = i + 1 < len(tokens) and tokens[i][0] == "as"
    out.extend([(segs, at, tokens[i + 1][0] if alias else segs[-1])] if segs else [])
    return i + 2 if alias else i


def absolute(segs, here, children={}):
    """The crate-absolute path of `segs` written in module `here` (None: another crate)."""
    if segs[0] in children:
        return children[segs[0]] + segs[1:]
    if segs[0] in ("crate", "$crate"):
        return segs[1:]
    if segs[0] not in ("super", "self"):
        return None
    base = list(here)
    while segs and segs[0] in ("super", "self"):
        base = base[:-1] if segs.pop(0) == "super" else base
    return base + segs


def target(segs, files, macros):
    """The file of the deepest module `segs` names (None: only the crate root)."""
    for n in range(len(segs), 0, -1):
        for file in (SRC.joinpath(*segs[:n]).with_suffix(".rs"), SRC.joinpath(*segs[:n], "mod.rs")):
            if file in files:
                return file
    return macros.get(segs[0]) if segs else None


def scan(path, text, files, macros):
    """(line, path as written, target file, checked for layers, a re-export) per reference."""
    inline, stack = [], []  # inline modules (`mod tests { .. }`): start, end, name
    for m in BRACES.finditer(text):
        if m.group() != "}":
            stack.append((m.group(1), m.start()))
        elif stack and (top := stack.pop())[0]:
            inline.append((top[1], m.end(), top[0]))
    here = lambda pos: module_of(path) + [n for s, e, n in sorted(inline) if s <= pos < e]
    line = lambda pos: text.count("\n", 0, pos) + 1
    children = {name: module_of(path) + [name] for name in CHILD.findall(text)}
    found, bound = [], dict(children)
    for m in USE.finditer(text):
        leaves = []
        use_tree([(t.group(), m.start(2) + t.start()) for t in TOKEN.finditer(m.group(2))], 0, [], leaves)
        for segs, pos, name in leaves:
            full = absolute(list(segs), here(pos), children)
            if full is not None:
                found.append((line(pos), "::".join(segs), target(full, files, macros), True, bool(m.group(1))))
                bound.update({name: full} if name and name != "_" else {})
    code = USE.sub(SPACES, text)
    for m in PATH.finditer(code):
        full = absolute([m.group(1)] + m.group(2).split("::")[1:], here(m.start()))
        found.append((line(m.start()), m.group(), target(full, files, macros), True, False))
    # Through names a `use` bound (db::users::by_id after `use crate::db`):
    # finer edges for the graph; the `use` itself was checked for layers.
    names = re.compile(r"(?<![\w$:.])(%s)((?:::\w+)+)" % ("|".join(map(re.escape, bound)) or "$^"))
    for m in names.finditer(code):
        full = bound[m.group(1)] + m.group(2).split("::")[1:]
        found.append((line(m.start()), m.group(), target(full, files, macros), False, False))
    return sorted({f for f in found if f[2] not in (None, path)})


def cycles(graph):
    """The shortest cycle through each edge that lies on one, each cycle once."""
    found = {}
    for start, first in sorted((a, b) for a in graph for b in graph[a]):
        paths, queue = {first: [start, first]}, [first]
        while queue and start not in paths:
            node = queue.pop(0)
            for nxt in sorted(graph.get(node, ())):
                if nxt not in paths:
                    paths[nxt] = paths[node] + [nxt]
                    queue.append(nxt)
        if start in paths:
            loop = paths[start][:-1]
            low = loop.index(min(loop))
            found.setdefault(" -> ".join(loop[low:] + loop[: low + 1]), None)
    return list(found)


def main():
    files = set(SRC.rglob("*.rs"))
    texts = {p: BLANK.sub(SPACES, p.read_text(encoding="utf-8")) for p in sorted(files)}
    macros = {m.group(1): p for p, t in texts.items() for m in MACRO.finditer(t)}
    rel = lambda p: str(p.relative_to(SRC.parent))
    problems, graph = [], {}
    for path, text in texts.items():
        ours = module_of(path)
        if ours in (["lib"], ["main"]):
            continue
        if ours[0] not in RANK:
            problems.append(f"{rel(path)}: its layer {ours[0]!r} is not in the table of .ci/imports.py")
            continue
        edges = graph.setdefault(rel(path), set())
        for line, written, to, checked, reexport in scan(path, text, files, macros):
            theirs = module_of(to)
            # A child using its parent (`super::`) is how Rust nests, and a
            # parent re-exporting its children is how it shows them: neither
            # makes a cycle. A parent's own code using a child still counts.
            if ours[: len(theirs)] != theirs and not (reexport and theirs[: len(ours)] == ours):
                edges.add(rel(to))
            if checked and RANK.get(theirs[0], -1) > RANK[ours[0]]:
                problems.append(f"{rel(path)}:{line}: imports {written}: {ours[0]} must not import {theirs[0]}, a layer above it")
    if "--list" in sys.argv[1:]:
        for source in sorted(graph):
            print(f"{source} -> {', '.join(sorted(graph[source])) or '(nothing)'}")
    problems += [f"cycle: {loop}" for loop in cycles(graph)]
    print("\n".join(problems) or "imports run one way")
    if problems:
        order = " < ".join("(" + ", ".join(n) + ")" if len(n) > 1 else n[0] for n in LAYERS)
        print(f"imports: {len(problems)} problem(s); layers, lowest first: {order}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
