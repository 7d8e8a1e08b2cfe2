"""Which drawn silhouette a fitted category gets: the noun's built-in shape, else keyword rules over its
category names in several languages, with kids' variants and a plain fallback."""

from __future__ import annotations

import re

from contracts.dataset.schema import NOT_AVAILABLE

FALLBACK_SILHOUETTE = "gift_box"  # a plain box: honest about not knowing the shape


# Keyword rules: the first silhouette whose keyword starts a word of the text wins. Texts are tried in the
# order category3, noun, category2, category1. Keywords cover English, French, Italian, German and Spanish.
SILHOUETTE_KEYWORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("trench", ("trench",)),
    ("puffer", ("puffer", "doudoune", "piumin", "daunen", "plumífero", "plumas")),
    ("quilted_jacket", ("quilted", "matelass", "trapuntat", "stepp", "acolchad")),
    ("cape", ("cape", "capes", "poncho", "mantell", "capa")),
    ("blazer", ("blazer", "tailor", "tailleur", "sartorial", "costume", "anzug", "traje")),
    ("trench", ("coat", "manteau", "cappott", "mantel", "abrigo")),
    ("field_jacket", ("jacket", "veste", "giacc", "giubb", "jacke", "chaqueta", "blouson", "outerwear")),
    ("backpack", ("backpack", "sac à dos", "zaino", "rucksack", "mochila")),
    ("crossbody", ("crossbody", "bandoulière", "tracolla", "umhänge", "messenger", "bandolera")),
    ("tote", ("tote", "cabas", "shopper")),
    ("bucket_bag", ("bucket bag", "sac seau", "secchiello")),
    ("shoulder_bag", ("shoulder", "épaule", "spalla", "bag", "sac", "borse", "borsa", "tasche", "taschen")),
    ("shoulder_bag", ("bolso", "bolsos", "clutch", "pochette")),
    ("sneaker", ("sneaker", "baskets", "trainer", "tennis", "zapatilla")),
    ("boot", ("boot", "botte", "bottine", "stival", "stiefel", "bota")),
    ("pump", ("pump", "escarpin", "décolleté", "heel", "sandal", "sandale", "sandali", "tacón")),
    ("loafer", ("loafer", "mocassin", "derby", "shoe", "chaussure", "scarpe", "schuhe", "zapato")),
    ("bucket_hat", ("bucket hat", "bob")),
    ("gloves", ("glove", "gant", "guant", "handschuh")),
    ("cap", ("cap", "casquette", "cappell", "hat", "chapeau", "mütze", "beanie", "bonnet", "gorra")),
    ("belt", ("belt", "ceinture", "cintur", "gürtel")),
    ("sunglasses", ("sunglass", "eyewear", "optical", "lunette", "occhial", "brille", "gafas")),
    ("key_charm", ("charm", "key", "porte-clé", "portachiavi", "llavero", "bag accessor")),
    ("card_case", ("card", "porte-carte", "porta carte", "kartenetui", "tarjetero")),
    (
        "wallet",
        ("wallet", "portefeuille", "portafoglio", "geldbörse", "billetera", "cartera", "small leather"),
    ),
    ("wallet", ("petite maroquinerie", "piccola pelletteria", "marroquinería")),
    ("silk_scarf", ("silk scarf", "square scarf", "carré", "foulard")),
    ("scarf", ("scarf", "scarves", "écharpe", "echarpe", "sciarp", "schal", "bufanda", "stole")),
    (
        "necklace",
        ("necklace", "jewel", "bijou", "gioiell", "schmuck", "joya", "collier", "bracelet", "earring"),
    ),
    ("perfume", ("fragrance", "parfum", "perfume", "profum", "eau de", "duft")),
    (
        "lipstick",
        ("lipstick", "make-up", "makeup", "maquillage", "trucco", "lip", "beauty", "beauté", "bellezza"),
    ),
    ("blanket", ("blanket", "cushion", "home", "plaid", "couverture", "coperta", "maison", "decke")),
    ("gift_box", ("gift", "coffret", "regalo", "geschenk")),
    ("onesie", ("all-in-one", "bodysuit", "onesie", "grenouill", "tutina", "pelele")),
    ("hoodie", ("hoodie", "sweatshirt", "sweat", "felpa", "sudadera")),
    ("polo", ("polo",)),
    ("tshirt", ("t-shirt", "tee", "t shirt", "camiseta")),
    ("sweater", ("knit", "sweater", "cardigan", "maille", "pull", "maglia", "maglion", "strick", "jersey")),
    ("shirt", ("shirt", "chemise", "camicia", "hemd", "camisa", "top", "blouse", "blusa")),
    ("trousers", ("trouser", "pant", "pantalon", "pantalone", "hose", "short", "jean", "denim")),
    ("dress", ("dress", "robe", "abito", "abiti", "kleid", "vestido")),
    ("skirt", ("skirt", "jupe", "gonna", "falda")),
    ("swim_shorts", ("swim short", "short de bain")),
    ("swimsuit", ("swim", "maillot", "bagno", "bade", "baño", "bikini")),
)


KIDS_WORDS = ("kid", "child", "enfant", "bambin", "kinder", "niñ", "infant", "baby", "bébé", "girl", "boy")


KIDS_SHAPES = {
    "sneaker": "kids_sneaker",
    "dress": "kids_dress",
    "shirt": "kids_top",
    "tshirt": "kids_top",
    "polo": "kids_top",
    "hoodie": "kids_top",
    "sweater": "kids_top",
    "trench": "duffle",
    "field_jacket": "duffle",
    "puffer": "duffle",
    "quilted_jacket": "duffle",
}


def _words_start(text: str, keyword: str) -> bool:
    return re.search(r"(?<![^\W_])" + re.escape(keyword), text.lower()) is not None


def for_kids(shape: str, category1: str) -> str:
    return KIDS_SHAPES.get(shape, shape) if any(_words_start(category1, k) for k in KIDS_WORDS) else shape


def silhouette_for(category1: str, category2: str, category3: str, noun: str) -> tuple[str, str]:
    """The drawn shape for a product type, and which text decided it (``fallback`` when none did)."""
    texts = [("category3", category3), ("noun", noun), ("category2", category2), ("category1", category1)]
    for source, text in texts:
        if not text or text == NOT_AVAILABLE:
            continue
        for shape, keywords in SILHOUETTE_KEYWORDS:
            if any(_words_start(text, k) for k in keywords):
                return for_kids(shape, category1), source
    return FALLBACK_SILHOUETTE, "fallback"
