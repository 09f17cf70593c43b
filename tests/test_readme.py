"""The README's examples and set-up commands must stay true: run every marked Python block."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _blocks(marker: str, lang: str) -> list[str]:
    text = README.read_text()
    return re.findall(rf"<!-- {marker} -->\n```{lang}\n(.*?)```", text, flags=re.S)


@pytest.mark.parametrize("index", range(len(_blocks("readme-example", "python"))))
def test_readme_example_runs(index, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = _blocks("readme-example", "python")[index]
    exec(compile(code, f"README.md example {index}", "exec"), {"__name__": "__readme__"})


def test_readme_names_the_ci_commands():
    main, test = _blocks("ci:main", "bash"), _blocks("ci:test", "bash")
    assert len(main) == 1 and "ganaug run recipes/balance-mnist.toml" in main[0]
    assert len(test) == 1 and "pytest" in test[0]
    ci = (README.parent / ".ci" / "run").read_text()
    assert "<!-- ci:test -->" in ci
