"""The corpus's commands without the start-up cost of each: one server process imports deployprof's CLI, numpy and
onnx once and forks a child per command (about 0.3 s a command here against 0.65 s for a fresh interpreter). The
child is still a process of its own, with the case's working directory, environment, HOME, TMPDIR and cache, its
stdout and stderr in files, and its exit status the command's; it ends as a process does (finalizers run). The
server holds no thread when it forks (checked; OpenBLAS kept to one). ONNX Runtime (its import starts a thread) and
torch (a child of a server holding it took longer to exit than most commands take to run) are each child's own.
Cases that bound peak memory run in a fresh process (a child's high-water mark would include the server's)."""
from __future__ import annotations

import json
import os
import select
import subprocess
import sys
from pathlib import Path
from typing import Optional

SERVER = r"""
import json, os, runpy, signal, sys, tempfile, threading, time
import numpy, onnx  # noqa: F401  (loaded once, for every command)
import deployprof.cli  # noqa: F401
assert threading.active_count() == 1 and len(os.listdir("/proc/self/task")) == 1, "threads before fork"
base_path = list(sys.path)
for line in sys.stdin:
    req = json.loads(line)
    pid = os.fork()
    if pid == 0:
        code = 70
        try:
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
            for fd, name in ((1, req["stdout"]), (2, req["stderr"])):
                os.dup2(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644), fd)
            os.chdir(req["cwd"])
            os.environ.clear()
            os.environ.update(req["env"])
            tempfile.tempdir = None  # TMPDIR is the case's
            sys.path[:] = [*req["path"], *base_path]
            sys.argv = ["deployprof", *req["args"]]
            try:
                runpy.run_module("deployprof", run_name="__main__", alter_sys=True)
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
                if not isinstance(exc.code, (int, type(None))):
                    sys.stderr.write(str(exc.code) + "\n")
        except BaseException:
            import traceback
            traceback.print_exc()
            code = 70
        # leave the loop as a process ends: finalizers run (a database connection still open closes as it would)
        raise SystemExit(code)
    deadline = time.monotonic() + req["timeout"]
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            reply = {"code": os.waitstatus_to_exitcode(status)}
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            reply = {"timeout": True}
            break
        time.sleep(0.01)
    sys.stdout.write(json.dumps(reply) + "\n")
    sys.stdout.flush()
"""


class ForkServer:
    def __init__(self, root: Path):
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]),
               "OPENBLAS_NUM_THREADS": "1"}
        self.proc = subprocess.Popen([sys.executable, "-c", SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=env, cwd=root)

    def run(self, args: list[str], cwd: Path, env: dict, path: list[str], out_dir: Path,
            timeout: float) -> Optional[tuple[int, str, str]]:
        """(exit code, stdout, stderr), or None when it ran past `timeout` (the child is killed)."""
        out, err = out_dir / "stdout.txt", out_dir / "stderr.txt"
        req = dict(args=args, cwd=str(cwd), env=env, path=path, stdout=str(out), stderr=str(err), timeout=timeout)
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout + 60)
        line = self.proc.stdout.readline() if ready else ""
        if not line:
            raise RuntimeError(f"the fork server died: {self.proc.stderr.read() if self.proc.poll() is not None else ''}")
        reply = json.loads(line)
        if reply.get("timeout"):
            return None
        return reply["code"], out.read_text(errors="replace"), err.read_text(errors="replace")

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=30)
