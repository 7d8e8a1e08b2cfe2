"""CatalogueProfile: built-in profile, JSON round trip, validation errors naming the problem."""

import json

import pytest

from contracts.errors import UserError
from datagen.catalogue.profile import CatalogueProfile, builtin_profile
from datagen.catalogue.shapes import SHAPES, SILHOUETTES


def test_builtin_round_trips_through_json(tmp_path):
    """to_dict/from_dict and save/load give the same profile and fingerprint."""
    p = builtin_profile()
    again = CatalogueProfile.load(p.save(tmp_path / "p.json"))
    assert again == p and again.fingerprint == p.fingerprint
    assert CatalogueProfile.from_dict(p.to_dict()).to_dict() == p.to_dict()


def test_builtin_is_learnable_by_construction():
    """Each silhouette means one category3, one noun and one price shape: the image decides them."""
    p = builtin_profile()
    by_silhouette = {}
    for e in p.taxonomy:
        key = (e.category3, e.noun, e.price, json.dumps(e.options, sort_keys=True), e.title_colour)
        assert by_silhouette.setdefault(e.silhouette, key) == key, e.silhouette
    assert set(by_silhouette) == set(SILHOUETTES)


def test_every_option_has_a_place_to_show():
    """A trim needs trim parts, a belt a waist, a hood a neck: nothing titled goes unseen."""
    p = builtin_profile()
    for e in p.taxonomy:
        shape = SHAPES[e.silhouette]
        roles = {role for role, _ in shape.parts} | {role for role, _, _ in shape.strokes}
        if any(e.options["trim"]):
            assert "trim" in roles, e.silhouette
        kinds = {p.vocabulary["details"][d]["kind"] for d in e.options["detail"] if d}
        if "hooded" in kinds:
            assert shape.neck is not None, e.silhouette
        if "belted" in kinds:
            assert shape.waist is not None, e.silhouette


def test_lines_of_an_entry_look_different():
    """Within an entry, no two line names share an emblem colour (so a few pixels tell them apart)."""
    p = builtin_profile()
    for e in p.taxonomy:
        lines = [p.vocabulary["lines"][name] for name in e.options["line"] if name]
        colours = [line.get("colour") for line in lines]
        assert len(set(colours)) == len(colours), (e.silhouette, colours)


def _broken(**changes):
    data = builtin_profile().to_dict()
    for path, value in changes.items():
        target = data
        keys = path.split(".")
        for k in keys[:-1]:
            target = target[int(k)] if isinstance(target, list) else target[k]
        if value is None:
            del target[keys[-1]]
        else:
            target[keys[-1]] = value
    return data


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"brand": None}, "'brand' is missing"),
        ({"eur_rate": "x"}, "eur_rate must be a number"),
        ({"taxonomy.0.silhouette": "spaceship"}, "'spaceship' is unknown"),
        ({"taxonomy.0.weight": -1}, r"taxonomy\[0\].weight must be > 0"),
        ({"taxonomy.0.price.median": 1e9}, "min <= median <= max"),
        (
            {"taxonomy.0.options.material": {"Unobtainium": 1}},
            "'Unobtainium', which vocabulary.materials lacks",
        ),
        ({"vocabulary.lines.Lola.emblem": "blob"}, "must be one of"),
        ({"vocabulary.materials.Cotton.colours": ["Ultraviolet"]}, "unknown colour 'Ultraviolet'"),
    ],
)
def test_bad_profiles_name_the_problem(changes, match):
    """Every kind of mistake raises a one-line UserError naming where it is."""
    with pytest.raises(UserError, match=match) as info:
        CatalogueProfile.from_dict(_broken(**changes))
    assert "\n" not in str(info.value)


def test_load_errors(tmp_path):
    """A missing file, invalid JSON or a non-object are UserErrors."""
    with pytest.raises(UserError, match="no such profile"):
        CatalogueProfile.load(tmp_path / "nope.json")
    (tmp_path / "bad.json").write_text("{oops")
    with pytest.raises(UserError, match="not valid JSON"):
        CatalogueProfile.load(tmp_path / "bad.json")
    (tmp_path / "list.json").write_text("[]")
    with pytest.raises(UserError, match="JSON object"):
        CatalogueProfile.load(tmp_path / "list.json")
