"""`datagen compare`: metrics against hand-computed values, SDMetrics wiring, the report and the command."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from contracts.dataset.schema import COLUMNS
from contracts.errors import run_cli
from datagen.cli import group
from datagen.fidelity.compare import compare_tables, schema_diff
from datagen.fidelity.scores import category_shares, ks_complement, sdmetrics_table, title_comparison
from reports.fidelity import render_fidelity
from tests.datagen.fixtures_real import catalogue_rows, write_dataset

# Anything that would make a browser fetch: src/href to http(s) or protocol-relative URLs, CSS url(//…).
_REMOTE = re.compile(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//|url\(\s*["']?\s*(?:https?:)?//""", re.I)


def test_ks_complement_hand_computed():
    """CDFs of [1,2,3] and [1,2,4] differ by at most 1/3 (at 3), so the complement is 2/3."""
    assert ks_complement(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 4.0])) == pytest.approx(2 / 3)
    assert ks_complement(np.array([5.0, 6.0]), np.array([6.0, 5.0])) == 1.0


def test_category_shares_and_tv_complement_hand_computed():
    """Shares A .5/B .5 against A .25/C .75: TV distance = (.25 + .5 + .75) / 2 = .75, complement .25."""
    real = pd.DataFrame({"c": ["A", "B", "A", "B"]})
    synth = pd.DataFrame({"c": ["A", "C", "C", "C"]})
    out = category_shares(real, synth, "c")
    assert out["values"] == ["A", "B", "C"]
    assert out["real"] == [0.5, 0.5, 0.0] and out["synth"] == [0.25, 0.0, 0.75]
    assert out["tv_complement"] == pytest.approx(0.25)


def test_title_vocabulary_coverage_hand_computed():
    """Real words check x2, scarf, wool coat; synth has check and coat: coverage (2 + 1) / 5 = 0.6."""
    real = pd.Series(["Check Scarf", "Check Wool Coat"])
    synth = pd.Series(["Check Coat", "Nylon Cap"])
    vocab = title_comparison(real, synth)["vocabulary"]
    assert vocab["coverage"] == pytest.approx(0.6)
    assert (vocab["real_size"], vocab["synth_size"], vocab["shared"]) == (4, 4, 2)
    assert vocab["jaccard"] == pytest.approx(2 / 6)
    assert vocab["missing_top"][0] == ["scarf", 1] or vocab["missing_top"][0] == ["wool", 1]


def test_schema_diff_scores_missing_and_mistyped_columns():
    """A missing column and a mistyped one cost 2 of 17; the file_name column is listed but not scored."""
    good = {
        name: {"string": "string", "int64": "int64", "float64": "double"}[t] for name, t in COLUMNS.items()
    }
    bad = dict(good, full_price="string")
    del bad["brand"]
    diff = schema_diff(good, bad)
    assert diff["score"] == pytest.approx(15 / 17)
    assert {r["column"] for r in diff["columns"] if not r["match"]} == {"brand", "full_price"}
    assert schema_diff(good, good)["score"] == 1.0


def test_sdmetrics_table_types_columns_from_the_real_data():
    """Ids and URLs are left out, titles scored by length, flg_discount categorical, prices numerical."""
    real = pd.DataFrame(catalogue_rows(0, 40))
    _, synth_t, metadata, not_scored = sdmetrics_table(real, pd.DataFrame(catalogue_rows(1, 30)))
    columns = metadata["tables"]["products"]["columns"]
    assert set(not_scored) == {"product_code", "itemurl", "imageurl", "title"}
    assert columns["title (length)"]["sdtype"] == "numerical" and len(synth_t) == 30
    assert columns["flg_discount"]["sdtype"] == "categorical"
    assert columns["category3_code"]["sdtype"] == "categorical"
    assert columns["full_price"]["sdtype"] == "numerical"


@pytest.mark.slow
def test_identical_tables_score_one_and_a_different_country_scores_lower():
    """A table against itself scores 1 everywhere; another currency and shifted prices score lower."""
    real = pd.DataFrame(catalogue_rows(0, 120))
    same = compare_tables(real, real)
    assert same["overall"]["score"] == pytest.approx(1.0)
    assert same["quality"]["score"] == pytest.approx(1.0)
    other = pd.DataFrame(catalogue_rows(0, 120, country="FRA"))
    other["full_price"] = other["price"] = other["full_price"] * 3
    worse = compare_tables(real, other)
    assert worse["quality"]["score"] < 0.9 and worse["overall"]["score"] < same["overall"]["score"]
    json.dumps(worse)  # the result is plain JSON


@pytest.mark.slow
def test_compare_writes_an_escaped_self_contained_report_and_json(tmp_path, capsys):
    """`datagen compare` writes HTML + JSON; hostile titles are escaped and nothing is fetched remotely."""
    real_rows = catalogue_rows(0, 60)
    real_rows[0]["title"] = '<script>alert("x")</script> & "Scarf"'
    real_rows[1]["category3_code"] = "<b>BOLD</b>"
    real_dir = write_dataset(tmp_path / "real", real_rows)
    synth_dir = write_dataset(tmp_path / "synth", catalogue_rows(1, 50, code_base=31_000_000))
    report = tmp_path / "out" / "fidelity.html"
    run_cli(group, ["compare", str(real_dir), str(synth_dir), "--report", str(report), "--images", "60"])
    out = capsys.readouterr().out
    assert "overall" in out and "fidelity.json" in out
    html = report.read_text()
    assert "<script>" not in html and "&lt;script&gt;" in html and "<b>BOLD</b>" not in html
    assert not _REMOTE.search(html)
    assert html.count('src="data:image/jpeg') == 60 + 50  # every sample image embedded
    data = json.loads((tmp_path / "out" / "fidelity.json").read_text())
    assert 0 <= data["overall"]["score"] <= 1 and data["rows"] == {"real": 60, "synth": 50}
    assert data["quality"]["score"] is not None and data["config"]["images"] == 60


@pytest.mark.slow
def test_render_fidelity_is_deterministic():
    """The same comparison renders to the same bytes (no timestamps, stable SVG)."""
    real = pd.DataFrame(catalogue_rows(0, 30))
    result = compare_tables(real, pd.DataFrame(catalogue_rows(2, 30)))
    result["inputs"] = {"real": "a", "synth": "b"}
    assert render_fidelity(result) == render_fidelity(result)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["REAL", "EMPTY"], "no split folder"),
        (["REAL", "REAL", "--report", "x.txt"], "ending in .html"),
        (["REAL", "MISSING"], "does not exist"),
    ],
)
def test_compare_bad_input_is_one_line_exit_2(tmp_path, capsys, args, needle):
    """A non-dataset dir, a report name that is not .html, a missing path: one line, exit code 2."""
    real = write_dataset(tmp_path / "real", catalogue_rows(0, 10))
    (tmp_path / "empty").mkdir()
    paths = {"REAL": real, "EMPTY": tmp_path / "empty", "MISSING": tmp_path / "missing"}
    argv = ["compare", *[str(paths.get(a, a)) for a in args]]
    if "--report" not in argv:
        argv += ["--report", str(tmp_path / "r.html")]
    with pytest.raises(SystemExit) as exc:
        run_cli(group, argv)
    err = capsys.readouterr().err
    assert exc.value.code == 2 and needle in err and len(err.strip().splitlines()) == 1


def test_a_csv_table_is_typed_as_dbq_columns_like_the_same_rows_as_jsonl(tmp_path):
    """CSV cells are text; compare reads them with the DBQ types, so CSV and JSONL of the same rows agree."""
    from datagen.fidelity.compare import disk_schema

    rows = catalogue_rows(0, 40)
    pd.DataFrame(rows).to_csv(tmp_path / "t.csv", index=False)
    (tmp_path / "t.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    csv_schema, jsonl_schema = disk_schema(tmp_path / "t.csv"), disk_schema(tmp_path / "t.jsonl")
    assert csv_schema["full_price"] == "float64" and csv_schema["product_code"] == "int64"
    assert schema_diff(csv_schema, jsonl_schema)["score"] == 1.0


def test_the_privacy_section_escapes_dataset_text(tmp_path):
    """Titles reaching the privacy and utility section (a broken promise's examples) are escaped."""
    from datagen.fidelity.judge import judge

    real, synth = pd.DataFrame(catalogue_rows(0, 40)), pd.DataFrame(catalogue_rows(1, 40))
    result = compare_tables(real, synth)
    result.update(judge(real, synth, tmp_path))
    result["promise"] = {"text": "no copies", "source_rows": 40, "copied_titles": 1, "kept": False,
                         "examples": ['<script>alert("x")</script>']}  # fmt: skip
    result["inputs"] = {"real": "a", "synth": "b"}
    html = render_fidelity(result)
    assert 'id="privacy-utility"' in html and "Privacy not judged" in html
    assert "<script>" not in html and "&lt;script&gt;" in html
