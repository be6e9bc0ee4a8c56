"""Test suite, run against a real embedded PostgreSQL."""
