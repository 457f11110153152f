"""Other engines than DuckDB: helpers for running and checking the warehouse on them."""
