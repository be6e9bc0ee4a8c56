"""Every setting is declared once and documented twice: in .env.example and in the configuration page's table."""

from __future__ import annotations

import re

from server.config import CONFIG_PAGE, SETTINGS

from .conftest import ROOT


def env_example_settings() -> dict[str, str]:
    """NAME -> value of every `NAME=value` line of .env.example."""
    lines = (ROOT / ".env.example").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if re.match(r"[A-Z][A-Z0-9_]*=", line))


def page_table_settings() -> dict[str, str]:
    """NAME -> default column of the configuration page's table."""
    page = (ROOT / CONFIG_PAGE).read_text()
    section = page.split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([A-Z][A-Z0-9_]*)` \| ([^|]*) \|", section, flags=re.MULTILINE)
    return {name: default.strip() for name, default in rows}


def test_env_example_lists_every_setting_with_its_default():
    assert env_example_settings() == {s.name: s.default for s in SETTINGS}


def test_the_configuration_page_lists_every_setting_with_its_default():
    expected = {s.name: f"`{s.default}`" if s.default else "(empty)" for s in SETTINGS}
    assert page_table_settings() == expected


def test_every_setting_has_a_help_text_and_a_comment_in_env_example():
    text = (ROOT / ".env.example").read_text()
    for setting in SETTINGS:
        assert setting.help, setting.name
        assert f"# {setting.help}\n{setting.name}=" in text, setting.name
