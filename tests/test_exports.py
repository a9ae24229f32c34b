#!/usr/bin/env python3
"""The shared library exports exactly the functions the public headers mark
SF_API: none missing, nothing else named sf_*, and no other symbol of ours.

Usage: test_exports.py LIBSTREAMFIT_SO HEADER...  (exit 77 without nm)"""
import re
import shutil
import subprocess
import sys


def declared(headers):
    names = set()
    for h in headers:
        text = open(h, encoding="utf-8").read()
        # SF_API <return type> [*]name(   (clang-format may wrap after the type)
        for m in re.finditer(r"^SF_API\s+[^;()]*?\b(sf_\w+)\s*\(", text, re.M):
            names.add(m.group(1))
    return names


def exported(lib):
    out = subprocess.run(["nm", "-D", "--defined-only", lib], check=True,
                         capture_output=True, text=True).stdout
    syms = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3:
            syms.append((parts[1], parts[2]))
    return syms


def main():
    if shutil.which("nm") is None:
        print("nm not found: skipped")
        return 77
    lib, headers = sys.argv[1], sys.argv[2:]
    want = declared(headers)
    syms = exported(lib)
    have = {name for kind, name in syms if kind in "TtWiDdBbRrVv"}
    ours = {n for n in have if n.startswith("sf_") or n.startswith("streamfit")}
    # What else a shared object may define: the loader's own entries.
    others = {n for n in have - ours
              if not (n.startswith("_") or n in ("_init", "_fini"))}
    ok = True
    if want - ours:
        print("declared but not exported:", sorted(want - ours))
        ok = False
    if ours - want:
        print("exported but not declared SF_API:", sorted(ours - want))
        ok = False
    if others:
        print("other exported symbols:", sorted(others))
        ok = False
    print("%d functions declared SF_API, %d dynamic symbols defined in %s"
          % (len(want), len(syms), lib))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
