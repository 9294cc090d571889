"""Print docs/HOSTILE.md from the corpus: `python -m tests.hostile.doc > docs/HOSTILE.md`."""
from .cases import CASES as ROUND1
from .round2 import ROUND2

CASES = ROUND1 + ROUND2

HEAD = """# Hostile inputs

deployprof is handed exports, manifests, models, specs and reports from other people and other machines. Each
case below is built by `tests/hostile/cases.py` and run through the real CLI in its own process and sandbox by
`tests/hostile/test_hostile.py` on every CI run, which asserts: the exit code (1 with one `error:` line, 2 for a
usage error, 0 where the input is handled correctly), no traceback, nothing changed among the inputs or outside
`--out`, no temporary file left behind, and a peak-memory bound where size is the attack. More tests there
interrupt a re-export and a profile with SIGINT, run two exports into one folder at once, and print to a full device.

The first 68 cases are `tests/hostile/cases.py`; the second round (`tests/hostile/round2.py`, from `spec-yaml-alias-bomb`
on) covers seven classes: sizes a file or option names bounded before work (YAML aliases refused, matrices and
measurement settings within the command line's ranges, .npz headers checked before reading, files over their size or
not regular refused unread); verdicts never PASS on impossible numbers (reports, store rows and targets validated on
read); nothing of the user's deleted or lost (exports deployprof did not make, a busy --out, foreign SQLite files);
documented features that work; bad values as one line; factories run where their exit is seen and paths in files
confined; results bounded at scale (samples thinned, plots downsampled, Markdown escaped).

| case | expected behaviour | exit |
|---|---|---|
"""

if __name__ == "__main__":
    print(HEAD + "\n".join(f"| `{c.id}` | {c.expect} | {c.code} |" for c in CASES))
