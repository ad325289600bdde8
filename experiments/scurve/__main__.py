"""`python -m experiments.scurve [--set name=value ...]`: the S-curve as a plain script."""

import sys

from avlab.cli import main

sys.exit(main(["run", "scurve", *sys.argv[1:]]))
