"""Which drawn silhouette a fitted category gets: the noun's built-in shape, else keyword rules over its
category names in several languages, with kids' variants and a plain fallback."""

from __future__ import annotations

import re

from contracts.dataset.schema import NOT_AVAILABLE

FALLBACK_SILHOUETTE = "gift_box"  # a plain box: honest about not knowing the shape


# Keyword rules: the first silhouette whose keyword starts a word of the text wins (a Chinese, Japanese or
# Korean keyword: appears anywhere in it, as those scripts do not space words). Texts are tried in the order
# category3, noun, category2, category1. Keywords cover English, French, Italian, German, Spanish, Chinese,
# Japanese and Korean.
SILHOUETTE_KEYWORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("trench", ("trench",)),
    (
        "puffer",
        ("puffer", "doudoune", "piumin", "daunen", "plumífero", "plumas", "gilet", "羽绒", "ダウン", "패딩"),
    ),
    ("quilted_jacket", ("quilted", "matelass", "trapuntat", "stepp", "acolchad")),
    ("cape", ("cape", "capes", "poncho", "mantell", "capa")),
    ("blazer", ("blazer", "tailor", "tailleur", "sartorial", "costume", "anzug", "traje")),
    ("trench", ("风衣", "トレンチ", "트렌치")),
    ("trench", ("coat", "overcoat", "manteau", "cappott", "mantel", "abrigo", "大衣", "コート", "코트")),
    (
        "field_jacket",
        ("jacket", "veste", "giacc", "giubb", "jacke", "chaqueta", "blouson", "outerwear", "parka"),
    ),
    (
        "field_jacket",
        ("bomber", "harrington", "夹克", "外套", "ジャケット", "アウター", "재킷", "자켓", "아우터"),
    ),
    ("backpack", ("backpack", "sac à dos", "zaino", "rucksack", "mochila")),
    ("crossbody", ("crossbody", "bandoulière", "tracolla", "umhänge", "messenger", "bandolera", "bum bag")),
    ("crossbody", ("斜背", "斜挎", "クロスボディ", "크로스바디")),
    ("tote", ("tote", "cabas", "shopper", "托特", "トート", "토트")),
    ("bucket_bag", ("bucket bag", "sac seau", "secchiello")),
    ("shoulder_bag", ("shoulder", "épaule", "spalla", "bag", "sac", "borse", "borsa", "tasche", "taschen")),
    ("shoulder_bag", ("bolso", "bolsos", "clutch", "pochette", "pouch", "wristlet", "ショルダー", "숄더")),
    (
        "sneaker",
        (
            "sneaker",
            "baskets",
            "trainer",
            "tennis",
            "zapatilla",
            "runner",
            "运动鞋",
            "スニーカー",
            "스니커즈",
        ),
    ),
    ("boot", ("boot", "botte", "bottine", "stival", "stiefel", "bota", "靴", "ブーツ", "부츠")),
    ("pump", ("pump", "escarpin", "décolleté", "heel", "sandal", "sandale", "sandali", "tacón")),
    (
        "loafer",
        ("loafer", "mocassin", "derby", "shoe", "chaussure", "scarpe", "schuhe", "zapato", "mule", "slide"),
    ),
    ("loafer", ("slipper", "ballerina", "鞋", "シューズ", "신발")),
    ("bucket_hat", ("bucket hat", "bob")),
    ("gloves", ("glove", "gant", "guant", "handschuh", "手套", "手袋", "장갑")),
    ("cap", ("cap", "casquette", "cappell", "hat", "chapeau", "mütze", "beanie", "bonnet", "gorra", "帽子")),
    ("cap", ("棒球帽", "渔夫帽", "キャップ", "ハット", "모자")),
    ("belt", ("belt", "ceinture", "cintur", "gürtel", "腰带", "ベルト", "벨트")),
    ("sunglasses", ("sunglass", "eyewear", "optical", "lunette", "occhial", "brille", "gafas", "眼镜")),
    ("sunglasses", ("サングラス", "アイウェア", "선글라스", "아이웨어")),
    (
        "key_charm",
        ("charm", "key", "porte-clé", "portachiavi", "llavero", "bag accessor", "钥匙", "キーリング"),
    ),
    (
        "card_case",
        ("card", "porte-carte", "porta carte", "kartenetui", "tarjetero", "passport", "phone case"),
    ),
    ("card_case", ("卡片", "卡包", "カード", "카드")),
    (
        "wallet",
        ("wallet", "portefeuille", "portafoglio", "geldbörse", "billetera", "cartera", "small leather"),
    ),
    (
        "wallet",
        ("petite maroquinerie", "piccola pelletteria", "marroquinería", "钱包", "皮件", "財布", "지갑"),
    ),
    (
        "silk_scarf",
        ("silk scarf", "square scarf", "carré", "foulard", "bandana", "丝巾", "シルク スカーフ", "실크"),
    ),
    ("scarf", ("scarf", "scarves", "écharpe", "echarpe", "sciarp", "schal", "bufanda", "stole", "snood")),
    ("scarf", ("围巾", "スカーフ", "マフラー", "스카프", "머플러")),
    (
        "necklace",
        ("necklace", "jewel", "bijou", "gioiell", "schmuck", "joya", "collier", "bracelet", "earring"),
    ),
    ("perfume", ("fragrance", "parfum", "perfume", "profum", "eau de", "duft", "香", "フレグランス", "향수")),
    (
        "lipstick",
        ("lipstick", "make-up", "makeup", "maquillage", "trucco", "lip", "beauty", "beauté", "bellezza"),
    ),
    (
        "lipstick",
        ("foundation", "concealer", "mascara", "blush", "美妆", "彩妆", "口红", "面部", "ビューティ"),
    ),
    ("lipstick", ("リップ", "フェイス", "뷰티", "립", "페이스")),
    ("blanket", ("blanket", "cushion", "home", "plaid", "couverture", "coperta", "maison", "decke")),
    ("gift_box", ("gift", "coffret", "regalo", "geschenk", "礼品", "ギフト", "선물")),
    ("onesie", ("all-in-one", "bodysuit", "onesie", "grenouill", "tutina", "pelele", "romper", "bib")),
    (
        "hoodie",
        ("hoodie", "sweatshirt", "sweat", "felpa", "sudadera", "卫衣", "运动衫", "スウェット", "パーカー"),
    ),
    ("hoodie", ("후드", "스웨트")),
    ("polo", ("polo", "ポロ", "폴로")),
    ("tshirt", ("t-shirt", "tee", "t shirt", "camiseta", "恤", "Tシャツ", "티셔츠")),
    (
        "sweater",
        ("knit", "sweater", "cardigan", "maille", "pull", "maglia", "maglion", "strick", "jersey", "vest"),
    ),
    ("sweater", ("针织", "毛衣", "开衫", "ニット", "カーディガン", "니트", "카디건")),
    (
        "shirt",
        ("shirt", "chemise", "camicia", "hemd", "camisa", "top", "blouse", "blusa", "overshirt", "bralette"),
    ),
    ("shirt", ("衬衫", "上衣", "シャツ", "トップス", "셔츠", "탑")),
    ("trousers", ("trouser", "pant", "pantalon", "pantalone", "hose", "short", "jean", "denim", "culottes")),
    ("trousers", ("jogger", "裤", "パンツ", "팬츠", "바지")),
    (
        "dress",
        ("dress", "robe", "abito", "abiti", "kleid", "vestido", "jumpsuit", "连衣裙", "ドレス", "드레스"),
    ),
    ("skirt", ("skirt", "jupe", "gonna", "falda", "kilt", "裙", "スカート", "스커트")),
    ("swim_shorts", ("swim short", "short de bain")),
    ("swimsuit", ("swim", "maillot", "bagno", "bade", "baño", "bikini", "泳", "水着", "수영")),
    ("shoulder_bag", ("包", "バッグ", "ハンドル", "가방", "핸들")),  # bags last: "钱包" is a wallet
    ("onesie", ("婴儿", "ベビー", "베이비")),
)


KIDS_WORDS = ("kid", "child", "enfant", "bambin", "kinder", "niñ", "infant", "baby", "bébé", "girl", "boy")
KIDS_WORDS += ("儿童", "童装", "婴儿", "キッズ", "ベビー", "키즈", "아동", "베이비")


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
    if keyword[0] >= "\u2e80":  # Chinese, Japanese, Korean: no spaces between words
        return keyword.lower() in text.lower()
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
