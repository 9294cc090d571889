"""Print docs/HOSTILE.md from the corpus: `python -m tests.hostile.doc > docs/HOSTILE.md`."""
from .corpus import TOPICS

HEAD = """# Hostile inputs

deployprof is handed exports, manifests, models, specs, reports, caches and stores from other people and other
machines. Each case below is built by a topic module of `tests/hostile/` and run through the real CLI in its own
process and sandbox by `tests/hostile/test_hostile.py` on every CI run, which asserts: the exit code (1 with one
`error:` line, 2 for a usage error, 0 where the input is handled correctly), no traceback, nothing changed among the
inputs or outside `--out` (the working directory, HOME and TMPDIR are watched too), no temporary file left behind,
and a peak-memory bound where size is the attack. More tests there interrupt a re-export and a profile with SIGINT,
run two exports into one folder at once, start six first uses of a new store together, and print to a full device;
`tests/hostile/test_lerobot.py` runs LeRobot checkpoints broken in the ways a real install meets, in the LeRobot
environment.
"""


def main() -> str:
    parts = [HEAD]
    for topic in TOPICS:
        name = topic.__name__.rsplit(".", 1)[-1]
        intro = " ".join((topic.__doc__ or "").split())
        parts.append(f"\n## {name} (`tests/hostile/{name}.py`)\n\n{intro}\n\n| case | expected behaviour | exit |\n|---|---|---|\n"
                     + "\n".join(f"| `{c.id}` | {c.expect} | {c.code} |" for c in topic.CASES))
    return "\n".join(parts)


if __name__ == "__main__":
    print(main())
