"""`evaluate compare`: reports of the same rows, re-scored row by row; what is written; what is refused."""

from __future__ import annotations

import json
import random
from html.parser import HTMLParser

import pytest
from statsmodels.stats.contingency_tables import mcnemar

from contracts.errors import UserError, run_cli
from contracts.metrics import HEADLINE, METRICS_BY_NAME
from contracts.task import build_answer
from evaluation.cli import group
from evaluation.compare import compare, load_evaluation
from evaluation.comparison_text import MARKDOWN_MARK
from evaluation.config import CompareConfig
from evaluation.outputs import upgrade_rows
from evaluation.scoring import score_system
from reports.html import format_ci, format_delta, format_delta_ci, format_p, format_value

CATS = ["TRENCH COATS", "N.A.", "SCARVES", "SNEAKERS"]
HOSTILE = "<script>alert(1)</script>"


def _golds(n: int) -> list[dict]:
    return [
        {"title": f"Check Wool Scarf {i % 5}", "category3_code": CATS[i % 4], "full_price": 100.0 + 10 * i}
        for i in range(n)
    ]


def _answers(golds: list[dict], right: set[int], price_factor: float = 1.0) -> list[str]:
    """Right in category and title on the rows in ``right``; wrong elsewhere."""
    return [
        build_answer(g["title"], g["category3_code"], g["full_price"] * price_factor) if i in right
        else build_answer("Other Thing", "WRONG", g["full_price"] * price_factor)
        for i, g in enumerate(golds)
    ]  # fmt: skip


def write_report(directory, name, answers, golds, *, fingerprint="fp-1234567890abcdef", split="test", limit=0,
                 baselines=None, schema=1, codes=None, kind="model", order=None):  # fmt: skip
    """A REPORT dir as evaluate writes it: metrics.json (scored from the rows) and predictions.jsonl."""
    baselines = baselines or {}
    codes = codes or [30000000 + 7 * i for i in range(len(golds))]
    rows = [
        {"index": i, "product_code": codes[i], "file_name": f"{codes[i]}.jpg", "image_path": "", "gold": g,
         "raw": answers[i], "baselines": {b: a[i] for b, a in baselines.items()}}
        for i, g in enumerate(golds)
    ]  # fmt: skip
    upgraded = upgrade_rows(rows, name)
    scored = {
        "metrics": score_system(upgraded, name, n_resamples=0)["metrics"],
        "baselines": {b: {"metrics": score_system(upgraded, b, n_resamples=0)["metrics"]} for b in baselines},
    }
    if order is not None:
        rows = [rows[i] for i in order]
    doc = {
        "schema_version": schema,
        "model": {"name": name, "kind": kind, "spec": name},
        "dataset": {"fingerprint": fingerprint, "path": "/data"},
        "split": split,
        "n": len(rows),
        "metrics": scored["metrics"],
        "baselines": scored["baselines"],
        "config": {"limit": limit},
    }
    directory.mkdir(parents=True)
    (directory / "metrics.json").write_text(json.dumps(doc), encoding="utf-8")
    (directory / "predictions.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8"
    )
    return directory


def _cfg(*inputs, **kwargs) -> CompareConfig:
    return CompareConfig(
        inputs=tuple(str(i) for i in inputs), bootstrap=kwargs.pop("bootstrap", 400), **kwargs
    )


@pytest.fixture()
def two_runs(tmp_path):
    """run-a right on rows 0-59, run-b on rows 12-75 of 100: 12 rows only a, 16 only b; a has 4 baselines."""
    golds = _golds(100)
    baselines = {
        "majority": ["Product: Check Wool Scarf 0, Category: TRENCH COATS, Full Price: 500.00"] * 100,
        "nearest": _answers(golds, set(range(0, 40))),
        "probe": _answers(golds, set(range(0, 50)), 1.1),
        "oracle": _answers(golds, set(range(100))),
    }
    a = write_report(tmp_path / "a", "run-a", _answers(golds, set(range(0, 60))), golds, baselines=baselines)
    b = write_report(tmp_path / "b", "run-b", _answers(golds, set(range(12, 76))), golds)
    return a, b


def test_model_against_its_baselines_in_one_input(two_runs, tmp_path):
    """One input: its model and its four baselines; the three files written; the JSON is the result."""
    a, _ = two_runs
    result = compare(_cfg(a, report=tmp_path / "cmp"))
    comparison = result.comparison
    assert [r["name"] for r in comparison["leaderboard"]] == [
        "oracle",
        "run-a",
        "probe",
        "nearest",
        "majority",
    ]
    assert comparison["leaderboard"][0]["role"] == "ceiling" and comparison["reference"] == "run-a"
    assert [c["system"] for c in comparison["comparisons"]] == ["oracle", "probe", "nearest", "majority"]
    assert json.loads((tmp_path / "cmp" / "comparison.json").read_text()) == comparison
    markdown = (tmp_path / "cmp" / "comparison.md").read_text()
    assert markdown == result.markdown and markdown.splitlines()[0] == MARKDOWN_MARK
    assert "| ceiling | oracle | ceiling |" in markdown
    page = (tmp_path / "cmp" / "compare.html").read_text()
    assert 'id="leaderboard"' in page and "is a category3_code of the source data itself" in page
    assert comparison["notes"] == []  # the stored metrics are what the predictions score


def test_two_runs_with_known_discordant_rows(two_runs):
    """run-b vs run-a: 16 rows only b right, 12 only a: the difference, McNemar's p (statsmodels) and no
    verdict; the baselines stored in a join."""
    a, b = two_runs
    comparison = compare(_cfg(a, b)).comparison
    c = next(c for c in comparison["comparisons"] if c["system"] == "run-b")
    assert c["mcnemar"]["only_system"] == 16 and c["mcnemar"]["only_reference"] == 12
    expected = mcnemar([[48, 16], [12, 24]], exact=True).pvalue
    acc = next(m for m in c["metrics"] if m["metric"] == "category_accuracy")
    assert acc["p_value"] == pytest.approx(expected) and acc["test"] == "McNemar exact"
    assert acc["difference"] == pytest.approx(0.04) and acc["verdict"] == "no significant difference"
    names = {r["name"] for r in comparison["leaderboard"]}
    assert names == {"run-a", "run-b", "majority", "nearest", "probe", "oracle"}
    majority = next(c for c in comparison["comparisons"] if c["system"] == "majority")
    assert "category_accuracy" in majority["summary"]["worse"]


def test_identical_reports_show_no_difference(tmp_path):
    """A report compared with a copy of itself: every difference 0, p = 1, no significant difference."""
    golds = _golds(60)
    answers = _answers(golds, set(range(0, 35)), 1.2)
    a = write_report(tmp_path / "a", "run", answers, golds)
    b = write_report(tmp_path / "b", "run", answers, golds)
    comparison = compare(_cfg(a, b)).comparison
    assert [r["name"] for r in comparison["leaderboard"]] == ["run (a)", "run (b)"]
    (c,) = comparison["comparisons"]
    for m in c["metrics"]:
        assert m["difference"] == 0 and m["p_value"] == 1 and m["verdict"] == "no significant difference"
    assert all(r["verdict"] == "no significant difference" for r in c["per_category"])


def test_rows_in_another_order_are_aligned_by_product_code(tmp_path, two_runs):
    """The same rows written in another order give the same comparison."""
    golds = _golds(100)
    order = list(range(100))
    random.Random(0).shuffle(order)
    shuffled = write_report(
        tmp_path / "shuffled", "run-b", _answers(golds, set(range(12, 76))), golds, order=order
    )
    a, b = two_runs
    one = compare(_cfg(a, b, baselines=False)).comparison
    two = compare(_cfg(a, shuffled, baselines=False)).comparison
    assert one["comparisons"][0]["metrics"] == two["comparisons"][0]["metrics"]
    assert one["comparisons"][0]["per_category"] == two["comparisons"][0]["per_category"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"fingerprint": "fp-other"}, "dataset fingerprint fp-123456789 vs fp-other"),
        ({"split": "validation"}, "split 'test' vs 'validation'"),
        ({"n": 50, "limit": 50}, "100 rows vs 50, --limit none vs 50"),
        ({"codes": [40000000 + i for i in range(100)]}, "100 of its rows are not in the other"),
        ({"gold": True}, "has another gold answer"),
    ],
)
def test_reports_on_other_rows_are_refused(tmp_path, two_runs, capsys, change, message):
    """Another dataset, split, limit, row set or gold: one line naming what differs, exit 2, no output."""
    a, _ = two_runs
    golds = _golds(change.get("n", 100))
    if change.get("gold"):
        golds[3] = {**golds[3], "title": "Another Title"}
    other = write_report(
        tmp_path / "other",
        "run-c",
        _answers(golds, {1, 2}),
        golds,
        fingerprint=change.get("fingerprint", "fp-1234567890abcdef"),
        split=change.get("split", "test"),
        limit=change.get("limit", 0),
        codes=change.get("codes"),
    )
    with pytest.raises(UserError, match="scored on different rows") as err:
        compare(_cfg(a, other))
    assert message in str(err.value)
    code = _cli(["compare", str(a), str(other), "--report", str(tmp_path / "cmp")])
    lines = [x for x in capsys.readouterr().err.splitlines() if x.strip()]
    assert code == 2 and len(lines) == 1 and message in lines[0]
    assert not (tmp_path / "cmp").exists()


def _cli(argv: list[str]) -> int:
    try:
        run_cli(group, argv)
    except SystemExit as exc:
        return exc.code
    return 0


def test_older_schema_says_how_to_rescore(tmp_path, capsys):
    """An older metrics.json schema: one line with the --from-predictions command; a newer one: update."""
    golds = _golds(10)
    old = write_report(tmp_path / "old", "run", _answers(golds, {1}), golds, schema=0)
    with pytest.raises(UserError, match="older evaluate") as err:
        load_evaluation(old)
    assert f"evaluate --from-predictions {old / 'predictions.jsonl'} --report NEW_DIR" in str(err.value)
    assert _cli(["compare", str(old)]) == 2
    assert "--from-predictions" in capsys.readouterr().err
    unversioned = tmp_path / "unversioned"
    unversioned.mkdir()
    doc = json.loads((old / "metrics.json").read_text())
    del doc["schema_version"]
    (unversioned / "metrics.json").write_text(json.dumps(doc))
    with pytest.raises(UserError, match="schema version None"):
        load_evaluation(unversioned)
    newer = write_report(tmp_path / "newer", "run", _answers(golds, {1}), golds, schema=99)
    with pytest.raises(UserError, match="newer evaluate"):
        load_evaluation(newer)


def test_inputs_that_cannot_be_compared(tmp_path, two_runs):
    """No predictions.jsonl beside metrics.json, a foreign JSON, an unknown --reference: one line each."""
    a, _ = two_runs
    lone = tmp_path / "lone"
    lone.mkdir()
    (lone / "metrics.json").write_text((a / "metrics.json").read_text())
    with pytest.raises(UserError, match="no predictions.jsonl beside"):
        compare(_cfg(lone))
    (lone / "metrics.json").write_text('{"hello": 1}')
    with pytest.raises(UserError, match="not an evaluate metrics.json"):
        compare(_cfg(lone))
    with pytest.raises(UserError, match="no metrics.json"):
        compare(_cfg(tmp_path / "nothing"))
    with pytest.raises(UserError, match=r"--reference 'zzz' is not one of the systems: run-a, majority"):
        compare(_cfg(a, reference="zzz"))
    with pytest.raises(UserError, match="--bootstrap must be at least 100"):
        CompareConfig(inputs=(str(a),), bootstrap=10)
    with pytest.raises(UserError, match="--rank-by must be one of"):
        CompareConfig(inputs=(str(a),), rank_by="speed")


def test_reference_and_no_baselines(two_runs):
    """--reference run-b tests run-a against run-b; --no-baselines leaves the stored baselines out."""
    a, b = two_runs
    comparison = compare(_cfg(a, b, reference="run-b", baselines=False)).comparison
    assert [r["name"] for r in comparison["leaderboard"]] == ["run-b", "run-a"]
    (c,) = comparison["comparisons"]
    assert c["system"] == "run-a" and c["reference"] == "run-b"
    acc = next(m for m in c["metrics"] if m["metric"] == "category_accuracy")
    assert acc["difference"] == pytest.approx(-0.04)


def test_outputs_are_replaced_only_with_overwrite(tmp_path, two_runs):
    """A second compare into the same place needs --overwrite; a file this project did not write is kept."""
    a, b = two_runs
    compare(_cfg(a, b, report=tmp_path / "cmp"))
    with pytest.raises(UserError, match="pass --overwrite"):
        compare(_cfg(a, b, report=tmp_path / "cmp"))
    compare(_cfg(a, b, report=tmp_path / "cmp", overwrite=True))
    (tmp_path / "cmp" / "comparison.md").write_text("my notes\n")
    with pytest.raises(UserError, match="not a comparison written by this project"):
        compare(_cfg(a, b, report=tmp_path / "cmp", overwrite=True))
    assert (tmp_path / "cmp" / "comparison.md").read_text() == "my notes\n"


def test_same_command_same_bytes(tmp_path, two_runs):
    """No clock in the outputs: the same comparison twice is byte-identical."""
    a, b = two_runs
    compare(_cfg(a, b, report=tmp_path / "one"))
    compare(_cfg(a, b, report=tmp_path / "two"))
    for name in ("compare.html", "comparison.json", "comparison.md"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes(), name


def test_stale_stored_metrics_are_noted(tmp_path, two_runs):
    """A metrics.json whose values the predictions no longer give (an older scorer): a note with the fix."""
    a, b = two_runs
    doc = json.loads((b / "metrics.json").read_text())
    doc["metrics"]["category_accuracy"]["value"] = 0.99
    (b / "metrics.json").write_text(json.dumps(doc))
    notes = compare(_cfg(a, b)).comparison["notes"]
    assert len(notes) == 1 and "Category accuracy 0.99" in notes[0] and "--from-predictions" in notes[0]


def test_cli_prints_the_leaderboard_and_verdicts(tmp_path, two_runs, capsys):
    a, b = two_runs
    code = _cli(
        ["compare", str(a), str(b), "--bootstrap", "200", "--report", str(tmp_path / "cmp" / "x.html")]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "ceiling  oracle" in out and "run-a (reference)" in out
    assert "run-b vs run-a: better on" in out and "no significant difference" in out
    assert (tmp_path / "cmp" / "x.html").is_file() and (tmp_path / "cmp" / "comparison.json").is_file()


def test_hostile_names_are_escaped(tmp_path):
    """A system named <script>…: text in the page, escaped in Markdown."""
    golds = _golds(20)
    a = write_report(tmp_path / "a", HOSTILE, _answers(golds, {1, 2}), golds)
    b = write_report(tmp_path / "b", "run | b", _answers(golds, {2, 3}), golds)
    result = compare(_cfg(a, b, report=tmp_path / "cmp"))
    page = (tmp_path / "cmp" / "compare.html").read_text()
    assert "<script" not in page.lower() and "&lt;script&gt;" in page
    assert "\\<script\\>" in result.markdown and "run \\| b" in result.markdown


# -- what the page shows is what comparison.json says --------------------------------------------------------


class _Tables(HTMLParser):
    """The text of every cell of the tables with an id, row by row, and each cell's text parts."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._table: str | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table" and attrs.get("id"):
            self._table = attrs["id"]
            self.tables[self._table] = []
        elif self._table and tag == "tr":
            self.tables[self._table].append([])
        elif self._table and tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "table":
            self._table = None
        elif self._table and tag in ("td", "th") and self._cell is not None:
            self.tables[self._table][-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def test_page_shows_what_comparison_json_says(tmp_path, two_runs):
    """Every leaderboard value and interval, every difference, interval, p-value and verdict, and every
    per-category figure in compare.html is the comparison.json figure, formatted."""
    a, b = two_runs
    compare(_cfg(a, b, report=tmp_path / "cmp"))
    comparison = json.loads((tmp_path / "cmp" / "comparison.json").read_text())
    parser = _Tables()
    parser.feed((tmp_path / "cmp" / "compare.html").read_text())
    heads = [comparison["rank_by"], *(n for n in HEADLINE if n != comparison["rank_by"])]
    board = parser.tables["leaderboard"][1:]
    assert len(board) == len(comparison["leaderboard"])
    for cells, row in zip(board, comparison["leaderboard"], strict=True):
        assert cells[0] == ("ceiling" if row["role"] == "ceiling" else str(row["rank"]))
        assert cells[1].startswith(row["name"])
        for text, name in zip(cells[2:], heads, strict=True):
            fmt, cell = METRICS_BY_NAME[name].fmt, row["metrics"][name]
            mark = {"better": "▲", "worse": "▼"}.get(cell["verdict"] or "", "")
            assert text == f"{format_value(cell['value'], fmt)}{mark}{format_ci(cell['ci95'], fmt)}", (
                name,
                text,
            )
    diffs = parser.tables["differences"]
    assert diffs[0][1:] == [f"{c['system']} − {comparison['reference']}" for c in comparison["comparisons"]]
    for cells, metric in zip(diffs[1:], comparison["metrics"], strict=True):
        for text, c in zip(cells[1:], comparison["comparisons"], strict=True):
            d = next(m for m in c["metrics"] if m["metric"] == metric["name"])
            test = " McNemar" if d["test"] == "McNemar exact" else ""
            fmt = metric["fmt"]
            expected = (
                f"{format_delta(d['difference'], fmt)}{format_delta_ci(d['ci95'], fmt)}"
                f"p {format_p(d['p_value'])}{test} · Holm {format_p(d['p_holm'])}{d['verdict']}"
            )
            assert text == expected, (metric["name"], c["system"])
    cats = parser.tables["categories"][1:]
    per_cat = {c["system"]: {r["category"]: r for r in c["per_category"]} for c in comparison["comparisons"]}
    assert sorted(cells[0] for cells in cats) == sorted(per_cat["run-b"])
    for cells in cats:
        for text, c in zip(cells[3:], comparison["comparisons"], strict=True):
            r = per_cat[c["system"]][cells[0]]
            assert cells[2] == format_value(r["reference_value"], "pct")
            assert text == (
                f"{format_value(r['value'], 'pct')} {format_delta(r['difference'], 'pct')}"
                f"{format_delta_ci(r['ci95'], 'pct')}{r['only_system']} / {r['only_reference']} · "
                f"p {format_p(r['p_value'])} · Holm {format_p(r['p_holm'])}{r['verdict']}"
            )
