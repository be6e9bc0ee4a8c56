"""Benchmarks: our ingest and distribution against peers measured in the same run."""
