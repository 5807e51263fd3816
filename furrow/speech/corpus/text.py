"""Varied English sentences for the corpus, written here (no copyrighted text).

Templates with slots filled from word lists, chosen so every ARPAbet phone
appears often and the visually important ones (bilabials M/B/P, rounded vowels
UW/OW/AO/W, labiodentals F/V, dental TH/DH, L, wide vowels IY/EY/AE) are
frequent. Statements, questions, exclamations, lists, numbers, times, names.
``sentences(n, seed)`` is deterministic.
"""

from __future__ import annotations

import random

NAMES = (
    "Bob", "Mamie", "Pam", "Maya", "Boris", "Paula", "Milo", "Beth", "Theo", "Vivian", "Fiona",
    "Walter", "Ruth", "Louise", "Judy", "George", "Charlotte", "Shona", "Zoe", "Owen", "Hugo",
    "Yusuf", "Ingrid", "Noah", "Olivia", "Ethan", "Aisha", "Kevin", "Gemma", "Rafael", "Thelma",
)  # fmt: skip
NOUNS = (
    "map", "boat", "moon", "pebble", "bubble", "thumb", "feather", "violin", "valley", "puppy",
    "mirror", "window", "blueberry", "shoe", "rope", "pool", "goose", "yacht", "zebra", "garage",
    "treasure", "cheese", "jungle", "fountain", "wolf", "bottle", "lamp", "pumpkin", "umbrella",
    "marble", "ocean", "thunder", "mouth", "bath", "vase", "fish", "photo", "office", "hammer",
    "ribbon", "bicycle", "oven", "mushroom", "kitchen", "orange", "ship", "judge", "measure",
    "author", "toy", "cloud", "engine", "lemon", "pillow", "wheel", "whistle", "village",
)  # fmt: skip
ADJECTIVES = (
    "blue", "big", "purple", "smooth", "happy", "brave", "polite", "famous", "heavy", "thin",
    "warm", "cool", "bumpy", "broken", "golden", "yellow", "rough", "loud", "fuzzy", "bright",
    "gloomy", "lovely", "vivid", "humble", "shiny", "enormous", "tiny", "wooden", "joyful", "awful",
)  # fmt: skip
VERBS_PAST = (
    "bought", "moved", "painted", "pushed", "found", "threw", "opened", "polished", "borrowed",
    "followed", "measured", "washed", "grabbed", "brought", "fixed", "loved", "bumped", "hummed",
    "mopped", "booked", "thought about", "looked at", "played with", "waved at", "joined", "chose",
)  # fmt: skip
VERBS = (
    "buy", "move", "paint", "push", "find", "throw", "open", "polish", "borrow", "follow",
    "measure", "wash", "grab", "bring", "fix", "love", "bump", "hum", "mop", "book", "choose",
)  # fmt: skip
PLACES = (
    "by the pool", "behind the museum", "on the porch", "near the farm", "in the bathroom",
    "at the zoo", "beneath the bridge", "over the moon", "under the umbrella", "through the woods",
    "beside the fountain", "in the booth", "across the valley", "with my mother", "for both of them",
)  # fmt: skip
TIMES = (
    "this morning", "on Monday", "yesterday", "every Thursday", "before breakfast", "at noon",
    "in February", "tomorrow evening", "last November", "now", "soon", "by seven thirty",
)  # fmt: skip
INTERJECTIONS = ("Oh", "Wow", "Hmm", "Oops", "Well", "Boy", "Hooray", "Phew", "Oh my", "Yes", "No way")
NUMBER_WORDS = (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "thirteen", "fifteen", "twenty", "thirty", "forty", "fifty", "ninety",
    "a hundred", "a thousand",
)  # fmt: skip
PHRASES = (
    "Peter Piper picked a peck of peppers.", "Bobby bought a bubble maker.",
    "Mom made me move the mop.", "Five vivid violets faded.", "Thirty thin thieves thought so.",
    "Luke loves blue balloons.", "Who knew you would move to Peru?", "Old Joe rowed the boat home.",
    "We will walk with Willow.", "Please pass the pepper, Pam.", "The measure of pleasure is leisure.",
    "Judge Church chose cheap juice.", "The quick brown fox jumps over the lazy dog.",
    "Ring the bell when the singing ends.", "Yes, the young yak yawned.", "Hot hay helps horses.",
)  # fmt: skip

TEMPLATES = (
    "{name} {verb_past} the {adj} {noun} {place}.",
    "Did {name} {verb} the {adj} {noun} {time}?",
    "{interj}, the {noun} is {adj}!",
    "{name} and {name2} {verb_past} {num} {adj} {noun}s {time}.",
    "Why would {name} {verb} a {noun} {place}?",
    "The {adj} {noun} was {place}, and {name} {verb_past} it {time}.",
    "Please {verb} the {noun}, {name}.",
    "I think the {noun} {verb_past} the {noun2}.",
    "{interj}! {name} {verb_past} my {adj} {noun}!",
    "There are {num} {noun}s {place}.",
    "Is it true that {name} {verb_past} the {noun}?",
    "My {noun} costs {num} dollars and {num2} cents.",
    "{name}, meet me {place} at {num} o'clock.",
    "{phrase}",
    "{phrase} {name} {verb_past} the {noun}.",
    "How many {noun}s did {name} {verb} {time}?",
    "Maybe the {adj} {noun} belongs to {name}.",
    "We moved the {noun} and the {noun2} {place}.",
    "Could you {verb} the {adj} {noun} for me, {name}?",
    "{num} {adj} {noun}s, {num2} {noun2}s, and a {noun3}.",
)  # fmt: skip


def sentence(rng: random.Random) -> str:
    """One sentence from a random template."""
    template = rng.choice(TEMPLATES)
    fill = {
        "name": rng.choice(NAMES),
        "name2": rng.choice(NAMES),
        "noun": rng.choice(NOUNS),
        "noun2": rng.choice(NOUNS),
        "noun3": rng.choice(NOUNS),
        "adj": rng.choice(ADJECTIVES),
        "verb": rng.choice(VERBS),
        "verb_past": rng.choice(VERBS_PAST),
        "place": rng.choice(PLACES),
        "time": rng.choice(TIMES),
        "interj": rng.choice(INTERJECTIONS),
        "num": rng.choice(NUMBER_WORDS),
        "num2": rng.choice(NUMBER_WORDS),
        "phrase": rng.choice(PHRASES),
    }
    text = template.format(**fill)
    return text[0].upper() + text[1:]


def utterance_text(rng: random.Random) -> str:
    """One to three sentences (mostly one or two), 1-8 s of speech."""
    k = rng.choices((1, 2, 3), weights=(0.5, 0.35, 0.15))[0]
    return " ".join(sentence(rng) for _ in range(k))


def sentences(n: int, seed: int = 0) -> list[str]:
    """``n`` utterance texts, deterministic from ``seed``."""
    rng = random.Random(seed)
    return [utterance_text(rng) for _ in range(n)]
