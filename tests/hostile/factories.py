"""Users' modules: a factory that raises, exits or returns junk is one line, run where its exit is seen."""
from __future__ import annotations

import textwrap

from .sandbox import Case, Sandbox


def factory_module(body: str):
    """A user's policy module on PYTHONPATH (the sandbox's in/ folder) whose factory misbehaves."""
    def make(sb: Sandbox) -> list[str]:
        sb.write("hostile_policy.py", textwrap.dedent(body))
        return ["export", "--module", "hostile_policy:factory", "--out", str(sb.out / "e")]
    return make


CASES: list[Case] = [
    Case("module-factory-raises", "a --module factory that raises is one error line naming it",
         factory_module("def factory():\n    raise ValueError('no weights here')\n"), message="factory raised ValueError"),
    Case("module-factory-exits", "a --module factory that calls sys.exit() is one error line, not a silent exit",
         factory_module("import sys\ndef factory():\n    sys.exit(3)\n"), message=r"exit\(3\)"),
    Case("module-factory-returns-junk", "a --module factory returning the wrong thing is one error line",
         factory_module("def factory():\n    return 42\n"), message="returned int"),
    Case("module-factory-base-exception", "a --module factory raising a BaseException subclass is one error line",
         factory_module("class Boom(BaseException):\n    pass\ndef factory():\n    raise Boom('no')\n"), message="Boom"),
    Case("module-factory-os-exit", "a --module factory calling os._exit(0) is one error line and exit 1, never a silent 0",
         factory_module("import os\ndef factory():\n    os._exit(0)\n"), message="process ended"),
    Case("module-factory-keyboard-interrupt", "a --module factory raising KeyboardInterrupt is one error line (once a "
         "Python traceback from its process)", factory_module("def factory():\n    raise KeyboardInterrupt\n"),
         message="raised KeyboardInterrupt"),
]
