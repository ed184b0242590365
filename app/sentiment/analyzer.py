"""Sentiment of one patient message, computed here: a lexicon per language with negation, intensity and contrast.

Pure: no database, no network, no model file; a message is read in microseconds on one core, inside the
worker (figures: docs/benchmarks.md, Sentiment). Why a lexicon and not a trained model: see docs/sentiment.md.

The rules, in the order they apply to a message:
- the language is the one the patient declared (the contact's or chat's language), unless the text plainly is
  in another supported language (its frequent short words say so); a text in none of them is `unknown`,
  labelled neutral with score 0: we do not guess the mood of a language we have no words for;
- texts and word lists are compared lower-cased and without accents ("dziekuje" is "dziękuję");
- word sequences (`phrases`) are read before single words: "not working", "dzień dobry" (0: a greeting);
- a word's valence is multiplied by the intensifiers in the two words before it ("very", "bardzo") and turned
  to −0.75 times itself by a negator in the three words before it within its clause ("not happy" is negative,
  "not bad" mildly positive); punctuation and contrast words end a clause;
- a contrast word ("but", "aber", "pero", "mais", "ale") halves what came before it: the end of "thanks, but
  nobody called back" is what the patient means;
- exclamation marks and words in capitals strengthen what is there;
- the sum is squashed into [−1, 1] (`s / sqrt(s² + 6)`); at or past ±`LABEL_THRESHOLD` it is negative or
  positive, else neutral.
"""

import math
import re
import unicodedata
from dataclasses import dataclass
from functools import cache

from app.sentiment.lexicons import LEXICONS, Lexicon

NEGATIVE, NEUTRAL, POSITIVE = "negative", "neutral", "positive"
LABELS = (NEGATIVE, NEUTRAL, POSITIVE)
UNKNOWN_LANGUAGE = "unknown"
LANGUAGES = tuple(LEXICONS)

# Tuned on the dev split of tests/sentiment/data (never on the held-out split).
LABEL_THRESHOLD = 0.3
_SQUASH = 6.0
_NEGATION_FACTOR = -0.75
_NEGATION_WINDOW = 3
_INTENSIFIER_WINDOW = 2
_CONTRAST_DISCOUNT = 0.5
_CAPITALS_BOOST = 1.3
_LONGEST_PHRASE = 5
# A long e-mail is judged by its beginning: what the patient wrote first, not the quoted thread below it.
MAX_CHARACTERS = 4000

_WORD = re.compile(r"[^\W\d_]+|[.!?;:,]")
_QUOTED_LINE = re.compile(r"^\s*>.*$", re.MULTILINE)
_ENGLISH_NOT = re.compile(r"n['’]t\b", re.IGNORECASE)
_BOUNDARY = frozenset(".!?;:,")
_FOLDED_LETTERS = str.maketrans({"ł": "l", "Ł": "L", "ß": "ss", "’": "'"})


@dataclass(frozen=True)
class Sentiment:
    """A message's label, its score in [−1, 1], and the language it was read in (`unknown`: not read)."""

    label: str
    score: float
    language: str


def fold(text: str) -> str:
    """Lower-cased, without accents: how texts and word lists are compared."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_FOLDED_LETTERS))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


@dataclass(frozen=True)
class _Compiled:
    words: dict[str, float]
    prefixes: dict[str, float]
    prefix_lengths: tuple[int, ...]
    phrases: dict[tuple[str, ...], float]
    phrase_starts: frozenset[str]
    negators: frozenset[str]
    intensifiers: dict[str, float]
    contrasts: frozenset[str]
    function_words: frozenset[str]


@cache
def _compiled(language: str) -> _Compiled:
    lexicon: Lexicon = LEXICONS[language]
    words: dict[str, float] = {}
    prefixes: dict[str, float] = {}
    for entries, sign in ((lexicon.positive, 1.0), (lexicon.negative, -1.0)):
        for entry, weight in entries.items():
            target = prefixes if entry.endswith("*") else words
            target[fold(entry.rstrip("*"))] = sign * weight
    phrases = {tuple(_WORD.findall(fold(p))): v for p, v in lexicon.phrases.items()}
    return _Compiled(
        words=words,
        prefixes=prefixes,
        prefix_lengths=tuple(sorted({len(p) for p in prefixes}, reverse=True)),
        phrases=phrases,
        phrase_starts=frozenset(p[0] for p in phrases),
        negators=frozenset(fold(w) for w in lexicon.negators),
        intensifiers={fold(w): f for w, f in lexicon.intensifiers.items()},
        contrasts=frozenset(fold(w) for w in lexicon.contrasts),
        function_words=frozenset(fold(w) for w in lexicon.function_words),
    )


def analyze(text: str, language: str | None) -> Sentiment:
    """The sentiment of `text`, written by a patient whose declared language is `language` (None: not known).

    Rule: a text in no supported language, or with no words, is neutral with score 0; its language is
    `unknown` when none of the supported ones fits.
    """
    text = _QUOTED_LINE.sub("", text or "")[:MAX_CHARACTERS]
    raw_tokens = _WORD.findall(_ENGLISH_NOT.sub(" not", text))
    tokens = [fold(t) for t in raw_tokens]
    read_in = _language_of(tokens, (language or "").lower()[:2])
    if read_in == UNKNOWN_LANGUAGE:
        return Sentiment(NEUTRAL, 0.0, UNKNOWN_LANGUAGE)
    if read_in != "en":
        # Only English spells its negation inside the verb; elsewhere undo what _ENGLISH_NOT did.
        raw_tokens = _WORD.findall(text)
        tokens = [fold(t) for t in raw_tokens]
    total = _valence(tokens, raw_tokens, _compiled(read_in))
    if total:
        total *= 1 + 0.1 * min(text.count("!"), 3)
    score = round(total / math.sqrt(total * total + _SQUASH), 3)
    if score >= LABEL_THRESHOLD:
        return Sentiment(POSITIVE, score, read_in)
    if score <= -LABEL_THRESHOLD:
        return Sentiment(NEGATIVE, score, read_in)
    return Sentiment(NEUTRAL, score, read_in)


def _language_of(tokens: list[str], declared: str) -> str:
    """The declared language, unless the text's frequent short words plainly belong to another we read."""
    words = [t for t in tokens if t not in _BOUNDARY]
    hits = {lang: sum(1 for w in words if w in _compiled(lang).function_words) for lang in LANGUAGES}
    best = max(hits, key=hits.get)
    if declared in LEXICONS and (hits[declared] >= hits[best] - 1 or hits[best] < 2):
        return declared
    if hits[best] >= 2 or (hits[best] == 1 and len(words) <= 3):
        return best
    if declared in LEXICONS:
        return declared
    # No declared language we read, and the text does not tell: still read it if its words are in a lexicon.
    scored = {lang: sum(1 for w in words if _word_valence(w, _compiled(lang))) for lang in LANGUAGES}
    best = max(scored, key=scored.get)
    return best if scored[best] else UNKNOWN_LANGUAGE


def _word_valence(word: str, lexicon: _Compiled) -> float:
    valence = lexicon.words.get(word)
    if valence is not None:
        return valence
    for length in lexicon.prefix_lengths:
        if length <= len(word):
            valence = lexicon.prefixes.get(word[:length])
            if valence is not None:
                return valence
    return 0.0


def _valence(tokens: list[str], raw_tokens: list[str], lexicon: _Compiled) -> float:
    total = 0.0
    clause_start = 0
    shouting = sum(1 for t in raw_tokens if len(t) > 2 and t.isupper()) * 2 > len(raw_tokens)
    i, n = 0, len(tokens)
    while i < n:
        token = tokens[i]
        if token in _BOUNDARY:
            clause_start = i + 1
            i += 1
            continue
        if token in lexicon.contrasts:
            total *= _CONTRAST_DISCOUNT
            clause_start = i + 1
            i += 1
            continue
        if token in lexicon.phrase_starts:
            matched = _phrase_at(tokens, i, lexicon)
            if matched is not None:
                length, valence = matched
                total += valence * _intensity(tokens, i, clause_start, lexicon)
                i += length
                continue
        valence = _word_valence(token, lexicon)
        if valence:
            valence *= _intensity(tokens, i, clause_start, lexicon)
            window = tokens[max(clause_start, i - _NEGATION_WINDOW) : i]
            if any(w in lexicon.negators for w in window):
                valence *= _NEGATION_FACTOR
            if not shouting and len(raw_tokens[i]) > 2 and raw_tokens[i].isupper():
                valence *= _CAPITALS_BOOST
            total += valence
        i += 1
    return total


def _phrase_at(tokens: list[str], i: int, lexicon: _Compiled) -> tuple[int, float] | None:
    for length in range(min(_LONGEST_PHRASE, len(tokens) - i), 0, -1):
        valence = lexicon.phrases.get(tuple(tokens[i : i + length]))
        if valence is not None:
            return length, valence
    return None


def _intensity(tokens: list[str], i: int, clause_start: int, lexicon: _Compiled) -> float:
    factor = 1.0
    for word in tokens[max(clause_start, i - _INTENSIFIER_WINDOW) : i]:
        factor *= lexicon.intensifiers.get(word, 1.0)
    return factor
