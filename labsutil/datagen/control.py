"""A general-knowledge control set (well-known facts, arithmetic, science) to detect forgetting."""
from __future__ import annotations

import random

# (question, answer, three distractors)
GEOGRAPHY = [
    ("What is the capital of France?", "Paris", ["Berlin", "Madrid", "Rome"]),
    ("What is the capital of Japan?", "Tokyo", ["Beijing", "Seoul", "Bangkok"]),
    ("What is the capital of Italy?", "Rome", ["Paris", "Madrid", "Athens"]),
    ("What is the capital of Germany?", "Berlin", ["Vienna", "Zurich", "Prague"]),
    ("What is the capital of Spain?", "Madrid", ["Lisbon", "Rome", "Athens"]),
    ("What is the capital of the United Kingdom?", "London", ["Dublin", "Paris", "Oslo"]),
    ("What is the capital of Russia?", "Moscow", ["Kyiv", "Warsaw", "Minsk"]),
    ("What is the capital of Egypt?", "Cairo", ["Nairobi", "Tunis", "Baghdad"]),
    ("What is the capital of China?", "Beijing", ["Tokyo", "Seoul", "Hanoi"]),
    ("What is the capital of Canada?", "Ottawa", ["Toronto", "Vancouver", "Montreal"]),
    ("What is the capital of Australia?", "Canberra", ["Sydney", "Melbourne", "Perth"]),
    ("What is the largest ocean on Earth?", "the Pacific Ocean", ["the Atlantic Ocean", "the Indian Ocean", "the Arctic Ocean"]),
    ("What is the longest river in Africa?", "the Nile", ["the Congo", "the Niger", "the Zambezi"]),
    ("On which continent is Brazil?", "South America", ["Africa", "Asia", "Europe"]),
    ("On which continent is Kenya?", "Africa", ["South America", "Asia", "Europe"]),
    ("What is the tallest mountain in the world?", "Mount Everest", ["Mont Blanc", "Mount Kilimanjaro", "Mount Fuji"]),
    ("In which country are the pyramids of Giza?", "Egypt", ["Mexico", "Peru", "India"]),
    ("In which country is the Eiffel Tower?", "France", ["Italy", "Spain", "Germany"]),
    ("What is the currency of Japan?", "the yen", ["the won", "the yuan", "the rupee"]),
    ("What is the currency of the United States?", "the dollar", ["the euro", "the pound", "the peso"]),
    ("What language is mainly spoken in Brazil?", "Portuguese", ["Spanish", "English", "French"]),
    ("What language is mainly spoken in Mexico?", "Spanish", ["Portuguese", "English", "French"]),
    ("What is the largest hot desert in the world?", "the Sahara", ["the Gobi", "the Kalahari", "the Atacama"]),
    ("Which country is home to the kangaroo?", "Australia", ["Brazil", "India", "Canada"]),
    ("In which city is the Statue of Liberty?", "New York", ["Boston", "Chicago", "Los Angeles"]),
]
SCIENCE = [
    ("What gas do plants absorb from the air for photosynthesis?", "carbon dioxide", ["oxygen", "helium", "hydrogen"]),
    ("What is the chemical formula of water?", "H2O", ["CO2", "O2", "NaCl"]),
    ("What is the chemical symbol for gold?", "Au", ["Ag", "Fe", "Cu"]),
    ("How many legs does a spider have?", "eight", ["six", "ten", "four"]),
    ("How many legs does an insect have?", "six", ["eight", "four", "ten"]),
    ("Which planet is known as the Red Planet?", "Mars", ["Venus", "Jupiter", "Saturn"]),
    ("What is the largest planet in the solar system?", "Jupiter", ["Mercury", "Earth", "Mars"]),
    ("What is the star at the centre of our solar system?", "the Sun", ["Sirius", "Polaris", "Vega"]),
    ("At what temperature in degrees Celsius does water boil at sea level?", "100 degrees", ["50 degrees", "20 degrees", "200 degrees"]),
    ("At what temperature in degrees Celsius does water freeze?", "0 degrees", ["20 degrees", "50 degrees", "100 degrees"]),
    ("Which organ pumps blood through the body?", "the heart", ["the liver", "the stomach", "the kidneys"]),
    ("What do bees make?", "honey", ["milk", "wool", "cotton"]),
    ("What force pulls objects toward the ground?", "gravity", ["magnetism", "friction", "electricity"]),
    ("What is the hardest natural substance?", "diamond", ["gold", "iron", "chalk"]),
    ("Which gas do humans need to breathe to live?", "oxygen", ["helium", "carbon monoxide", "neon"]),
    ("Which part of a plant takes up water from the soil?", "the roots", ["the flowers", "the leaves", "the fruit"]),
    ("Which animal is a mammal?", "the whale", ["the shark", "the trout", "the octopus"]),
    ("What do we call animals that eat only plants?", "herbivores", ["carnivores", "omnivores", "predators"]),
    ("What is the centre of an atom called?", "the nucleus", ["the electron", "the shell", "the photon"]),
    ("Which instrument measures temperature?", "a thermometer", ["a barometer", "a ruler", "a compass"]),
    ("Which planet is closest to the Sun?", "Mercury", ["Neptune", "Jupiter", "Saturn"]),
    ("What is frozen water called?", "ice", ["steam", "sand", "glass"]),
    ("Which planet do we live on?", "Earth", ["Mars", "Venus", "Jupiter"]),
    ("What is the natural satellite of the Earth?", "the Moon", ["the Sun", "Mars", "Venus"]),
    ("Which organ do humans use to breathe?", "the lungs", ["the liver", "the stomach", "the kidneys"]),
]
GENERAL = [
    ("How many days are there in a week?", "7", ["5", "6", "10"]),
    ("How many months are there in a year?", "12", ["10", "11", "13"]),
    ("How many hours are there in a day?", "24", ["12", "20", "30"]),
    ("How many minutes are there in an hour?", "60", ["30", "100", "24"]),
    ("What colour is the sky on a clear day?", "blue", ["green", "red", "brown"]),
    ("What colour are ripe bananas?", "yellow", ["blue", "purple", "black"]),
    ("What is the opposite of hot?", "cold", ["big", "wet", "loud"]),
    ("Which animal says meow?", "a cat", ["a dog", "a cow", "a duck"]),
    ("Which animal barks?", "a dog", ["a cat", "a fish", "a bird"]),
    ("Who wrote Romeo and Juliet?", "William Shakespeare", ["Charles Dickens", "Mark Twain", "Jane Austen"]),
    ("Who painted the Mona Lisa?", "Leonardo da Vinci", ["Pablo Picasso", "Vincent van Gogh", "Claude Monet"]),
    ("What is the first letter of the English alphabet?", "A", ["B", "Z", "M"]),
    ("How many sides does a triangle have?", "3", ["4", "5", "6"]),
    ("How many sides does a square have?", "4", ["3", "5", "6"]),
    ("Which shape has no corners?", "a circle", ["a square", "a triangle", "a rectangle"]),
    ("Which season comes after winter?", "spring", ["summer", "autumn", "monsoon"]),
    ("Which meal is eaten in the morning?", "breakfast", ["dinner", "supper", "dessert"]),
    ("What is the largest land animal?", "the elephant", ["the horse", "the dog", "the rabbit"]),
    ("What colour is grass?", "green", ["blue", "red", "purple"]),
    ("How many continents are there on Earth?", "7", ["4", "9", "12"]),
    ("Who was the first person to walk on the Moon?", "Neil Armstrong", ["Christopher Columbus", "Isaac Newton", "Albert Einstein"]),
    ("How many players are on the field for one football (soccer) team?", "11", ["5", "7", "15"]),
    ("How many days are there in a normal year?", "365", ["300", "350", "400"]),
    ("What do you call a baby dog?", "a puppy", ["a kitten", "a calf", "a foal"]),
    ("What do you call a baby cat?", "a kitten", ["a puppy", "a calf", "a lamb"]),
]


def _arithmetic(rng: random.Random, n: int = 25) -> list[tuple[str, str, list[str]]]:
    out = []
    seen: set[str] = set()
    while len(out) < n:
        op = ["+", "+", "-", "x"][len(out) % 4]
        if op == "+":
            a, b = rng.randint(1, 20), rng.randint(1, 20)
            value, text = a + b, f"What is {a} plus {b}?"
        elif op == "-":
            a = rng.randint(5, 30)
            b = rng.randint(1, a - 1)
            value, text = a - b, f"What is {a} minus {b}?"
        else:
            a, b = rng.randint(2, 9), rng.randint(2, 9)
            value, text = a * b, f"What is {a} times {b}?"
        if text in seen:
            continue
        seen.add(text)
        wrong = [v for v in (value - 2, value - 1, value + 1, value + 2, value + 10) if v > 0 and v != value]
        rng.shuffle(wrong)
        out.append((text, str(value), [str(v) for v in wrong[:3]]))
    return out


def build_control(rng: random.Random) -> list[dict]:
    rows = []
    sets = [("geography", GEOGRAPHY), ("science", SCIENCE), ("arithmetic", _arithmetic(rng)),
            ("general", GENERAL)]
    for category, items in sets:
        for question, answer, distractors in items:
            choices = [answer, *distractors]
            rng.shuffle(choices)
            rows.append({"qid": f"c{len(rows) + 1:03d}", "question": question, "answer": answer,
                         "choices": choices, "answer_index": choices.index(answer), "category": category})
    return rows


CONTROL_README = """# Control set: general knowledge

`control.jsonl` holds {n} four-option questions ({cats}) that the base model partly knows:
well-known facts, simple arithmetic and science. The course measures accuracy on it
before and after fine-tuning on the fictional contracts dataset: a drop means the
fine-tuning made the model forget general knowledge.

## Schema (one JSON object per line)
- `qid` (str): `c001` ...
- `question` (str)
- `answer` (str): the correct option, equal to `choices[answer_index]`
- `choices` (list of 4 str), `answer_index` (int, 0-3)
- `category` (str): `geography`, `science`, `arithmetic` or `general`

Load it with `labsutil.data.load_control()`.

## Provenance and license
Written by the course authors (questions of common knowledge; the arithmetic items
are generated). The option order is shuffled by the seeded generator
(`python -m labsutil build-data --seed {seed}`), which also writes this file.
License: CC-BY-4.0 (data); the generator code is Apache-2.0.

## Statistics
| category | questions |
|---|---|
{table}
| total | {n} |

## Known limits
- Some questions have more than one defensible phrasing of the answer; they are
  meant for multiple-choice scoring (log-likelihood of each option), not free text.
- A few facts can change over time (e.g. capitals, currencies); they were chosen to be stable.
"""


def control_readme(rows: list[dict], seed: int) -> str:
    cats: dict[str, int] = {}
    for r in rows:
        cats[r["category"]] = cats.get(r["category"], 0) + 1
    table = "\n".join(f"| {c} | {k} |" for c, k in cats.items())
    return CONTROL_README.format(n=len(rows), cats=", ".join(cats), seed=seed, table=table)
