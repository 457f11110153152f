"""Engines other than the embedded DuckDB: loading the CIS exports into
PostgreSQL and a throw-away local server (`postgres`), where the Spark build
keeps its tables (`spark`), a mart-by-mart comparison with the DuckDB build
(`compare`), and `python -m cx_warehouse.engines run` (docs/engines.md)."""
