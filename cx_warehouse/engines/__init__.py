"""Engine-specific helpers for running the warehouse on engines other than
the embedded DuckDB: loading the CIS exports into the engine, a throw-away
local server for tests and CI, and a mart-by-mart comparison with the DuckDB
build (`compare`)."""
