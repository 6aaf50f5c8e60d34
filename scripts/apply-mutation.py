#!/usr/bin/env python3
"""Applies one mutation to a file in place: replaces the text OLD (where a literal backslash-n
stands for a newline) by NEW. The match ignores whitespace, so that rustfmt reflowing a line does
not silently disable a mutant; it must match exactly once. Exits 1 with the number of matches
otherwise. Used by scripts/mutation-check.sh and model/scripts/mutants.sh.

    scripts/apply-mutation.py FILE OLD NEW
"""
import re
import sys

path, old, new = sys.argv[1], sys.argv[2].replace("\\n", "\n"), sys.argv[3]
src = open(path).read()
pat = r"\s*".join(re.escape(c) for c in old if not c.isspace())
hits = list(re.finditer(pat, src))
if len(hits) != 1:
    sys.exit(f"the text to replace matches {len(hits)} times, not once")
a, b = hits[0].span()
open(path, "w").write(src[:a] + new + src[b:])
