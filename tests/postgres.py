"""A throwaway PostgreSQL server for the store tests: Debian's `postgresql` binaries, a data folder in /tmp, a
Unix socket only (no TCP), stopped and removed at the end of the session. As root, the server runs as the
`postgres` user (PostgreSQL refuses root). scripts/test.sh installs the package and sets
DEPLOYPROF_REQUIRE_POSTGRES=1, which turns "cannot start" into a failure instead of a skip."""
import glob
import os
import shutil
import socket
import subprocess
import tempfile

import pytest


def _bin(name):
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None)
    return found


def _unavailable(why):
    if os.environ.get("DEPLOYPROF_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"DEPLOYPROF_REQUIRE_POSTGRES=1 but {why}")
    pytest.skip(why)


@pytest.fixture(scope="session")
def postgres_url():
    initdb, pg_ctl = _bin("initdb"), _bin("pg_ctl")
    if not (initdb and pg_ctl):
        _unavailable("PostgreSQL is not installed (apt-get install postgresql)")
    pytest.importorskip("psycopg", reason="psycopg 3 not installed (pip install 'psycopg[binary]')")
    as_user = []
    base = tempfile.mkdtemp(prefix="dp-pg-", dir="/tmp")
    os.chmod(base, 0o755)
    if os.geteuid() == 0:
        runuser = shutil.which("runuser")
        if not runuser:
            _unavailable("running as root without runuser: cannot start PostgreSQL as another user")
        as_user = [runuser, "-u", "postgres", "--"]
        shutil.chown(base, "postgres")
    data = os.path.join(base, "data")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    try:
        subprocess.run([*as_user, initdb, "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8"],
                       check=True, capture_output=True, timeout=120)
        subprocess.run([*as_user, pg_ctl, "-D", data, "-w", "-t", "60", "-l", os.path.join(base, "log"), "start",
                        "-o", f"-k {base} -p {port} -c listen_addresses=''"], check=True, capture_output=True, timeout=120)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        shutil.rmtree(base, ignore_errors=True)
        _unavailable(f"PostgreSQL did not start: {exc}")
    try:
        yield f"postgresql://postgres@/postgres?host={base}&port={port}"  # the README's form (psycopg 3 under SQLAlchemy 2.1)
    finally:
        subprocess.run([*as_user, pg_ctl, "-D", data, "-m", "immediate", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(base, ignore_errors=True)
