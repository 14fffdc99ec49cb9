#!/usr/bin/env python3
"""Regenerates the README's ingress-nginx compatibility table from
controller/src/translate/compat.rs (a unit test fails when the two differ)."""
import pathlib
import re

root = pathlib.Path(__file__).resolve().parent.parent
src = (root / "controller/src/translate/compat.rs").read_text()
consts = {"SNIPPET": ("refused", re.search(r'const SNIPPET: Support = Support::Refused\(\s*"([^"]*)"', src).group(1))}
pcre = re.search(r'const PCRE: &str = "([^"]*)"', src).group(1)
body = src[src.index("pub const ANNOTATIONS"):src.index("];")]
rows = []
pattern = (r'\(\s*"([a-z0-9-]+)",\s*(Support::Supported|Support::(Partial|Unsupported|Refused)'
           r'\(\s*(?:"((?:[^"\\]|\\.)*)"|PCRE),?\s*\)|SNIPPET),?\s*\)')
for m in re.finditer(pattern, body, re.S):
    name, kind = m.group(1), m.group(2)
    if kind == "Support::Supported":
        status, note = "supported", ""
    elif kind in consts:
        status, note = consts[kind]
    else:
        status, note = m.group(3).lower(), m.group(4) if m.group(4) is not None else pcre
    rows.append((name, status, note.replace('\\"', '"')))
names = re.findall(r'\(\s*"([a-z0-9-]+)",', body)
assert len(rows) == len(names), "a compat.rs entry did not parse"
rows.sort()
table = "| Annotation (`nginx.ingress.kubernetes.io/`) | Sluice | What differs, or why |\n|---|---|---|\n"
table += "".join(f"| `{n}` | {s} | {t} |\n" for n, s, t in rows)
readme = root / "README.md"
text = readme.read_text()
start = text.index("| Annotation (`nginx.ingress.kubernetes.io/`)")
end = text.index("\n\n", start)
readme.write_text(text[:start] + table.rstrip("\n") + text[end:])
print(f"{len(rows)} annotations")
