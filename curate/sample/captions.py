"""Alt-texts for the sample pool, as pure functions of (source record, random generator).

Each source writes captions the way its kind of web page does: clip-art galleries use the
artist's title and keywords, emoji sites the CLDR name and tags, shops a product line with
colour, audience and a sales suffix. The defects (boilerplate, non-English, small edits) are
here too. Every function takes a ``random.Random`` so the builder stays deterministic.
"""

from __future__ import annotations

import random
import re

# Fashion-MNIST classes (the dataset's own order: label index = position) with the words
# shops use for them, the garment's plain English name first ("trousers", not the label's
# "Trouser"; curate.io.labelled names the zero-shot classes to match).
FASHION_CLASSES: tuple[str, ...] = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
FASHION_SYNONYMS: tuple[tuple[str, ...], ...] = (
    ("t-shirt", "tee", "top", "t-shirt top"),
    ("trousers", "pants", "slim trousers", "chinos"),
    ("pullover", "sweater", "jumper", "knit pullover"),
    ("dress", "summer dress", "midi dress", "shift dress"),
    ("coat", "jacket", "winter coat", "parka"),
    ("sandals", "sandal", "strappy sandals", "flat sandals"),
    ("shirt", "button-down shirt", "blouse", "casual shirt"),
    ("sneakers", "sneaker", "trainers", "running shoes"),
    ("bag", "handbag", "tote bag", "shoulder bag"),
    ("ankle boots", "ankle boot", "chelsea boots", "booties"),
)
AUDIENCES = ("women", "men", "kids", "girls", "boys", "unisex")
SHOP_SUFFIXES = (
    " - free shipping",
    " | sale",
    " - new season",
    ", size M",
    " - 30% off",
    " | online shop",
    "",
    "",
)
SHOP_NAMES = ("Urban Closet", "ModaHub", "StyleMart", "Outlet24", "Closet & Co")

# Non-English shop captions (hand-written): class words and templates per language.
FASHION_TRANSLATIONS: dict[str, tuple[str, ...]] = {
    "it": ("maglietta", "pantaloni", "maglione", "vestito", "cappotto", "sandali", "camicia",
           "scarpe da ginnastica", "borsa", "stivaletto"),
    "de": ("T-Shirt", "Hose", "Pullover", "Kleid", "Mantel", "Sandalen", "Hemd", "Turnschuhe",
           "Tasche", "Stiefelette"),
    "fr": ("t-shirt", "pantalon", "pull", "robe", "manteau", "sandales", "chemise", "baskets",
           "sac", "bottine"),
    "es": ("camiseta", "pantalones", "jersey", "vestido", "abrigo", "sandalias", "camisa",
           "zapatillas", "bolso", "botín"),
    "pt": ("camiseta", "calças", "suéter", "vestido", "casaco", "sandálias", "camisa", "tênis",
           "bolsa", "bota de cano curto"),
    "nl": ("T-shirt", "broek", "trui", "jurk", "jas", "sandalen", "overhemd", "sneakers", "tas",
           "enkellaars"),
}
FASHION_FOREIGN_TEMPLATES: dict[str, tuple[str, ...]] = {
    "it": ("{x} da donna - spedizione gratuita", "{x} in offerta, nuova collezione"),
    "de": ("{x} für Damen - kostenloser Versand", "{x} im Angebot, neue Kollektion"),
    "fr": ("{x} pour femme - livraison gratuite", "{x} en promotion, nouvelle collection"),
    "es": ("{x} para mujer - envío gratis", "{x} en oferta, nueva colección"),
    "pt": ("{x} feminino - frete grátis", "{x} em promoção, nova coleção"),
    "nl": ("{x} voor dames - gratis verzending", "{x} in de aanbieding, nieuwe collectie"),
}
# Captions of clip-art and icon pages in other languages (not about a particular concept,
# as such captions usually are).
FOREIGN_GENERIC: dict[str, tuple[str, ...]] = {
    "it": ("Immagine gratuita da scaricare", "disegno colorato per bambini",
           "icona divertente per il tuo sito", "clipart gratis di alta qualità"),
    "de": ("Kostenloses Bild zum Herunterladen", "bunte Zeichnung für Kinder",
           "lustiges Symbol für deine Webseite", "hochwertige Cliparts kostenlos"),
    "fr": ("Image gratuite à télécharger", "dessin coloré pour les enfants",
           "icône amusante pour votre site", "cliparts gratuits de haute qualité"),
    "es": ("Imagen gratis para descargar", "dibujo de colores para niños",
           "icono divertido para tu sitio web", "imágenes prediseñadas gratis de alta calidad"),
    "pt": ("Imagem grátis para baixar", "desenho colorido para crianças",
           "ícone divertido para o seu site"),
    "nl": ("Gratis afbeelding om te downloaden", "kleurrijke tekening voor kinderen",
           "grappig pictogram voor je website"),
    "pl": ("Darmowy obrazek do pobrania", "kolorowy rysunek dla dzieci"),
    "ru": ("Бесплатная картинка для скачивания", "цветной рисунок для детей"),
    "ja": ("無料のイラスト素材", "かわいいアイコン素材"),
}

# Alt-texts that say nothing about the image: camera file names, link words, placeholders.
BOILERPLATE_FIXED = (
    "",
    "image",
    "click here",
    "photo",
    "thumbnail",
    "logo",
    "untitled",
    "placeholder",
    "banner",
    "Click to enlarge",
    "No description available",
    "spacer",
)
BOILERPLATE_PATTERNS = ("IMG_{n:04d}.JPG", "DSC{n:05d}.jpg", "image{n}.png", "Product image {k} of 5")


def boilerplate(rng: random.Random) -> str:
    if rng.random() < 0.4:
        pattern = rng.choice(BOILERPLATE_PATTERNS)
        return pattern.format(n=rng.randrange(1, 10000), k=rng.randrange(1, 6))
    return rng.choice(BOILERPLATE_FIXED)


def non_english(rng: random.Random, fashion_label: int | None) -> tuple[str, str]:
    """(caption, ISO language code): a shop line in the class's word for Fashion-MNIST
    items, a generic clip-art page line otherwise."""
    if fashion_label is not None:
        lang = rng.choice(sorted(FASHION_TRANSLATIONS))
        word = FASHION_TRANSLATIONS[lang][fashion_label]
        return rng.choice(FASHION_FOREIGN_TEMPLATES[lang]).format(x=word), lang
    lang = rng.choice(sorted(FOREIGN_GENERIC))
    return rng.choice(FOREIGN_GENERIC[lang]), lang


def shade(mean_foreground: float) -> str:
    """A colour word from the mean brightness of an item's pixels (Fashion-MNIST is grey
    scale: light pixels are the garment), as shops name what they see."""
    if mean_foreground < 90:
        return "black"
    if mean_foreground < 150:
        return "grey"
    if mean_foreground < 200:
        return "light grey"
    return "white"


def fashion_caption(label: int, mean_foreground: float, rng: random.Random) -> str:
    """A shop's alt-text that names the class, e.g. "black ankle boots for women - free
    shipping"."""
    name = rng.choice(FASHION_SYNONYMS[label])
    colour = shade(mean_foreground)
    audience = rng.choice(AUDIENCES)
    suffix = rng.choice(SHOP_SUFFIXES)
    template = rng.randrange(5)
    if template == 0:
        text = f"{colour} {name} for {audience}{suffix}"
    elif template == 1:
        text = f"{audience}'s {name} {colour}{suffix}"
    elif template == 2:
        text = f"Buy {colour} {name} online | {rng.choice(SHOP_NAMES)}"
    elif template == 3:
        text = f"{name.capitalize()} - {colour} - {audience}{suffix}"
    else:
        text = f"{rng.choice(SHOP_NAMES)} {colour} {name}"
    return text


DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def digit_caption(digit: int, rng: random.Random) -> str:
    """A handwriting dataset or tutorial page's alt-text for a scanned digit, e.g.
    "handwritten digit 7" or "the number seven written by hand (7)"."""
    word = DIGIT_WORDS[digit]
    template = rng.randrange(5)
    if template == 0:
        return f"handwritten digit {digit}"
    if template == 1:
        return f"the number {word} written by hand ({digit})"
    if template == 2:
        return f"scan of a handwritten {digit}"
    if template == 3:
        return f"{digit} - handwritten numeral {word}"
    return f"digit {digit} handwriting sample"


def clipart_caption(title: str, keywords: list[str], description: str, rng: random.Random) -> str:
    """A gallery's alt-text from the SVG's own RDF metadata, kept as noisy as it is."""
    title = " ".join(title.split())
    description = " ".join(description.split())
    kws = [" ".join(k.split()) for k in keywords if k and k.strip()]
    choice = rng.randrange(5)
    if choice == 0 or not (kws or description):
        return title
    if choice == 1 and kws:
        return f"{title} - {', '.join(kws[:4])}"
    if choice == 2 and description:
        return f"{title}: {description}"[:300]
    if choice == 3:
        return f"{title} clip art"
    return f"free {kws[0] if kws else 'clipart'} clipart {title}".strip()


def emoji_caption(label: str, tags: list[str], short_name: str, vendor: str, rng: random.Random) -> str:
    """An emoji site's alt-text: CLDR name, tags, short name, vendor."""
    style = {"google": "Noto", "twitter": "Twemoji"}.get(vendor, vendor)
    choice = rng.randrange(5)
    if choice == 0:
        return f"{label} emoji"
    if choice == 1:
        return f"{label} emoji ({style})"
    if choice == 2 and tags:
        return f"{label} icon - {', '.join(tags[:3])}"
    if choice == 3:
        return f":{short_name}: {label}"
    return label[:1].upper() + label[1:]


def openmoji_caption(annotation: str, tags: list[str], rng: random.Random) -> str:
    choice = rng.randrange(4)
    if choice == 0:
        return f"{annotation} openmoji"
    if choice == 1:
        return f"{annotation} - open source emoji icon"
    if choice == 2 and tags:
        return f"{annotation} icon, {', '.join(tags[:3])}"
    return f"{annotation} vector icon"


_WORD = re.compile(r"\w+")


def near_duplicate(text: str, rng: random.Random) -> str:
    """A small edit of `text` (what re-posted alt-texts look like): a typo, a dropped or
    added word, a changed suffix. Never returns `text` itself."""
    words = text.split()
    for _ in range(5):
        kind = rng.randrange(5)
        if kind == 0:  # swap two adjacent letters inside a word of 4+ letters
            long = [i for i, w in enumerate(words) if len(w) >= 4 and w.isalpha()]
            if long:
                i = rng.choice(long)
                w = words[i]
                j = rng.randrange(1, len(w) - 2)
                words = words[:i] + [w[:j] + w[j + 1] + w[j] + w[j + 2 :]] + words[i + 1 :]
        elif kind == 1 and len(words) > 3:  # drop a word
            i = rng.randrange(len(words))
            words = words[:i] + words[i + 1 :]
        elif kind == 2:
            words = words + [rng.choice(("new", "hd", "free", "2024", "(1)", "- copy"))]
        elif kind == 3:
            words = [rng.choice(("Cute", "Best", "Download", "The"))] + words
        else:
            words = [w.lower() for w in words] + ["!"]
        edited = " ".join(words)
        if edited != text:
            return edited
    return text + " (copy)"


def text_key(text: str | None) -> str | None:
    """What counts as the same text for duplicate groups: case and spacing folded."""
    if text is None:
        return None
    return " ".join(text.lower().split())
