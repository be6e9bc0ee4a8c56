"""Scraper backend: bulk profile ingest and daily distribution over PostgreSQL or Supabase."""

from .app import create_app

__all__ = ["create_app"]
