"""Print docs/HOSTILE.md from the corpus: `python -m tests.hostile.doc > docs/HOSTILE.md`."""
from .cases import CASES

HEAD = """# Hostile inputs

deployprof is handed exports, manifests, models, specs and reports from other people and other machines. Each
case below is built by `tests/hostile/cases.py` and run through the real CLI in its own process and sandbox by
`tests/hostile/test_hostile.py` on every CI run, which asserts: the exit code (1 with one `error:` line, 2 for a
usage error, 0 where the input is handled correctly), no traceback, nothing changed among the inputs or outside
`--out`, no temporary file left behind, and a peak-memory bound where size is the attack. Three more tests there
interrupt a re-export and a profile with SIGINT and run two exports into one folder at once.

| case | expected behaviour | exit |
|---|---|---|
"""

if __name__ == "__main__":
    print(HEAD + "\n".join(f"| `{c.id}` | {c.expect} | {c.code} |" for c in CASES))
