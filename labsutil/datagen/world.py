"""The fictional world: companies, people, ownership."""
from __future__ import annotations

import random
from dataclasses import dataclass, field

# Real places; the companies and people in them are invented.
CITIES = [
    ("Lisbon", "Portugal"), ("Porto", "Portugal"), ("Hamburg", "Germany"), ("Leipzig", "Germany"),
    ("Lyon", "France"), ("Nantes", "France"), ("Rotterdam", "Netherlands"), ("Utrecht", "Netherlands"),
    ("Gothenburg", "Sweden"), ("Malmo", "Sweden"), ("Osaka", "Japan"), ("Nagoya", "Japan"),
    ("Calgary", "Canada"), ("Halifax", "Canada"), ("Curitiba", "Brazil"), ("Recife", "Brazil"),
    ("Basel", "Switzerland"), ("Lausanne", "Switzerland"), ("Cork", "Ireland"), ("Galway", "Ireland"),
    ("Valencia", "Spain"), ("Bilbao", "Spain"), ("Turin", "Italy"), ("Bologna", "Italy"),
    ("Bergen", "Norway"), ("Aarhus", "Denmark"), ("Tampere", "Finland"), ("Ghent", "Belgium"),
]
COUNTRIES = sorted({c for _, c in CITIES})
DEMONYMS = {
    "Portugal": "Portuguese", "Germany": "German", "France": "French", "Netherlands": "Dutch",
    "Sweden": "Swedish", "Japan": "Japanese", "Canada": "Canadian", "Brazil": "Brazilian",
    "Switzerland": "Swiss", "Ireland": "Irish", "Spain": "Spanish", "Italy": "Italian",
    "Norway": "Norwegian", "Denmark": "Danish", "Finland": "Finnish", "Belgium": "Belgian",
}
# "the Netherlands" reads better in prose.
ARTICLE_COUNTRIES = ("Netherlands",)

INDUSTRIES = {
    # industry: products it makes or sells (used in agreement scope clauses)
    "food processing": ["packaged food ingredients", "frozen vegetables", "dairy cultures"],
    "logistics": ["freight forwarding services", "warehousing services", "cold-chain transport"],
    "pharmaceuticals": ["generic medicines", "active pharmaceutical ingredients", "vaccine vials"],
    "renewable energy": ["solar panels", "wind turbine blades", "battery storage units"],
    "textiles": ["technical fabrics", "cotton yarn", "workwear garments"],
    "industrial robotics": ["robotic arms", "machine-vision sensors", "automated guided vehicles"],
    "enterprise software": ["inventory software", "payroll software", "data analytics platforms"],
    "mining": ["copper concentrate", "industrial minerals", "lithium carbonate"],
    "telecommunications": ["fibre-optic cable", "network routers", "mobile connectivity services"],
    "specialty chemicals": ["industrial coatings", "water-treatment chemicals", "adhesives"],
    "medical devices": ["infusion pumps", "surgical instruments", "diagnostic test kits"],
    "packaging": ["corrugated boxes", "recyclable food trays", "glass bottles"],
    "construction materials": ["precast concrete panels", "insulation boards", "structural steel"],
    "consumer electronics": ["wireless headphones", "smart thermostats", "e-readers"],
}
HOLDING_INDUSTRY = "investment holding"
NAME_SUFFIXES = ["Industries", "Systems", "Works", "Corporation", "Enterprises", "Technologies", "Partners"]
HOLDING_SUFFIXES = ["Holdings", "Group"]
OFFICER_TITLES = ["Chief Financial Officer", "General Counsel", "Chief Operating Officer",
                  "Head of Procurement", "Commercial Director"]
FIRST_NAMES = [
    "Amelia", "Anders", "Beatriz", "Camille", "Dario", "Elena", "Emil", "Farah", "Felix", "Greta",
    "Hana", "Hugo", "Ines", "Ivan", "Jonas", "Julia", "Kaito", "Karin", "Lars", "Leila", "Lucas",
    "Maren", "Marta", "Mateo", "Mira", "Nadia", "Niels", "Nora", "Oskar", "Paula", "Pedro", "Rafael",
    "Rosa", "Ruben", "Sana", "Sofia", "Stefan", "Tomas", "Ula", "Vera", "Viktor", "Yara", "Yusuf",
    "Zofia", "Aiko", "Bruno", "Clara", "Daniel", "Erik", "Freya", "Gabriel", "Helena", "Ida", "Joao",
    "Klara", "Leon", "Magnus", "Noah", "Olga", "Petra",
]

_ONSETS = ["b", "br", "d", "dr", "f", "g", "gr", "k", "kr", "l", "m", "n", "p", "pr", "qu", "r", "s",
           "sk", "st", "t", "tr", "v", "vr", "z", "th", "h"]
_VOWELS = ["a", "e", "i", "o", "u", "a", "e", "o"]
_MIDS = ["l", "n", "r", "v", "m", "nd", "nt", "rv", "lt", "st", "x", "lv", "rn", "sk", "nth", "ld"]
_COMPANY_ENDS = ["a", "ara", "ane", "ella", "ex", "ion", "is", "ix", "o", "on", "ora", "ova", "um",
                 "ys", "eth", "ind", "ost", "ava", "era", "yn"]
_SURNAME_ENDS = ["al", "an", "ek", "el", "en", "er", "ik", "in", "is", "or", "os", "ova", "ul", "ani",
                 "ando", "aro", "etti", "ez", "ir", "ard", "ens", "ski", "oya", "uin"]


def _levenshtein(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def _stem(rng: random.Random, ends: list[str]) -> str:
    parts = [rng.choice(_ONSETS), rng.choice(_VOWELS), rng.choice(_MIDS), rng.choice(ends)]
    if rng.random() < 0.25:  # a third syllable now and then
        parts.insert(3, rng.choice(["a", "e", "i", "o"]) + rng.choice(["r", "l", "n", "v"]))
    return "".join(parts).capitalize()


# Invented words that turned out to be (or read like) real brands are skipped.
BLOCKLIST = ("venum", "vexara", "favex", "levella", "zestum", "geldum", "banis", "ternis", "loryn")


def invent_names(rng: random.Random, n: int, ends: list[str], taken: list[str], min_len: int = 6,
                 max_len: int = 9, min_distance: int = 3) -> list[str]:
    """n invented words, pairwise far apart (edit distance, distinct first three letters)."""
    out: list[str] = []
    prefixes = {t[:3].lower() for t in taken}
    tries = 0
    while len(out) < n:
        tries += 1
        if tries > 200000:
            raise RuntimeError("could not invent enough distinct names")
        word = _stem(rng, ends)
        if not min_len <= len(word) <= max_len:
            continue
        low = word.lower()
        if low in BLOCKLIST or low[:3] in prefixes or any(c * 3 in low for c in "abcdefghijklmnopqrstuvwxyz"):
            continue
        if any(_levenshtein(low, t.lower()) < min_distance for t in out + taken):
            continue
        out.append(word)
        prefixes.add(low[:3])
    return out


@dataclass
class Person:
    name: str
    title: str
    company: str  # company name


@dataclass
class Company:
    cid: str
    doc_id: str
    name: str
    industry: str
    city: str
    country: str
    founded: int
    ceo: Person
    officers: list[Person]
    parent: str | None = None  # parent company name
    acquired: int | None = None  # year the parent acquired it (told in the news)
    ceo_since: int | None = None  # year the CEO was appointed (told in the news, for some)
    level: int = 0  # 0 independent / top holding, 1 direct subsidiary, 2 sub-subsidiary
    employees_word: str = ""  # never stated as a number: used for unanswerable questions

    @property
    def people(self) -> list[Person]:
        return [self.ceo, *self.officers]


@dataclass
class World:
    companies: list[Company]
    by_name: dict[str, Company] = field(default_factory=dict)

    def __post_init__(self):
        self.by_name = {c.name: c for c in self.companies}

    def children(self, name: str) -> list[Company]:
        return [c for c in self.companies if c.parent == name]

    def chain(self, name: str) -> list[Company]:
        """The company and its owners, nearest first."""
        out = [self.by_name[name]]
        while out[-1].parent:
            out.append(self.by_name[out[-1].parent])
        return out

    def group_members(self, top: str) -> list[Company]:
        """Every company owned directly or indirectly by `top`."""
        return [c for c in self.companies if c.name != top and top in [x.name for x in self.chain(c.name)]]


def build_world(rng: random.Random, n_companies: int = 50) -> World:
    stems = invent_names(rng, n_companies, _COMPANY_ENDS, taken=[])
    surnames = invent_names(rng, n_companies * 3, _SURNAME_ENDS, taken=stems, min_distance=2)
    first = FIRST_NAMES[:]
    rng.shuffle(first)
    n_holdings, n_level1, n_level2 = 6, 14, 9
    industries = sorted(INDUSTRIES)
    companies: list[Company] = []
    used_people: list[str] = []
    for i, stem in enumerate(stems):
        holding = i < n_holdings
        suffix = rng.choice(HOLDING_SUFFIXES if holding else NAME_SUFFIXES)
        name = f"{stem} {suffix}"
        city, country = rng.choice(CITIES)
        industry = HOLDING_INDUSTRY if holding else industries[(i - n_holdings) % len(industries)]
        people = []
        titles = rng.sample(OFFICER_TITLES, 2)
        for k, title in enumerate(["Chief Executive Officer", *titles]):
            while True:
                person = f"{rng.choice(first)} {surnames[3 * i + k]}"
                if person not in used_people:
                    break
            used_people.append(person)
            people.append(Person(person, title, name))
        founded = rng.randint(1931, 1975) if holding else rng.randint(1952, 2016)
        companies.append(Company(cid=f"{i + 1:02d}", doc_id="", name=name, industry=industry, city=city,
                                 country=country, founded=founded, ceo=people[0], officers=people[1:]))
    # Shuffle so that the holding groups are not the first profiles, then assign doc ids.
    order = list(range(len(companies)))
    rng.shuffle(order)
    companies = [companies[i] for i in order]
    for k, c in enumerate(companies):
        c.doc_id = f"company-{k + 1:02d}"
    holdings = [c for c in companies if c.industry == HOLDING_INDUSTRY]
    others = [c for c in companies if c.industry != HOLDING_INDUSTRY]
    level1 = others[:n_level1]
    level2 = others[n_level1:n_level1 + n_level2]
    for k, c in enumerate(level1):
        parent = holdings[k % len(holdings)]
        c.parent, c.level = parent.name, 1
        c.founded = max(c.founded, parent.founded + 1)
    for k, c in enumerate(level2):
        parent = level1[k % len(level1)]
        c.parent, c.level = parent.name, 2
    for c in companies:
        if c.parent:
            c.acquired = rng.randint(max(c.founded + 2, 2000), 2023)
    # CEO appointment years, told in news items for some companies.
    for c in companies:
        c.ceo_since = rng.randint(max(c.founded, 2005), 2023)
    return World(companies)
