"""chassis's own start-up work in CPU instructions, which a busy machine does not disturb.

Wall-clock start-up figures on a shared 2-core machine move by a few milliseconds from run to
run, as much as a change to the kernel saves; instruction counts (valgrind's callgrind) are the
same on every run. Three fresh interpreters, each after ``import pydantic_settings`` (part of
the contract, issue 13): one stops there, one imports Connexion and builds a bare
``connexion.FlaskApp`` with the benchmark spec, one builds a ``chassis.App`` with no plugins.
chassis's own share is (chassis - bare) / (bare - nothing).

    .venv/bin/python bench/startup_instructions.py      # needs valgrind; about a minute
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import clean_env  # noqa: E402

_PROBE = """
import sys
import pydantic_settings, pydantic
pydantic.BaseModel  # pydantic's package is lazy: BaseModel is what loads it
if sys.argv[1] != "nothing":
    import connexion
    if sys.argv[1] == "bare":
        app = connexion.FlaskApp(__name__)
    else:
        import chassis
        app = chassis.App(__name__)
    app.add_api("bench/spec.yaml")
"""


def instructions(mode: str) -> int:
    env = clean_env({"CHASSIS_PLUGINS": "", "CHASSIS_LOG_LEVEL": "WARNING"})
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # deployed code runs from cached bytecode
    env["PYTHONHASHSEED"] = "0"  # the same dict and set orders, so the same count
    command = [sys.executable, "-W", "ignore", "-c", _PROBE, mode]
    subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True)  # bytecode
    result = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *command],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    found = re.search(r"Collected : (\d+)", result.stderr)
    if found is None:
        raise RuntimeError(f"no instruction count from valgrind:\n{result.stderr}")
    return int(found.group(1))


def main() -> int:
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
        return 2
    nothing, bare, chassis = (instructions(mode) for mode in ("nothing", "bare", "chassis"))
    connexion_cost = bare - nothing
    own = chassis - bare
    print(f"bare Connexion import + construction: {connexion_cost / 1e6:8.1f} M instructions")
    print(f"chassis's own modules + construction: {own / 1e6:8.1f} M instructions")
    print(f"share: {own / connexion_cost:.1%} (target <= 5 %)")
    return 0 if own <= 0.05 * connexion_cost else 1


if __name__ == "__main__":
    sys.exit(main())
