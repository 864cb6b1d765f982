"""``shotoku methods``: the registered separators and their parameters."""

from __future__ import annotations

import json

from .. import registry

NAME = "methods"
HELP = "list the separation methods and their parameters"


def add_arguments(p):
    p.add_argument("name", nargs="?", help="show only this method")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def run(args) -> int:
    methods = [registry.get(args.name)] if args.name else registry.available()
    if args.json:
        from ..io import jsonable

        print(json.dumps([
            {"name": m.name, "description": m.description, "channels": m.channels,
             "needs_references": m.needs_references,
             "parameters": {p.name: {"default": jsonable(p.default), "doc": p.doc} for p in m.params.values()}}
            for m in methods], indent=2, ensure_ascii=False))
        return 0
    for m in methods:
        tags = [] if m.channels == "any" else [f"{m.channels} input"]
        if m.needs_references:
            tags.append("oracle: needs --references")
        print(f"{m.name}  —  {m.description}" + (f"  [{'; '.join(tags)}]" if tags else ""))
        for p in m.params.values():
            setting = f"{p.name}={p.default!r}"
            print(f"    {setting:<24} {p.doc}")
        print()
    return 0
