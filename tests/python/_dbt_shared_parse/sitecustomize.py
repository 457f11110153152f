"""The test suite's dbt processes: a shared parse (DECISIONLOG 135), loggers
that skip what they would drop, Jinja sources compiled once and one
manifest.json a build (DECISIONLOG 138). Loaded into every Python process the
suite starts (tests/python/conftest.py puts this folder on PYTHONPATH and sets
CX_TEST_PARSE_CACHE; `make test`'s dbt build of the sample puts it there too),
it changes nothing until dbt's manifest loader, its loggers or its Jinja client
are imported, and nothing outside the test suite.

dbt parses the whole project again (about 13 s) whenever the command-line
vars differ from those of its saved parse, although this project's parse
does not depend on the settings the tests pass (tests/python/
test_project_structure.py parses with every one of them changed and compares);
and every new target folder starts with no saved parse at all. So, in a dbt
process of the suite:

- a saved parse made with only the settings of PARSE_FREE_VARS on the command
  line is accepted for another run that also passes only those (dbt still
  checks the profile, the target, the project files, the environment
  variables the project reads and its own version, as always);
- a target folder with no saved parse, or with one for another profile,
  gets the session's parse for the same profile, target, project and
  environment (a copy, from CX_TEST_PARSE_CACHE), and the first parse made
  for those is put there.

It also spares dbt three repeated costs (DECISIONLOG 138), with the same output:

- dbt formats every event (about 25 per node, most at debug level) for each
  of its two loggers, its standard output and its log file, and only then
  does Python's logging drop those below the logger's level. Here a logger
  skips an event its level drops before formatting it.
- dbt compiles a Jinja template from its source text for every node it runs,
  and most data tests share a handful of sources (a generic test's call).
  Here a process compiles each source once (per kind of Jinja environment)
  and binds the compiled code to each node's environment and context, as
  Jinja's own bytecode cache does.
- dbt writes manifest.json once it has parsed the project and again when a
  build, run, test, seed or snapshot ends (with the compiled code). Here those
  commands write it only when they end, in a target folder that has one.
"""
from __future__ import annotations

import importlib.abc
import importlib.util
import os
import sys

# the settings that only shape SQL at run time (macros and tests read them
# when they compile, not when dbt parses): the landing folder and every
# scalar setting of dbt_project.yml but reporting_role (PostgreSQL's grants
# config reads it when dbt parses). Not test_scope either: the batch scope's
# tests call other macros and read other relations, which dbt records when it
# parses them.
PARSE_FREE_VARS = frozenset({
    "raw_dir", "lookback_days", "as_of_date", "fcr_recontact_window_days", "fast_resolution_days",
    "alert_baseline_months", "alert_min_baseline_months", "alert_standard_errors", "alert_min_volume",
    "orphan_error_share", "rejected_share_max", "rejected_rows_tolerated", "rejected_share_never",
    "weakest_segment_min_denominator", "survey_cooldown_days", "survey_window_start_hours",
    "survey_window_end_hours", "ami_orphan_read_error_share", "ami_vacant_read_error_share",
    "ami_meter_install_overlap_error_share", "ami_premise_meter_overlap_error_share",
    "ami_premise_account_overlap_error_share", "ami_duplicate_read_error_share", "ami_negative_kwh_error_share",
    "ami_read_gap_error_share", "ami_non_reporting_error_share", "ami_error_min_population",
    "ami_estimated_read_warn_share", "ami_estimated_read_error_share", "ami_usage_tolerance",
    "ami_usage_match_rate_min", "ami_usage_match_min_covered_bills",
})
# beside partial_parse.msgpack when its vars were parse-free: the key of its
# profile, target, project and environment (cache_key)
SIDECAR = ".cx-parse-free-vars"


def _patch(module) -> None:
    import hashlib
    import shutil

    loader = module.ManifestLoader
    cache = os.environ.get("CX_TEST_PARSE_CACHE")

    def parse_free(self) -> bool:
        return set(self.root_project.cli_vars) <= PARSE_FREE_VARS

    def cache_key(self) -> str:
        args, check = self.root_project.args, self.manifest.state_check
        parts = [getattr(args, "profile", "") or "", getattr(args, "target", "") or "", module.__version__,
                 check.profile_hash.checksum, check.project_env_vars_hash.checksum,
                 *sorted(f"{k}:{v.checksum}" for k, v in check.project_hashes.items())]
        return hashlib.sha1("\x00".join(parts).encode()).hexdigest()[:16]

    def saved_path(self) -> str:
        return os.path.join(self.root_project.project_target_path, module.PARTIAL_PARSE_FILE_NAME)

    original_read = loader.read_manifest_for_partial_parse
    original_check = loader.is_partial_parsable
    original_write = loader.write_manifest_for_partial_parse

    def saved_key(self) -> str | None:
        sidecar = saved_path(self) + SIDECAR
        if not os.path.exists(sidecar):
            return None
        with open(sidecar) as fh:
            return fh.read()

    def mark(self, key: str | None) -> None:
        sidecar = saved_path(self) + SIDECAR
        if key is None:
            if os.path.exists(sidecar):
                os.remove(sidecar)
        else:
            with open(sidecar, "w") as fh:
                fh.write(key)

    def read_manifest_for_partial_parse(self):
        # a folder with no saved parse, or one for another profile (several warehouse files
        # share a worker's folder), starts from the session's parse for this one
        if cache and parse_free(self):
            key = cache_key(self)
            cached = os.path.join(cache, key + ".msgpack")
            if saved_key(self) != key and os.path.exists(cached):
                os.makedirs(os.path.dirname(saved_path(self)), exist_ok=True)
                shutil.copyfile(cached, saved_path(self))
                mark(self, key)
        return original_read(self)

    def is_partial_parsable(self, manifest):
        if parse_free(self) and saved_key(self) == cache_key(self):
            manifest.state_check.vars_hash = self.manifest.state_check.vars_hash
        return original_check(self, manifest)

    def write_manifest_for_partial_parse(self):
        mark(self, None)  # (until the new parse is written whole)
        original_write(self)
        if not parse_free(self):
            return
        key = cache_key(self)
        mark(self, key)
        cached = os.path.join(cache, key + ".msgpack") if cache else None
        if cached and not os.path.exists(cached):
            os.makedirs(cache, exist_ok=True)
            tmp = f"{cached}.{os.getpid()}.tmp"
            shutil.copyfile(saved_path(self), tmp)
            os.replace(tmp, cached)

    loader.read_manifest_for_partial_parse = read_manifest_for_partial_parse
    loader.is_partial_parsable = is_partial_parsable
    loader.write_manifest_for_partial_parse = write_manifest_for_partial_parse


# commands whose task writes manifest.json when it ends (dbt's GraphRunnableTask)
WRITES_MANIFEST_AT_END = frozenset({"build", "run", "test", "seed", "snapshot"})


def _patch_manifest_writes(module) -> None:
    from dbt.flags import get_flags

    original = module.parse_manifest

    def parse_manifest(runtime_config, write_perf_info, write, write_json, active_integrations):
        # the command writes manifest.json again when it ends: not also once parsed, unless the
        # folder has none yet (a command that stops before its end leaves the folder's last one)
        there = os.path.exists(os.path.join(runtime_config.project_target_path, "manifest.json"))
        if there and getattr(get_flags(), "WHICH", None) in WRITES_MANIFEST_AT_END:
            write_json = False
        return original(runtime_config, write_perf_info, write, write_json, active_integrations)

    module.parse_manifest = parse_manifest


def _patch_manifest_module(module) -> None:
    if os.environ.get("CX_TEST_PARSE_CACHE") is not None:
        _patch(module)
    _patch_manifest_writes(module)


def _patch_loggers(module) -> None:
    import logging

    levels = {"test": logging.DEBUG, "debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING,
              "error": logging.ERROR}
    original = module._Logger.write_line

    def write_line(self, msg):
        # what original() would send to Python's logging, and at which level (a print event as error)
        log = self._python_logger
        if (log is not None and not module._is_print_event(msg)
                and not log.isEnabledFor(levels.get(msg.info.level, logging.ERROR))):
            return
        original(self, msg)

    module._Logger.write_line = write_line


def _patch_templates(module) -> None:
    cache = {}

    def get_template(string, ctx, node=None, capture_macros=False, native=False):
        # dbt's get_template: a new environment per call, the source compiled again each time
        with module.catch_jinja(node):
            env = module.get_environment(node, capture_macros, native=native)
            source = str(string)
            key = (type(env), source)
            code = cache.get(key)
            if code is None:
                code = cache[key] = env.compile(source)
            return env.template_class.from_code(env, code, env.make_globals(ctx), None)

    module.get_template = get_template


class _PatchOnImport(importlib.abc.MetaPathFinder):
    """Patches a module right after it is first imported."""

    def __init__(self, name: str, patch) -> None:
        self.name, self.patch = name, patch

    def find_spec(self, name, path=None, target=None):
        if name != self.name:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        execute = spec.loader.exec_module

        def exec_module(module):
            execute(module)
            self.patch(module)

        spec.loader.exec_module = exec_module
        return spec


# (as a process's sitecustomize only: a test that loads this file by path reads its settings)
if __name__ == "sitecustomize":
    sys.meta_path.insert(0, _PatchOnImport("dbt.parser.manifest", _patch_manifest_module))
    sys.meta_path.insert(0, _PatchOnImport("dbt_common.events.logger", _patch_loggers))
    sys.meta_path.insert(0, _PatchOnImport("dbt_common.clients.jinja", _patch_templates))
