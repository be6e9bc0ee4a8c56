"""Every runnable example of the README and docs/ runs as written and prints what the page shows.

Each page gets what `make run` gives a newcomer: a fresh folder, the development keys written into
its `.env`, and Gunicorn on the embedded PostgreSQL of that folder. The page's examples then run in
order in one bash, from that folder, the only change being the port in `http://localhost:5001`.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from dotenv import dotenv_values

from .conftest import ROOT
from .doc_examples import FENCE, examples, json_values, matches, shown_json, text_matches
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


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """The anchors of a page's headings (outside code fences)."""
    text = FENCE.sub("", page.read_text())
    return {slug(line.lstrip("#")) for line in text.splitlines() if line.startswith("#")}


@pytest.mark.parametrize("page", [*PAGES, "bench/README.md"])
def test_every_link_between_the_pages_leads_somewhere(page):
    source = ROOT / page
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", FENCE.sub("", source.read_text())):
        if re.match(r"[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        linked = (source.parent / path).resolve() if path else source
        if not linked.exists() or anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            broken.append(target)
    assert not broken, f"{page} links to what is not there: {broken}"


@pytest.mark.parametrize("shown, printed, expected", [
    ({"a": 1, "b": "…"}, {"a": 1, "b": "x"}, True),
    ({"a": 1}, {"a": 2}, False),
    ({"a": 1}, {"a": 1, "b": 2}, False),                    # a key the page does not show
    ({"a": 1, "…": "…"}, {"a": 1, "b": 2}, True),
    ({"a": 1, "b": 2}, {"a": 1}, False),
    ([1, "…"], [1, 2, 3], True),
    ([1, 2], [1, 2, 3], False),
    ("eyJ…", "eyJzIjp7", True),
    ("eyJ…", "abc", False),
    (1, 1.0, False),
    (True, 1, False),
])
def test_the_match_of_printed_json_holds_every_value_but_the_ellipses(shown, printed, expected):
    assert matches(shown, printed) is expected


def test_the_shown_json_reads_bare_ellipses_as_wildcards():
    shown = shown_json('{"items": [{"id": 1}, …], "next": "…"}\n{"a": 1, …}')
    assert shown == [{"items": [{"id": 1}, "…"], "next": "…"}, {"a": 1, "…": "…"}]
    assert text_matches("Retry-After: …\nX: 1", "Retry-After: 41\r\nX: 1")
    assert not text_matches("X: 1", "X: 2")
