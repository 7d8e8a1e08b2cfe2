"""Title grammar and URL slugs."""

from datagen.catalogue.profile import builtin_profile
from datagen.synth.titles import build_title
from datagen.synth.urls import item_url, slugify


def _entry(profile, silhouette):
    return next(e for e in profile.taxonomy if e.silhouette == silhouette)


def _attrs(**kw):
    return {
        "size": "",
        "line": "",
        "pattern": "",
        "material": "",
        "trim": "",
        "detail": "",
        "colour": "",
        **kw,
    }


def test_titles_in_catalogue_style():
    """Word order as in the catalogue: size, detail, logo line, pattern, material, trim, model line, noun."""
    p = builtin_profile()
    sneaker = _entry(p, "sneaker")
    assert (
        build_title(
            _attrs(pattern="House Check", material="Cotton", trim="Leather", colour="Archive Beige"),
            sneaker,
            p,
        )
        == "House Check Cotton and Leather Sneakers in Archive Beige"
    )
    bag = _entry(p, "shoulder_bag")
    assert build_title(_attrs(size="Mini", line="Lola", material="Leather", detail="Quilted"), bag, p) == (
        "Mini Quilted Leather Lola Bag"
    )
    perfume = _entry(p, "perfume")
    assert build_title(_attrs(size="100ml", line="Goddess", material="Eau de Parfum"), perfume, p) == (
        "Goddess Eau de Parfum 100ml"
    )
    trench = _entry(p, "trench")
    title = build_title(
        _attrs(size="Long", line="Kensington Heritage", material="Cotton Gabardine", colour="Honey"),
        trench,
        p,
    )
    assert title == "Long Cotton Gabardine Kensington Heritage Trench Coat in Honey"
    jacket = _entry(p, "quilted_jacket")
    assert build_title(_attrs(size="Regular", material="Nylon", colour="Black"), jacket, p) == (
        "Nylon Quilted Jacket in Black"
    )


def test_slug_drops_and_and_punctuation():
    """The item URL slug is the lower-case title joined by '-', without "and"."""
    assert slugify("Check and Leather Card Case") == "check-leather-card-case"
    assert slugify("Cotton T-shirt in Navy") == "cotton-t-shirt-in-navy"
    assert item_url("https://us.burberry.com/", "EKD Wool Cape", 80123456) == (
        "https://us.burberry.com/ekd-wool-cape-p80123456"
    )
