"""Tests of the Supabase REST backend, at the HTTP level against a fake PostgREST over the real PostgreSQL."""
