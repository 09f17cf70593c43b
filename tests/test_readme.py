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


def test_the_readme_gains_table_is_the_one_generated_from_the_committed_results():
    """The headline table is not typed by hand: it must equal what benchmarks/readme_table.py makes of
    benchmarks/results/gains.json (rerun the script after a new gains.py run)."""
    from benchmarks.readme_table import END, START, main

    text = README.read_text()
    assert text.count(START) == 1 and text.count(END) == 1
    assert main(["--check"]) == 0


def test_readme_table_reads_regimes_from_class_counts_and_bolds_only_wins():
    from benchmarks.readme_table import regime_label, render, table

    assert regime_label([450] * 5 + [5] * 5) == "90:1 imbalance (0-4: 450, 5-9: 5)"
    assert regime_label([20] * 10) == "20 per class"
    assert regime_label([9, 9, 1]) == "9:1 imbalance (0-1: 9, 2: 1)"

    def arm(test, val):
        return {"test_balanced_accuracy_mean": test, "validation_balanced_accuracy_mean": val}

    def rows(values):
        return [{"seed": s, "test": {"balanced_accuracy": v}} for s, v in enumerate(values)]

    win = {
        "summary": {
            "train_class_counts": [20] * 10,
            "arms": {"elastic": arm(0.90, 0.9), "gan+elastic": arm(0.92, 0.91)},
            "headline": {
                "best_gan_arm": "gan+elastic",
                "best_baseline_arm": "elastic",
                "test_diff_mean": 0.02,
                "test_diff_ci95": [0.01, 0.03],
                "diffs": [0.01, 0.02, 0.03],
            },
            "guard": {"decided": True, "passed": False},
        },
        "report": {"results": {"elastic": rows([0.90, 0.89, 0.91]), "gan+elastic": rows([0.91, 0.91, 0.94])}},
    }
    full = {
        "summary": {
            "train_class_counts": [450] * 10,
            "arms": {"real": arm(0.96, 0.95), "classical": arm(0.98, 0.97)},
            "headline": {},
        }
    }
    res = {
        "regimes": {"low20": win, "full": full},
        "settings": {
            "seeds": [0, 1, 2],
            "gan_seeds": [0],
            "gan_steps": 9,
            "classifier_steps": 9,
            "classifier_batch": 8,
        },
    }
    lines = table(res).splitlines()
    assert lines[2].startswith(
        "| 20 per class | `elastic` 90.00 | `gan+elastic` 92.00 | **+2.00 [+1.00, +3.00]** (3 seeds) | 25 % |"
    )
    # gan+elastic − elastic over the 3 seeds: +2.00 with a t-interval that crosses zero, so not bold
    assert lines[2].endswith("| 25 % | +2.00 [−0.48, +4.48] | refuses |")
    assert lines[3].startswith("| 450 per class (ceiling) | `classical` 98.00 |")
    with pytest.raises(ValueError, match="gains-table:start"):
        render("no markers here", "x")
    # a pair run has no `full` regime: its gap column uses the label run's ceiling, and says so
    pair = {"regimes": {"low20": win}, "settings": {**res["settings"], "provider": "pair", "pair_gan_steps": 7}}
    lines = table(pair, "gains-pair.md", ceiling_res=res).splitlines()
    assert len(lines) == 5 and "| 25 % |" in lines[2]
    assert "pair GAN 7 steps" in lines[4] and "ceiling classical 98.00 from gains.md" in lines[4]
    assert "| — |" in table(pair).splitlines()[2]  # no ceiling anywhere: no gap


def test_readme_tables_are_generated_only_where_their_markers_are(tmp_path):
    from benchmarks.readme_table import TABLES, generate

    (tmp_path / "gains.json").write_text("{}")  # read, but no table asks for it
    assert generate("no tables here\n", tmp_path) == "no tables here\n"
    start, end = TABLES["pair"][1]
    with pytest.raises(FileNotFoundError, match="gains-pair.json"):
        generate(f"{start}\n{end}\n", tmp_path)


def _anchor(heading: str) -> str:
    """GitHub's anchor for a Markdown heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^a-z0-9 _-]", "", heading.strip().lower()).replace(" ", "-")


def _headings(markdown: str) -> set[str]:
    """The anchors of a page's headings; ``#`` lines inside fenced code blocks are comments, not headings."""
    prose = re.sub(r"^```.*?^```", "", markdown, flags=re.S | re.M)
    return {_anchor(h) for h in re.findall(r"^#+ (.+)$", prose, flags=re.M)}


@pytest.mark.parametrize("doc", ["README.md", "docs/measurements.md"])
def test_links_between_the_docs_resolve(doc):
    """Every relative link of the README and of the page its summaries point to names a file of the repository
    (tracked by git where this is a git checkout: a link into ``runs/`` would work here and nowhere else), and every
    ``#anchor`` a heading of its target, so a moved or renamed section breaks no link."""
    import subprocess

    root = README.parent
    src = root / doc
    listed = subprocess.run(["git", "ls-files"], cwd=root, capture_output=True, text=True)
    tracked = {root / f for f in listed.stdout.splitlines()} if listed.returncode == 0 else None
    links = re.findall(r"\]\(([^)\s]+)\)", src.read_text())
    assert links
    broken = []
    for link in links:
        if link.startswith(("http://", "https://", "mailto:")):
            continue
        path, _, frag = link.partition("#")
        target = (src.parent / path).resolve() if path else src
        in_repo = target.is_relative_to(root) and (
            tracked is None or target in tracked or any(f.is_relative_to(target) for f in tracked)
        )
        if not target.exists() or not in_repo:
            broken.append(link)
        elif frag and target.suffix == ".md" and frag not in _headings(target.read_text()):
            broken.append(link)
    assert not broken, f"{doc} links to what does not exist in the repository: {broken}"
