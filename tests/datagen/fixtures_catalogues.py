"""Small DBQ catalogues of other countries, generated in code (never downloaded), for the `datagen fit` tests.

- ``cn_rows``: the Chinese catalogue's form: country ``CHI``, CNY, category1 in English, category2/3 in
  Chinese (``成衣`` / ``浏览全部``, ``包款`` / ``斜背包``, ``N.A.``), English titles, cn.burberry.com URLs;
- ``jp_rows``: the Japanese one: ``JPN``, JPY, Japanese category2/3 (``バッグ`` / ``クロスボディ``);
- ``mixed_rows``: rows of several countries in one table (USA, FRA, ITA, CHI, JPN, KOR), each with its own
  currency, EUR rate, URL host and category language, a few titles in French and Italian;
- ``shifted_rows``: a synthetic set of the built-in profile with every title letter shifted (``Check`` ->
  ``Difdl``) and the URL slugs alike (``benchmarks.fidelity_scores.shifted_table``, which the fidelity
  benchmark shares): titles no built-in vocabulary knows, written with the built-in grammar.

Titles are drawn per category from word lists in Burberry's style, with words the built-in vocabulary lacks
(``Pea Coat``, ``Argyle``, ``Cat-eye Frame``), bare nouns (``Cardigan``), "view all" categories of every
product type, and shade or size codes (``– 40 Light Cool``, ``100ml``). All randomness comes from
``numpy.random.default_rng``: the same seed gives the same rows.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
import zlib

import numpy as np
import pandas as pd

from benchmarks.fidelity_scores import shifted_table

IMAGE_PREFIX = "https://assets.burberry.com/is/image/Burberryltd/"

# country -> (currency, EUR per unit of local currency, URL host)
COUNTRIES = {
    "USA": ("USD", 0.9225, "us"),
    "FRA": ("EUR", 1.0, "fr"),
    "ITA": ("EUR", 1.0, "it"),
    "CHI": ("CNY", 0.12713, "cn"),
    "JPN": ("JPY", 0.006095, "jp"),
    "KOR": ("KRW", 0.000696, "kr"),
}


def _words(text: str) -> list[str]:
    """Choices of one title slot, ``|``-separated; an empty choice is "no word"."""
    return [w.strip() for w in text.split("|")]


# Product types: title word lists per slot, in title order. The modifiers sit between material and noun.
_MOD = "||||Reversible|Oversized|Relaxed Fit|Slim Fit|Padded|Ribbed|Embroidered|Logo Appliqué|Contrast|"
_MOD += "Panelled|Technical|Recycled|Fringed|Quilted|Topstitched|Collarless|Double-breasted|Zip-front|Striped"
_TYPES = {
    "coat": {
        "size": "||Long|Short",
        "pattern": "||Check|Vintage Check",
        "material": "Wool|Cashmere|Wool Cashmere|Cotton Gabardine|Bouclé|Tweed",
        "detail": _MOD,
        "noun": "Pea Coat|Car Coat|Wrap Coat|Coat|Duffle Coat|Cape|Poncho|Overcoat",
    },
    "puffer": {
        "size": "|Cropped",
        "material": "|Nylon|Down|Recycled Nylon",
        "detail": "|Belted|Hooded|Detachable Hood",
        "noun": "Puffer Coat|Puffer Jacket|Puffer Gilet|Gilet|Bomber Jacket|Harrington Jacket",
    },
    "trench": {
        "size": "|Long|Short|Mid-length",
        "line": "|Kensington Heritage|Chelsea Heritage|Waterloo Heritage|Camden",
        "material": "Cotton Gabardine|Cotton Gabardine|Silk|Wool|Leather",
        "noun": "Trench Coat|Trench Coat|Parka|Car Coat|Trench Dress|Cropped Trench",
    },
    "dress": {
        "size": "|Midi|Mini|Maxi",
        "pattern": "|Check|Rose Print|Argyle|Floral",
        "material": "Cotton|Silk|Wool|Stretch Cotton|Cotton Piqué|Crepe|Lace",
        "detail": _MOD,
        "noun": "Dress|Shirt Dress|Sweater Dress|Polo Shirt Dress|Jumpsuit|Slip Dress",
    },
    "shirt": {
        "pattern": "|Check|Vintage Check|Camouflage Print|Monogram Motif|Horse Print",
        "material": "Cotton|Silk|Stretch Cotton Twill|Wool Blend|Linen|Poplin",
        "detail": _MOD,
        "noun": "Shirt|Blouse|Overshirt|Bodysuit|Tank Top|Bralette",
    },
    "knit": {
        "line": "|EKD|Logo",
        "pattern": "|Argyle|Check|Rose Jacquard|Fair Isle",
        "material": "Wool|Cashmere|Cotton|Wool Silk|Mohair Blend",
        "detail": _MOD,
        "noun": "Sweater|Cardigan|Roll-neck Sweater|Cardigan|Vest|Tank Top|Sweater Vest",
    },
    "tee": {
        "line": "|EKD|Logo|Horseferry",
        "pattern": "|Monogram Motif|Check",
        "material": "Cotton|Cotton Jersey|Cotton Piqué",
        "noun": "T-shirt|Polo Shirt|Sweatshirt|Hoodie|Track Top|Shorts|Joggers",
    },
    "skirt": {
        "size": "|Mini|Midi",
        "pattern": "|Check|Vintage Check",
        "material": "Wool|Cotton|Silk|Leather",
        "detail": _MOD,
        "noun": "Pleated Skirt|Skirt|Kilt|Shorts|Trousers|Culottes",
    },
    "crossbody": {
        "size": "|Mini|Small|Medium",
        "line": "|Rose|Knight|Note|Lola|Snip|Pocket",
        "material": "|Leather|Suede|Shearling",
        "noun": "Chain Clutch|Clutch|Crossbody Bag|Bag|Pouch|Wristlet|Bum Bag",
    },
    "top handle": {
        "size": "Mini|Small|Medium|Large",
        "line": "Frances|Lola|Knight|TB",
        "material": "||Leather|Suede|Quilted Leather",
        "noun": "Bag|Bowling Bag",
    },
    "sneaker": {
        "pattern": "|House Check|Check|Vintage Check",
        "material": "Leather|Cotton|Suede|Nubuck|Mesh",
        "trim": "||Leather|Suede",
        "noun": "Sneakers|Trainers|Runner Sneakers|Slides|Mules|Loafers|Slippers",
    },
    "boot": {
        "size": "|Ankle|Knee-high",
        "material": "Leather|Nubuck|Suede|Rubber",
        "noun": "Boots|Trek Boots|Chelsea Boots|Rain Boots|Derby Shoes|Ballerinas",
    },
    "eyewear": {
        "size": "|Oversized|Round",
        "detail": "|Vintage Check Detail|Logo Detail",
        "noun": "Cat-eye Frame Sunglasses|Pilot Sunglasses|Square Frame Sunglasses|Optical Frames",
    },
    "scarf": {
        "pattern": "Check|Vintage Check|Giant Check||EKD",
        "material": "Cashmere|Cashmere|Wool|Silk",
        "detail": "||Reversible|Fringed",
        "noun": "Scarf|Scarf|Snood|Stole",
    },
    "silk scarf": {
        "pattern": "Duck Print|Rose Print|Check|Equestrian Knight Print|EKD",
        "material": "Silk|Silk Twill",
        "noun": "Scarf|Square Scarf|Skinny Scarf|Bandana",
    },
    "belt": {
        "line": "TB|B Buckle|Knight",
        "material": "Leather|Grainy Leather|Check and Leather",
        "detail": "|Reversible",
        "noun": "Belt|Belt|Key Ring|Bag Charm",
    },
    "baby": {
        "pattern": "|Check|Check Trim",
        "material": "Cotton|Cotton Jersey|Wool",
        "detail": "|Zip",
        "noun": "Hoodie|Sweatshirt|Cardigan|Baby Gift Set|Romper|Bib",
    },
    "fragrance": {
        "line": "Goddess|Her|Hero|Her Intense|Brit|Her Elixir",
        "material": "Eau de Parfum|Eau de Toilette|Parfum",
        "end": "30ml|50ml|100ml|150ml",
    },
    "make-up": {
        "line": "Ultimate Glow|Beyond Wear|Kisses|Matte Glow|Cashmere",
        "noun": "Foundation|Lipstick|Concealer|Perfecting Concealer|Mascara|Blush",
        "end": "– 40 Light Cool|– 20 Light Warm|– 30 Light Neutral|– Nude Rose|",
    },
    "leather goods": {
        "pattern": "|Check|Vintage Check",
        "material": "Leather|Grainy Leather",
        "noun": "Card Case|Wallet|Continental Wallet|Zip Wallet|Portafoglio|Phone Case|Passport Holder",
    },
}
_SLOT_ORDER = ("size", "line", "pattern", "material", "detail", "trim", "noun", "end")

# (category1, category2, category3, product type or "" for every type, weight, median price in USD);
# the categories are keys of CATEGORY_NAMES.
PRODUCT_TYPES = [
    ("WOMAN", "OUTERWEAR", "COATS", "coat", 3.0, 2890),
    ("WOMAN", "OUTERWEAR", "PUFFERS", "puffer", 2.0, 1990),
    ("WOMAN", "READY-TO-WEAR", "TRENCH COATS", "trench", 3.0, 2490),
    ("WOMAN", "READY-TO-WEAR", "DRESSES", "dress", 2.5, 1890),
    ("WOMAN", "READY-TO-WEAR", "SHIRTS & TOPS", "shirt", 2.0, 890),
    ("WOMAN", "READY-TO-WEAR", "SKIRTS", "skirt", 1.0, 1290),
    ("WOMAN", "READY-TO-WEAR", "CARDIGANS", "knit", 2.0, 1490),
    ("MAN", "READY-TO-WEAR", "KNITWEAR", "knit", 2.0, 1390),
    ("MAN", "READY-TO-WEAR", "POLOS & T-SHIRTS", "tee", 2.0, 590),
    ("WOMAN", "BAGS", "CROSSBODY", "crossbody", 2.5, 2290),
    ("WOMAN", "BAGS", "TOP HANDLE", "top handle", 2.5, 2590),
    ("WOMAN", "SHOES", "SNEAKERS", "sneaker", 2.0, 690),
    ("WOMAN", "SHOES", "BOOTS", "boot", 1.5, 1290),
    ("WOMAN", "ACCESSORIES", "EYEWEAR", "eyewear", 1.5, 390),
    ("KIDS", "ACCESSORIES", "SCARVES", "scarf", 1.0, 420),
    ("MAN", "CASHMERE SCARVES", "N.A.", "scarf", 2.0, 790),
    ("MAN", "SILK SCARVES", "N.A.", "silk scarf", 1.0, 520),
    ("MAN", "ACCESSORIES", "BELTS", "belt", 1.0, 590),
    ("KIDS", "BABY", "KNITWEAR & SWEATSHIRTS", "baby", 1.5, 390),
    ("WOMAN", "BEAUTY", "FRAGRANCE", "fragrance", 1.5, 150),
    ("WOMAN", "BEAUTY", "FACE", "make-up", 1.0, 60),
    ("MAN", "SMALL LEATHER GOODS", "WALLETS & CARD CASES", "leather goods", 1.5, 520),
    ("WOMAN", "NEW IN", "NEW ARRIVALS", "", 3.0, 1290),
    ("WOMAN", "ALL GIFTS", "N.A.", "", 2.0, 890),
    ("WOMAN", "READY-TO-WEAR", "VIEW ALL", "", 3.0, 1490),
]

# Category names as each catalogue spells them: English key | Chinese | Japanese | Korean | French | Italian.
_NAMES = """
OUTERWEAR | 外套 | アウター | 아우터 | VÊTEMENTS D'EXTÉRIEUR | CAPISPALLA
COATS | 大衣 | コート | 코트 | MANTEAUX | CAPPOTTI
PUFFERS | 羽绒服 | ダウン | 패딩 | DOUDOUNES | PIUMINI
READY-TO-WEAR | 成衣 | ウェア | 의류 | PRÊT-À-PORTER | ABBIGLIAMENTO
TRENCH COATS | TRENCH 风衣 | トレンチコート | 트렌치코트 | TRENCHS | TRENCH
DRESSES | 连衣裙 | ドレス&ジャンプスーツ | 드레스 | ROBES | ABITI
SHIRTS & TOPS | 衬衫 · 上衣 | シャツ&トップス | 셔츠 & 탑 | CHEMISES ET HAUTS | CAMICIE E TOP
SKIRTS | 半裙 | スカート | 스커트 | JUPES | GONNE
VIEW ALL | 浏览全部 | すべて見る | 전체 보기 | TOUT VOIR | VEDI TUTTO
CARDIGANS | 开衫 | カーディガン | 카디건 | CARDIGANS | CARDIGAN
KNITWEAR | 针织衫 | ニットウェア | 니트웨어 | MAILLE | MAGLIERIA
POLOS & T-SHIRTS | POLO 衫 · T 恤衫 | ポロシャツ&Tシャツ | 폴로 & 티셔츠 | POLOS ET T-SHIRTS | POLO E T-SHIRT
BAGS | 包款 | バッグ | 가방 | SACS | BORSE
CROSSBODY | 斜背包 | クロスボディ | 크로스바디 | SACS BANDOULIÈRE | BORSE A TRACOLLA
TOP HANDLE | 提柄包 | トップハンドル | 탑 핸들 | SACS À MAIN | BORSE A MANO
SHOES | 鞋款 | シューズ | 신발 | CHAUSSURES | SCARPE
SNEAKERS | 运动鞋 | スニーカー | 스니커즈 | BASKETS | SNEAKER
BOOTS | 靴款 | ブーツ | 부츠 | BOTTES | STIVALI
ACCESSORIES | 配饰 | 小物&アクセサリー | 액세서리 | ACCESSOIRES | ACCESSORI
EYEWEAR | 眼镜 | アイウェア | 아이웨어 | LUNETTES | OCCHIALI
SCARVES | 围巾 | スカーフ | 스카프 | ÉCHARPES | SCIARPE
CASHMERE SCARVES | 羊绒围巾 | カシミア スカーフ | 캐시미어 스카프 | ÉCHARPES CACHEMIRE | SCIARPE CASHMERE
SILK SCARVES | 丝巾 | シルク スカーフ | 실크 스카프 | FOULARDS EN SOIE | FOULARD IN SETA
BELTS | 腰带 | ベルト | 벨트 | CEINTURES | CINTURE
BABY | 婴儿装 | ベビー | 베이비 | BÉBÉ | NEONATO
KNITWEAR & SWEATSHIRTS | 针织衫 · 运动衫 | ニット&スウェット | 니트 & 스웨트 | MAILLE ET SWEATS | MAGLIERIA
BEAUTY | 美妆 | ビューティ | 뷰티 | BEAUTÉ | BEAUTY
FRAGRANCE | 香氛 | フレグランス | 향수 | PARFUMS | FRAGRANZE
FACE | 面部 | フェイス | 페이스 | TEINT | VISO
SMALL LEATHER GOODS | 小皮件 | 財布&小物 | 소형 가죽 제품 | PETITE MAROQUINERIE | PICCOLA PELLETTERIA
WALLETS & CARD CASES | 钱包 · 卡片夹 | 財布&カードケース | 지갑 & 카드 케이스 | PORTE-CARTES | PORTAFOGLI
NEW IN | 全新精品 | 新作 | 신상품 | NOUVEAUTÉS | NOVITÀ
NEW ARRIVALS | 最新上架 | 新着アイテム | 새로운 스타일 | NOUVELLE COLLECTION | NUOVI ARRIVI
ALL GIFTS | 全部礼品 | ギフト | 선물 | CADEAUX | REGALI
WOMAN | WOMAN | WOMAN | WOMAN | FEMME | DONNA
MAN | MAN | MAN | MAN | HOMME | UOMO
KIDS | KIDS | KIDS | KIDS | ENFANT | BAMBINI
"""
CATEGORY_NAMES: dict[str, dict[str, str]] = {country: {} for country in ("CHI", "JPN", "KOR", "FRA", "ITA")}
for _line in _NAMES.strip().splitlines():
    _key, *_local = (part.strip() for part in _line.split("|"))
    for _country, _name in zip(CATEGORY_NAMES, _local, strict=True):
        CATEGORY_NAMES[_country][_key] = _name

# A few titles in the local language, as some European catalogues have them.
_LOCAL_TITLES = {
    "FRA": ["Sac Lola en cuir", "Écharpe en cachemire à motif Check", "Chemise en coton", "Baskets en cuir"],
    "ITA": ["Borsa Lola piccola", "Sciarpa in cashmere con motivo Check", "Portafoglio in pelle"],
}


def slug(title: str) -> str:
    """The URL slug of a title as the catalogues write it: lower-case ASCII words joined by ``-``."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    words = [re.sub(r"[^a-z0-9-]+", "", w) for w in ascii_title.lower().split()]
    return "-".join(w for w in words if w and w != "and")


def _title(kind: str, rng: np.random.Generator) -> str:
    """A title of product type ``kind``: one choice per slot, "and" before a trim; at least 8 characters."""
    words = []
    for slot in _SLOT_ORDER:
        if slot in _TYPES[kind]:
            word = str(rng.choice(_words(_TYPES[kind][slot])))
            words += ["and", word] if slot == "trim" and word and word not in words else [word]
    title = " ".join(w for w in words if w)
    return title if len(title) >= 8 else title + " Set"


def catalogue_rows(country: str, n: int, seed: int = 0, code_base: int = 80_000_000) -> list[dict]:
    """``n`` rows of ``country``'s catalogue: its categories, currency, EUR rate and URLs; seeded."""
    rng = np.random.default_rng([seed, zlib.crc32(country.encode())])
    currency, eur_rate, host = COUNTRIES[country]
    names = CATEGORY_NAMES.get(country, {})
    weights = np.array([t[4] for t in PRODUCT_TYPES])
    typed = [t for t in PRODUCT_TYPES if t[3]]
    codes = code_base + rng.choice(900_000, size=n, replace=False) * 10 + 1
    rows = []
    for i in range(n):
        cat1, cat2, cat3, kind, _, usd = PRODUCT_TYPES[
            int(rng.choice(len(weights), p=weights / weights.sum()))
        ]
        if not kind:  # a "view all" category: any product type
            _, _, _, kind, _, usd = typed[int(rng.integers(len(typed)))]
        title = _title(kind, rng)
        if country in _LOCAL_TITLES and rng.random() < 0.15:
            title = str(rng.choice(_LOCAL_TITLES[country]))
        local = usd * float(np.exp(rng.normal(0.0, 0.3))) * 0.9225 / eur_rate
        step = 100 if local > 2_000 else 10 if local > 200 else 1
        price = float(max(step, round(local / step) * step))
        code = int(codes[i])
        image = "N.A." if rng.random() < 0.01 else IMAGE_PREFIX + str(uuid.UUID(bytes=rng.bytes(16))).upper()
        rows.append(
            {
                "website_name": "Burberry",
                "competence_date": "2023-11-17",
                "country_code": country,
                "currency_code": currency,
                "brand": "BURBERRY",
                "category1_code": names.get(cat1, cat1),
                "category2_code": names.get(cat2, cat2),
                "category3_code": names.get(cat3, cat3),
                "product_code": code,
                "title": title,
                "itemurl": f"https://{host}.burberry.com/{slug(title)}-p{code}",
                "imageurl": image,
                "full_price": price,
                "price": price,
                "full_price_eur": round(price * eur_rate, 2),
                "price_eur": round(price * eur_rate, 2),
                "flg_discount": 0,
            }
        )
    return rows


def cn_rows(n: int, seed: int = 0) -> list[dict]:
    """The Chinese catalogue's form (CHI, CNY, Chinese category2/3, English titles)."""
    return catalogue_rows("CHI", n, seed)


def jp_rows(n: int, seed: int = 0) -> list[dict]:
    """The Japanese catalogue's form (JPN, JPY, Japanese category2/3, English titles)."""
    return catalogue_rows("JPN", n, seed)


def mixed_rows(n: int, seed: int = 0) -> list[dict]:
    """Rows of six countries in one table, each in its own currency and category language."""
    countries = list(COUNTRIES)
    rows: list[dict] = []
    for k, country in enumerate(countries):
        count = n // len(countries) + (k < n % len(countries))
        rows += catalogue_rows(country, count, seed, code_base=30_000_000 + 5_000_000 * k)
    return rows


def synthetic_rows(profile, seed: int, n: int) -> list[dict]:
    """``n`` rows of ``profile`` as `datagen synth` makes them, without rendering images."""
    from datagen.synth.sample import build_row, plan_rows, sample_latent

    plan = plan_rows(profile, seed, n)
    return [build_row(sample_latent(profile, seed, i, plan.attempts[i]), profile) for i in range(n)]


def shifted_rows(n: int, seed: int = 0) -> list[dict]:
    """A synthetic set of the built-in profile with title words and URL slugs letter-shifted."""
    from datagen.catalogue.profile import builtin_profile

    table = pd.DataFrame(synthetic_rows(builtin_profile(), seed, n))
    return shifted_table(table).to_dict("records")
