"""One history from many files: merge DuckDB files and Parquet folders (merge.py), export the
tables as a hive-partitioned Parquet folder and read such a folder in place (export.py)."""
