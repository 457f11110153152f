#!/usr/bin/env python3
"""dbt, started from a parse the test session has already made.

The test suite points `CX_DBT` at this file (tests/python/conftest.py), so
every dbt invocation of the suite comes here first: the CLI's runs, the
orchestration's, the engines', the tests' own `dbt build` and `dbt test`.

dbt parses the whole project again (about 10 s of one core on the standard
machine, twice that with the machine busy) whenever its target folder holds
no saved parse, or one made with other command-line vars or another profile
connection (DECISIONLOG 106). The suite makes dozens of new target folders,
so most of its dbt invocations parsed in full (DECISIONLOG 134). This
wrapper keeps one saved parse per *parse key* for the session (folder
$CX_DBT_PARSE_CACHE): before dbt starts, a target folder whose saved parse
is missing or was made under another key gets the session's copy for its
key; after dbt ends, a key the session has no copy of yet gets the one dbt
just wrote.

The key is what dbt's own check of a saved parse compares: the
command-line vars, the profile and target names, and the environment
variables that profiles.yml and dbt_project.yml read (the connection).
dbt still makes that check itself, file by file: a copy that does not fit
(a key this wrapper got wrong, a project file changed) costs a full parse,
as before, never a wrong manifest.

Only the standard library: it runs under any Python 3.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

PARSE_FILE = "partial_parse.msgpack"
KEY_FILE = "partial_parse.key"  # beside dbt's saved parse: the key it was made under
PARSING_COMMANDS = {"build", "run", "test", "seed", "snapshot", "compile", "parse", "ls", "list", "source",
                    "run-operation", "show", "docs", "retry", "clone"}


def option(args: list[str], *names: str) -> str | None:
    for i, arg in enumerate(args):
        for name in names:
            if arg == name and i + 1 < len(args):
                return args[i + 1]
            if arg.startswith(name + "="):
                return arg.split("=", 1)[1]
    return None


def env_vars_read_by(path: Path) -> list[str]:
    try:
        text = path.read_text()
    except OSError:
        return []
    return sorted(set(re.findall(r"env_var\(\s*['\"]([A-Za-z0-9_]+)['\"]", text)))


def parse_key(args: list[str], env: dict[str, str], project: Path) -> str:
    profiles = Path(option(args, "--profiles-dir") or env.get("DBT_PROFILES_DIR") or Path.home() / ".dbt")
    if not profiles.is_absolute():
        profiles = Path.cwd() / profiles
    names = {*env_vars_read_by(profiles / "profiles.yml"), *env_vars_read_by(project / "dbt_project.yml")}
    parts = [f"vars={option(args, '--vars') or ''}",
             f"profile={option(args, '--profile') or env.get('DBT_PROFILE', '')}",
             f"target={option(args, '--target', '-t') or env.get('DBT_TARGET', '')}",
             *(f"{name}={env.get(name, '')}" for name in sorted(names))]
    return hashlib.sha1("\x00".join(parts).encode()).hexdigest()[:16]


def target_folder(args: list[str], env: dict[str, str], project: Path) -> Path:
    # dbt reads a relative target path from the project folder
    return project / (option(args, "--target-path") or env.get("DBT_TARGET_PATH") or "target")


def seed(target: Path, cached: Path, key: str) -> None:
    saved, saved_key = target / PARSE_FILE, target / KEY_FILE
    made_under = saved_key.read_text() if saved_key.exists() else None
    if saved.exists() and (made_under is None or made_under == key):
        return  # dbt's own parse for this folder (or one this wrapper cannot judge)
    if cached.exists():
        target.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(cached, saved)
        saved_key.write_text(key)


def keep(target: Path, cached: Path, key: str, started: float) -> None:
    saved = target / PARSE_FILE
    if not saved.exists() or saved.stat().st_mtime < started:
        return  # dbt wrote no parse this time
    (target / KEY_FILE).write_text(key)
    if cached.exists():
        return
    cached.parent.mkdir(parents=True, exist_ok=True)
    partial = cached.with_name(f"{cached.name}.{os.getpid()}")
    shutil.copyfile(saved, partial)
    os.replace(partial, cached)  # whole or not at all, for the other worker


def main() -> int:
    args = sys.argv[1:]
    env = dict(os.environ)
    dbt = env.get("CX_DBT_REAL") or shutil.which("dbt")
    if not dbt:
        print("tests/python/_dbt_shared_parse.py: set CX_DBT_REAL to the dbt to run", file=sys.stderr)
        return 2
    cache = env.get("CX_DBT_PARSE_CACHE")
    command = next((a for a in args if not a.startswith("-")), None)
    if not cache or command not in PARSING_COMMANDS:
        return run(dbt, args)
    project = Path(option(args, "--project-dir") or env.get("DBT_PROJECT_DIR") or Path.cwd()).resolve()
    key = parse_key(args, env, project)
    target = target_folder(args, env, project)
    cached = Path(cache) / f"{key}.msgpack"
    seed(target, cached, key)
    started = time.time() - 1
    rc = run(dbt, args)
    keep(target, cached, key, started)
    return rc


def run(dbt: str, args: list[str]) -> int:
    """dbt as a child, with the signals a caller sends this process passed on to it."""
    child = subprocess.Popen([dbt, *args])
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda signum, frame: child.send_signal(signum))
    return child.wait()


if __name__ == "__main__":
    sys.exit(main())
