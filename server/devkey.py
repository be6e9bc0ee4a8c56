"""Write a development API key into .env when none is configured, and print it."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from dotenv import dotenv_values


def ensure_dev_key(env_file: Path = Path(".env")) -> str | None:
    """Return the new key if one was written; None when API_KEYS is already set somewhere."""
    if os.environ.get("API_KEYS") or (env_file.exists() and dotenv_values(env_file).get("API_KEYS")):
        return None
    key = "dev_" + secrets.token_urlsafe(24)
    # Readable by this user only: the key holds every scope. os.open's mode covers a new file,
    # fchmod one that existed with looser permissions.
    with os.fdopen(os.open(env_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600), "a") as handle:
        os.fchmod(handle.fileno(), 0o600)
        handle.write(f"\n# Development key written by `make run`; replace it before deploying.\n"
                     f"API_KEYS={key}:ingest+distribute+admin\n")
    return key


if __name__ == "__main__":
    new_key = ensure_dev_key()
    if new_key:
        print(f"Wrote a development API key to .env (scopes ingest, distribute, admin):\n\n"
              f"    export API_KEY={new_key}\n")
    else:
        print("API_KEYS is already configured (environment or .env).")
