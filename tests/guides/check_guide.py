#!/usr/bin/env python3
"""Run the shell recipes of a guide in docs/guides/ against the built binaries (ctest
docs_guide_ci, docs_guide_qa), so a guide cannot drift from what the programs do.

  tests/guides/check_guide.py GUIDE.md BUILD_DIR SOURCE_DIR

Every ```sh block runs, in order, in one bash process whose working directory holds
`build` (the binaries) and `fixtures` (the repository's), as a reader's would. A command
line whose trailing comment is a single word (`status $DEV   # ERROR`) must print exactly
that word; the run fails on the first that does not, and when fewer than the guide's
count of such checks ran. Processes the recipes start in the background are stopped at
the end. Not a shell linter: the prose around the blocks is not read."""
import os
import re
import subprocess
import sys
import tempfile

guide, build, source = sys.argv[1:4]
text = open(guide).read()
blocks = re.findall(r"```sh\n(.*?)```", text, re.S)
check = re.compile(r"^(?P<cmd>.*\S)\s+#\s+(?P<want>[A-Za-z0-9_,]+)\s*$")

script = ["fail() { echo \"check_guide: $*\" >&2; exit 1; }",
          "trap 'kill $(jobs -p) 2>/dev/null; wait' EXIT",
          "checks=0"]
expected = 0
for b in blocks:
    # Join continuation lines first, so a check's command is whole.
    lines = b.replace("\\\n", " ").split("\n")
    for line in lines:
        m = check.match(line)
        if m and not line.lstrip().startswith("#"):
            expected += 1
            cmd, want = m.group("cmd"), m.group("want")
            where = f"check {expected} of the guide, expecting {want}"
            script.append(f"got=$({cmd}); [ \"$got\" = {want!r} ] || fail \"{where}: printed '$got'\"; checks=$((checks+1))")
        else:
            script.append(line)
script.append(f"[ $checks -eq {expected} ] || fail \"only $checks of {expected} checks ran\"")
script.append("echo \"check_guide: $checks checks passed\"")

with tempfile.TemporaryDirectory() as work:
    os.symlink(os.path.abspath(build), os.path.join(work, "build"))
    os.symlink(os.path.join(os.path.abspath(source), "fixtures"), os.path.join(work, "fixtures"))
    run = subprocess.run(["bash", "-c", "\n".join(script)], cwd=work, timeout=240)
    sys.exit(run.returncode)
