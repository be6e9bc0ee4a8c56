"""Every runnable example of the README and docs/ runs as written and prints what the page shows.

Each page gets what `make run` gives a newcomer: a fresh folder, the development keys written into
its `.env`, and Gunicorn on the embedded PostgreSQL of that folder. The page's examples then run in
order in one bash, from that folder, the only change being the port in `http://localhost:5001`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from dotenv import dotenv_values

from .conftest import ROOT
from .doc_examples import examples, json_values, matches, shown_json, text_matches
from .servers import GunicornServer

PAGES = ["README.md", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md"))]
RUNNABLE = [page for page in PAGES if examples(ROOT / page, ROOT)]
SENTINEL = "@@example-{}@@"
EXAMPLE_TIMEOUT = 300  # seconds for all of a page's examples: a loaded machine, not a speed check


def test_the_readme_and_the_api_page_have_runnable_examples():
    assert {"README.md", "docs/api.md", "docs/distribution.md"} <= set(RUNNABLE)


@pytest.fixture
def newcomer(tmp_path):
    """A folder set up as `make run` sets one up, and Gunicorn serving from it."""
    env = {k: v for k, v in os.environ.items() if k != "API_KEYS"}
    subprocess.run([sys.executable, "-m", "server.devkey"], cwd=tmp_path, env=env, check=True,
                   capture_output=True)
    (tmp_path / ".venv").symlink_to(ROOT / ".venv")  # the examples call .venv/bin/flask
    keys = dotenv_values(tmp_path / ".env")["API_KEYS"]
    server = GunicornServer(tmp_path, "", STORAGE_BACKEND="embedded", DATABASE_URL="", API_KEYS=keys,
                            DATA_DIR=str(tmp_path / ".data"), RUN_DATE_WINDOW_DAYS="7")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def run_page(page: str, server: GunicornServer) -> tuple[list, list[str]]:
    """Run the page's examples in one bash; return them with what each printed."""
    blocks = examples(ROOT / page, ROOT)
    script = "set -euo pipefail\n" + "".join(
        f"printf '\\n{SENTINEL.format(n)}\\n'\n{block.script.replace('http://localhost:5001', server.url)}\n"
        for n, block in enumerate(blocks))
    env = {k: v for k, v in os.environ.items() if k not in ("API_KEYS", "DATABASE_URL", "STORAGE_BACKEND")}
    done = subprocess.run(["bash", "-c", script], cwd=server.workdir, env=env, capture_output=True,
                          text=True, timeout=EXAMPLE_TIMEOUT)
    printed = done.stdout.split("\n")
    outputs, current = [], None
    for line in printed:
        if line.startswith("@@example-") and line.endswith("@@"):
            outputs.append([])
        elif outputs:
            outputs[-1].append(line)
    if done.returncode != 0:
        failed = blocks[len(outputs) - 1]
        pytest.fail(f"{failed.page}:{failed.line} exited with {done.returncode}\n{done.stderr}\n"
                    f"printed:\n{chr(10).join(outputs[-1])}\nserver:\n{server.log_tail()}")
    return blocks, ["\n".join(lines) for lines in outputs]


@pytest.mark.parametrize("page", RUNNABLE)
def test_every_example_prints_what_the_page_shows(page, newcomer):
    blocks, outputs = run_page(page, newcomer)
    for block, printed in zip(blocks, outputs, strict=True):
        where = f"{block.page}:{block.line}"
        if block.output_kind == "json":
            shown, got = shown_json(block.output), json_values(printed)  # curl prints no final newline
            assert len(shown) == len(got) and all(map(matches, shown, got)), \
                f"{where} printed\n{printed}\nwhere the page shows\n{block.output}"
        elif block.output_kind == "text":
            assert text_matches(block.output, printed), \
                f"{where} printed\n{printed}\nwhere the page shows\n{block.output}"
