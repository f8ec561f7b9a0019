"""Running homecat so that file permissions bind it, wherever the checkout and Python live (issue 26 item 15):
the permission tests of test_hostile and test_catalog share these, and conftest's ``permissions_bind``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def bound_by_permissions() -> list[str]:
    """The prefix that runs a command as a user whom file permissions bind, wherever this checkout and Python live.

    A user other than root is bound already. Root reads everything through two capabilities: dropping them from the
    bounding set makes the permission bits bind root as well, while root still reads its own checkout and
    interpreter (a clone in a mode-700 folder, a venv under /root), which another user such as 65534 could not.
    """
    if os.geteuid() != 0:
        return []
    return ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]


def run_bound(*args: str, **environ: str) -> subprocess.CompletedProcess:
    """`homecat *args` from this checkout, run so that file permissions bind it (see bound_by_permissions)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOMECAT_")} | environ
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parent.parent), env.get("PYTHONPATH", "")])
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    command = [*bound_by_permissions(), sys.executable, "-m", "homecat", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, cwd="/", timeout=120)
