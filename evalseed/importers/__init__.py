"""Converters that bring external data (benchmarks, outcome tables) into evalseed."""
