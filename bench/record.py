#!/usr/bin/env python3
"""Replaces one benchmark's section of BENCHMARKS.md with a new run.

    bench/record.py SECTION RESULTS.md

Each benchmark script owns the text between `<!-- bench:SECTION -->` and
`<!-- /bench:SECTION -->`; a missing section is appended. The file is
replaced atomically.
"""
import os
import re
import sys
import tempfile

section, results = sys.argv[1], open(sys.argv[2]).read().strip()
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "BENCHMARKS.md")
text = open(path).read()
start, end = f"<!-- bench:{section} -->", f"<!-- /bench:{section} -->"
block = f"{start}\n{results}\n{end}"
pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path))
with os.fdopen(fd, "w") as f:
    f.write(text)
os.chmod(tmp, 0o644)
os.replace(tmp, path)
