"""Makes `src/` and the world's generated bindings importable for `python3 -m unittest`.

componentize-py generates the `wit_world` package while it builds the component; for the
tests natively, `componentize-py bindings` writes the same package (plain Python) into
build/bindings once.
"""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.abspath(__file__))
BINDINGS = os.path.join(ROOT, "build", "bindings")

if not os.path.isdir(os.path.join(BINDINGS, "wit_world")):
    subprocess.run(
        ["componentize-py", "-d", os.path.join(ROOT, "wit"), "-w", "@WORLD@", "bindings", BINDINGS],
        check=True,
        stdout=subprocess.DEVNULL,
    )
for path in (os.path.join(ROOT, "src"), BINDINGS):
    if path not in sys.path:
        sys.path.insert(0, path)
