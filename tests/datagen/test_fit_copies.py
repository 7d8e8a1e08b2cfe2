"""A fitted profile keeps its source's titles as salted digests: synthesis redraws them by default and never
emits one under `datagen fit --no-copies`; an entry that could only repeat source titles is widened."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from contracts.errors import UserError
from datagen.catalogue.profile import CatalogueProfile, builtin_profile
from datagen.catalogue.provenance import title_key
from datagen.fit.copies import guard_titles, new_title_share
from datagen.fit.run import fit_source
from datagen.synth.sample import build_row, plan_rows, sample_latent, title_of
from tests.datagen.fixtures_real import dbq_row


def _titles(profile: CatalogueProfile, rows: int, seed: int = 0) -> list[str]:
    plan = plan_rows(profile, seed, rows)
    return [title_of(sample_latent(profile, seed, i, n), profile) for i, n in enumerate(plan.attempts)]


@pytest.fixture(scope="module")
def source() -> pd.DataFrame:
    """400 rows of the built-in catalogue (rows only, no images) plus a product type with a single title."""
    profile = builtin_profile()
    plan = plan_rows(profile, 11, 400)
    rows = [build_row(sample_latent(profile, 11, i, n), profile) for i, n in enumerate(plan.attempts)]
    extra = dbq_row(39_000_001, "USA", "https://img.example/u", "Folding Umbrella", 190.0)
    extra.update(category1_code="WOMAN", category2_code="ACCESSORIES", category3_code="UMBRELLAS")
    return pd.DataFrame([*rows, extra])


def _copied(titles: list[str], table: pd.DataFrame) -> int:
    known = {title_key(t) for t in table["title"]}
    return sum(title_key(t) in known for t in titles)


def test_no_copies_never_emits_a_source_title(source):
    """With --no-copies not one of 800 synthetic titles equals a source title, held-out rows' included."""
    result = fit_source(source, holdout=0.2, seed=0, copies=False)
    assert result.profile.excludes_source_titles
    assert _copied(_titles(result.profile, 800), source) == 0


def test_by_default_source_titles_are_redrawn_where_the_options_allow(source):
    """The guarded profile copies far fewer source titles than the same profile without its digests."""
    guarded = fit_source(source, holdout=0.2, seed=0).profile
    data = guarded.to_dict()
    del data["source_titles"]
    free = CatalogueProfile.from_dict(data)
    n_guarded, n_free = _copied(_titles(guarded, 800), source), _copied(_titles(free, 800), source)
    assert n_free > 40 and n_guarded < n_free / 4


def test_an_entry_that_can_only_repeat_its_source_title_is_widened(source):
    """ "Folding Umbrella" alone makes an umbrella entry that could only copy; it borrows other options."""
    result = fit_source(source, holdout=0.2, seed=0, copies=False)
    assert any("UMBRELLAS" in key for key in result.widened)
    profile = result.profile
    index = next(i for i, e in enumerate(profile.taxonomy) if e.category3 == "UMBRELLAS")
    taken = {title_key(t) for t in source["title"]}
    assert new_title_share(profile, profile.taxonomy[index], taken) >= 0.05


def test_no_copies_fails_in_one_line_when_no_other_title_can_be_written():
    """A catalogue of one product type with one possible title cannot promise no copies."""
    rows = []
    for i in range(6):
        row = dbq_row(31_000_000 + i, "USA", "https://img.example/u", "Trench Coat", 990.0)
        row.update(category1_code="WOMAN", category2_code="OUTERWEAR", category3_code="TRENCH COATS")
        rows.append(row)
    profile = fit_source(pd.DataFrame(rows), holdout=0.2, copies=True).profile
    assert profile.is_source_title("trench  COAT")
    with pytest.raises(UserError, match="--no-copies: the titles of .* can only repeat source titles"):
        guard_titles(profile, ["Trench Coat"], "salt", exclude=True)


def test_the_profile_keeps_digests_not_titles(source):
    """No source title appears in clear in the profile JSON; a case variant of one is still recognised."""
    profile = fit_source(source, holdout=0.2, seed=0).profile
    text = json.dumps(profile.to_dict())
    long_titles = [t for t in source["title"] if len(t) > 25]
    assert long_titles and not any(json.dumps(t)[1:-1] in text for t in long_titles)
    assert profile.is_source_title(long_titles[0].upper())
    assert CatalogueProfile.from_dict(profile.to_dict()).fingerprint == profile.fingerprint


def test_a_malformed_source_titles_key_is_refused():
    data = builtin_profile().to_dict()
    data["source_titles"] = {"salt": "s", "digests": ["not hex"], "exclude": True}
    with pytest.raises(UserError, match="source_titles.digests"):
        CatalogueProfile.from_dict(data)
