"""Write development API keys into .env when none are configured, and print them."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from dotenv import dotenv_values

# Two keys, so the README's examples can show a scraper's key refused where only the operator's
# key is allowed, without the reader having to edit .env first.
DEV_SCOPES = "ingest+distribute+admin"
SCRAPER_SCOPES = "ingest"


def ensure_dev_keys(env_file: Path = Path(".env")) -> tuple[str, str] | None:
    """Return (operator key, scraper key) if they were written; None when API_KEYS is already set."""
    if os.environ.get("API_KEYS") or (env_file.exists() and dotenv_values(env_file).get("API_KEYS")):
        return None
    dev_key = "dev_" + secrets.token_urlsafe(24)
    scraper_key = "scraper_" + secrets.token_urlsafe(24)
    # Readable by this user only: the dev key holds every scope. os.open's mode covers a new file,
    # fchmod one that existed with looser permissions.
    with os.fdopen(os.open(env_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600), "a") as handle:
        os.fchmod(handle.fileno(), 0o600)
        handle.write(f"\n# Development keys written by `make run`; replace them before deploying.\n"
                     f"API_KEYS={dev_key}:{DEV_SCOPES},{scraper_key}:{SCRAPER_SCOPES}\n")
    return dev_key, scraper_key


if __name__ == "__main__":
    new_keys = ensure_dev_keys()
    if new_keys:
        print(f"Wrote two development API keys to .env: one with every scope, one for scrapers "
              f"(ingest only):\n\n    export API_KEY={new_keys[0]}\n    export SCRAPER_KEY={new_keys[1]}\n")
    else:
        print("API_KEYS is already configured (environment or .env).")
