"""Local benchmarks generated deterministically: ``toy_calls`` and ``toy_math``.

Both have disjoint train and test splits (no test prompt appears in train) drawn from one seeded
generator, so every machine builds the same data without a download. ``toy_calls`` is scored like
BFCL (exactly one JSON call; name and arguments must equal the target), ``toy_math`` like GSM8K
(the number after ``####`` must equal the answer).
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from ptb.tasks.base import Grade, Item, Task

DATA_SEED = 0
TEST_FRACTION = 0.1
"""Share of distinct requests reserved for the test split."""

CITIES = [
    "Paris",
    "Tokyo",
    "Lima",
    "Oslo",
    "Cairo",
    "Delhi",
    "Rome",
    "Berlin",
    "Sydney",
    "Boston",
    "Madrid",
    "Dublin",
    "Nairobi",
    "Seoul",
    "Quito",
    "Vienna",
    "Lagos",
    "Prague",
]
NAMES = [
    "Alice",
    "Bob",
    "Carol",
    "Dan",
    "Erin",
    "Frank",
    "Grace",
    "Heidi",
    "Ivan",
    "Judy",
    "Mallory",
    "Oscar",
    "Peggy",
    "Trent",
    "Victor",
    "Wendy",
]
CURRENCIES = ["USD", "EUR", "JPY", "GBP", "CHF", "INR", "BRL", "CAD"]
LANGUAGES = ["French", "German", "Spanish", "Italian", "Japanese", "Hindi", "Swahili", "Korean"]
WORDS = [
    "hello",
    "thank you",
    "good night",
    "see you soon",
    "where is the station",
    "I am hungry",
    "happy birthday",
    "how much is it",
    "the weather is nice",
    "open the door",
]
SUBJECTS = [
    "budget",
    "meeting notes",
    "holiday plans",
    "invoice",
    "project update",
    "lunch",
    "report draft",
    "weekend trip",
]
SONGS = ["Yellow", "Hey Jude", "Imagine", "Dancing Queen", "Hallelujah", "Respect", "Let It Be"]
ARTISTS = ["Coldplay", "The Beatles", "John Lennon", "ABBA", "Leonard Cohen", "Aretha Franklin"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
SYMBOLS = ["AAPL", "MSFT", "NVDA", "GOOG", "AMZN", "TSLA", "META", "IBM", "ORCL", "INTC"]
AMOUNTS = [1, 2, 3, 5, 10, 20, 50, 100, 200, 500]
RESTAURANTS = ["Luigi's", "Sakura", "The Oak", "Blue Lagoon", "Casa Pepe", "Golden Dragon"]


@dataclass(frozen=True)
class Function:
    name: str
    description: str
    params: dict[str, str]
    """Parameter name → type (``string``, ``integer``, or ``a|b|c`` for an enum)."""
    phrasings: tuple[str, ...]
    sample: Callable[[random.Random], dict[str, Any]]

    def schema(self) -> dict[str, Any]:
        props: dict[str, Any] = {}
        for pname, ptype in self.params.items():
            if "|" in ptype:
                props[pname] = {"type": "string", "enum": ptype.split("|")}
            else:
                props[pname] = {"type": ptype}
        return {"name": self.name, "description": self.description, "parameters": props}


FUNCTIONS: tuple[Function, ...] = (
    Function(
        "get_weather",
        "Current weather in a city",
        {"city": "string", "unit": "celsius|fahrenheit"},
        ("What's the weather in {city} in {unit}?", "Tell me the {city} weather, in {unit}."),
        lambda r: {"city": r.choice(CITIES), "unit": r.choice(["celsius", "fahrenheit"])},
    ),
    Function(
        "convert_currency",
        "Convert an amount between currencies",
        {"amount": "integer", "source": "string", "target": "string"},
        ("Convert {amount} {source} to {target}.", "How much is {amount} {source} in {target}?"),
        lambda r: dict(
            zip(("source", "target"), r.sample(CURRENCIES, 2), strict=True),
            amount=r.choice(AMOUNTS),
        ),
    ),
    Function(
        "set_alarm",
        "Set an alarm",
        {"hour": "integer", "minute": "integer"},
        ("Wake me up at {hour}:{minute:02d}.", "Set an alarm for {hour}:{minute:02d}."),
        lambda r: {"hour": r.randint(5, 12), "minute": r.choice([0, 15, 30, 45])},
    ),
    Function(
        "send_email",
        "Send an email",
        {"to": "string", "subject": "string"},
        ("Email {to} about the {subject}.", "Send {to} an email with subject {subject}."),
        lambda r: {"to": r.choice(NAMES), "subject": r.choice(SUBJECTS)},
    ),
    Function(
        "book_table",
        "Book a restaurant table",
        {"restaurant": "string", "people": "integer"},
        ("Book a table for {people} at {restaurant}.", "Reserve {restaurant} for {people} people."),
        lambda r: {"restaurant": r.choice(RESTAURANTS), "people": r.randint(1, 12)},
    ),
    Function(
        "play_song",
        "Play a song",
        {"title": "string", "artist": "string"},
        ("Play {title} by {artist}.", "Put on {title} from {artist}."),
        lambda r: {"title": r.choice(SONGS), "artist": r.choice(ARTISTS)},
    ),
    Function(
        "add_numbers",
        "Add two integers",
        {"a": "integer", "b": "integer"},
        ("What is {a} plus {b}?", "Add {a} and {b}."),
        lambda r: {"a": r.randint(1, 40), "b": r.randint(1, 40)},
    ),
    Function(
        "translate",
        "Translate text",
        {"text": "string", "language": "string"},
        ("Translate '{text}' into {language}.", "How do you say '{text}' in {language}?"),
        lambda r: {"text": r.choice(WORDS), "language": r.choice(LANGUAGES)},
    ),
    Function(
        "get_stock_price",
        "Latest stock price",
        {"symbol": "string"},
        ("What is {symbol} trading at?", "Get the stock price of {symbol}."),
        lambda r: {"symbol": r.choice(SYMBOLS)},
    ),
    Function(
        "create_event",
        "Create a calendar event",
        {"title": "string", "day": "|".join(DAYS)},
        ("Schedule {title} on {day}.", "Add {title} to my calendar for {day}."),
        lambda r: {"title": r.choice(SUBJECTS), "day": r.choice(DAYS)},
    ),
    Function(
        "search_flights",
        "Search flights",
        {"origin": "string", "destination": "string"},
        ("Find flights from {origin} to {destination}.", "Any flights {origin} to {destination}?"),
        lambda r: dict(zip(("origin", "destination"), r.sample(CITIES, 2), strict=True)),
    ),
    Function(
        "set_timer",
        "Start a countdown timer",
        {"minutes": "integer"},
        ("Set a timer for {minutes} minutes.", "Start a {minutes} minute timer."),
        lambda r: {"minutes": r.choice([*AMOUNTS[:6], 15, 30, 45, 90])},
    ),
)


def is_test_key(key: str, fraction: float = TEST_FRACTION) -> bool:
    """Which side of the split a request belongs to: a stable hash, not the draw order."""
    digest = hashlib.sha256(key.encode()).digest()
    return int.from_bytes(digest[:4], "big") < fraction * 2**32


def _split(
    make: Callable[[random.Random], Item], n_train: int, n_test: int
) -> tuple[list[Item], list[Item]]:
    """Draw items and split them by ``meta["key"]`` (default: the prompt).

    A key belongs to the test side or the train side by its hash, so no test request ever
    appears in training, even with the offered functions reshuffled. Test items are unique by
    key; training items are unique by prompt (a request may recur with other distractors).
    """
    rng = random.Random(DATA_SEED)
    test_keys: set[str] = set()
    train_prompts: set[str] = set()
    train: list[Item] = []
    test: list[Item] = []
    budget = (n_train + n_test) * 50
    while (len(train) < n_train or len(test) < n_test) and budget > 0:
        budget -= 1
        item = make(rng)
        key = str(item.meta.get("key", item.prompt))
        if is_test_key(key):
            if len(test) < n_test and key not in test_keys:
                test_keys.add(key)
                test.append(item)
        elif len(train) < n_train and item.prompt not in train_prompts:
            train_prompts.add(item.prompt)
            train.append(item)
    if len(train) < n_train or len(test) < n_test:
        raise ValueError(f"could only generate {len(train)} train / {len(test)} test items")
    return train, test


class _GeneratedTask(Task):
    def _sizes(self) -> tuple[int, int]:
        return int(self.cfg.size.get("train", 4000)), int(self.cfg.size.get("test", 200))

    @cached_property
    def _splits(self) -> tuple[list[Item], list[Item]]:
        n_train, n_test = self._sizes()
        return _split(self._make, n_train, n_test)

    def _make(self, rng: random.Random) -> Item:
        raise NotImplementedError

    def train_items(self) -> list[Item]:
        return self._splits[0]

    def test_items(self) -> list[Item]:
        return self._splits[1]


class ToyCalls(_GeneratedTask):
    """A request plus 3-5 function schemas → exactly one JSON function call."""

    def _make(self, rng: random.Random) -> Item:
        fn = rng.choice(FUNCTIONS)
        args = fn.sample(rng)
        others = rng.sample([f for f in FUNCTIONS if f is not fn], rng.randint(2, 4))
        offered = [fn, *others]
        rng.shuffle(offered)
        request = rng.choice(fn.phrasings).format(**args)
        tools = "\n".join(json.dumps(f.schema()) for f in offered)
        prompt = (
            f"Functions:\n{tools}\nRequest: {request}\n"
            'Reply with one JSON call: {"name": ..., "arguments": {...}}'
        )
        target = json.dumps({"name": fn.name, "arguments": args})
        return Item(id="", prompt=prompt, target=target, meta={"function": fn.name, "key": request})

    @cached_property
    def _splits(self) -> tuple[list[Item], list[Item]]:
        train, test = super()._splits
        return _numbered(train, "train"), _numbered(test, "test")

    def grade(self, item: Item, output: str) -> Grade:
        call = parse_call(output)
        if call is None:
            return Grade(0.0, None, "no JSON call found")
        expected = json.loads(item.target)
        ok = call.get("name") == expected["name"] and call.get("arguments") == expected["arguments"]
        return Grade(1.0 if ok else 0.0, call, None if ok else "name or arguments differ")


def parse_call(output: str) -> dict[str, Any] | None:
    """The first JSON object in ``output`` with a ``name`` key, or None."""
    decoder = json.JSONDecoder()
    for match in re.finditer(r"\{", output):
        try:
            obj, _ = decoder.raw_decode(output[match.start() :])
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict) and "name" in obj:
            return obj
    return None


MATH_TEMPLATES = (
    ("{name} has {a} apples and buys {b} more. How many apples does {name} have?", "+"),
    ("{name} had {a} stickers and gave away {b}. How many stickers are left?", "-"),
    ("{name} buys {a} boxes with {b} pens each. How many pens is that?", "*"),
    ("A shelf holds {a} books and {name} adds {b}. How many books are on it?", "+"),
    ("{name} reads {a} pages a day for {b} days. How many pages in total?", "*"),
    ("A tank has {a} litres and {b} leak out. How many litres remain?", "-"),
)


class ToyMath(_GeneratedTask):
    """Short arithmetic word problems; the answer follows ``####``."""

    def _make(self, rng: random.Random) -> Item:
        template, op = rng.choice(MATH_TEMPLATES)
        a, b = rng.randint(2, 99), rng.randint(2, 99)
        if op == "-" and b > a:
            a, b = b, a
        if op == "*":
            b = rng.randint(2, 9)
        result = {"+": a + b, "-": a - b, "*": a * b}[op]
        prompt = template.format(name=rng.choice(NAMES), a=a, b=b)
        target = f"{a} {op} {b} = {result}\n#### {result}"
        return Item(id="", prompt=prompt, target=target, meta={"answer": result})

    @cached_property
    def _splits(self) -> tuple[list[Item], list[Item]]:
        train, test = super()._splits
        return _numbered(train, "train"), _numbered(test, "test")

    def grade(self, item: Item, output: str) -> Grade:
        match = re.search(r"####\s*(-?[\d,]+)", output)
        if not match:
            return Grade(0.0, None, "no '#### <number>' found")
        value = int(match.group(1).replace(",", ""))
        expected = int(item.meta["answer"])
        return Grade(1.0 if value == expected else 0.0, value)


def _numbered(items: list[Item], split: str) -> list[Item]:
    return [Item(f"{split}-{i:05d}", it.prompt, it.target, it.meta) for i, it in enumerate(items)]
