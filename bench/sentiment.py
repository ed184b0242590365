"""Sentiment: macro-F1 per language (held-out test split and dev split) and messages per second on one core,
each beside two baselines measured in the same run.

Run from the project folder:

    .venv/bin/python -m bench.sentiment [--seconds 3]

Baselines: `majority` always answers the most frequent label of the dev split (the set is balanced, so it
shows what chance looks like: macro-F1 ≈ 0.17); `keywords` counts a handful of obvious words per language
("thanks", "great" against "bad", "rude"…) with no negation, phrases or weights, the naive method a lexicon
must beat. Throughput is measured pinned to one CPU, the analyzer reading every message of every language in
turn for `--seconds`; no database, no worker: the analyzer's own cost (the job around it is measured apart
in docs/benchmarks.md).
"""

import argparse
import csv
import os
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from app.sentiment.analyzer import LABELS, NEGATIVE, NEUTRAL, POSITIVE, analyze, fold

DATA = Path(__file__).resolve().parent.parent / "tests" / "sentiment" / "data"
LANGUAGES = ("en", "de", "es", "fr", "pl")

KEYWORDS = {
    "en": ({"thanks", "thank", "great", "good", "excellent", "happy"}, {"bad", "rude", "terrible", "not", "worst"}),
    "de": ({"danke", "dank", "gut", "super", "toll", "zufrieden"}, {"schlecht", "nicht", "unfreundlich", "leider"}),
    "es": ({"gracias", "bien", "excelente", "genial", "amable"}, {"mal", "no", "nadie", "horrible", "terrible"}),
    "fr": ({"merci", "bien", "super", "excellent", "parfait"}, {"mauvais", "pas", "personne", "nul", "horrible"}),
    "pl": ({"dziekuje", "dobrze", "super", "swietna", "mila"}, {"nie", "zle", "nikt", "skandal", "okropne"}),
}


def load(language: str) -> list[tuple[str, str, str]]:
    """(split, label, text) rows of tests/sentiment/data/<language>.tsv."""
    with (DATA / f"{language}.tsv").open(encoding="utf-8", newline="") as source:
        return [(r["split"], r["label"], r["text"]) for r in csv.DictReader(source, delimiter="\t")]


def macro_f1(gold: list[str], predicted: list[str]) -> float:
    """The mean over the three labels of F1 (a label never predicted nor present counts 0)."""
    scores = []
    for label in LABELS:
        tp = sum(1 for g, p in zip(gold, predicted, strict=True) if g == p == label)
        fp = sum(1 for g, p in zip(gold, predicted, strict=True) if p == label and g != label)
        fn = sum(1 for g, p in zip(gold, predicted, strict=True) if g == label and p != label)
        scores.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return sum(scores) / len(scores)


def keyword_label(text: str, language: str) -> str:
    positive, negative = KEYWORDS[language]
    words = fold(text).replace(",", " ").replace(".", " ").replace("!", " ").split()
    balance = sum(w in positive for w in words) - sum(w in negative for w in words)
    return POSITIVE if balance > 0 else NEGATIVE if balance < 0 else NEUTRAL


def evaluate(language: str, split: str, method: Callable[[str, str], str]) -> float:
    rows = [(label, text) for s, label, text in load(language) if s == split]
    return macro_f1([label for label, _ in rows], [method(text, language) for _, text in rows])


def messages_per_second(method: Callable[[str, str], object], seconds: float) -> float:
    messages = [(text, lang) for lang in LANGUAGES for _, _, text in load(lang)]
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        for text, lang in messages:
            method(text, lang)
        done += len(messages)
    return done / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    methods = {
        "lexicon": lambda text, lang: analyze(text, lang).label,
        "keywords": keyword_label,
    }
    print(f"{'language':<9}{'split':<6}{'n':>5}  {'lexicon':>8}{'keywords':>9}{'majority':>9}")
    for language in LANGUAGES:
        rows = load(language)
        majority = Counter(label for s, label, _ in rows if s == "dev").most_common(1)[0][0]
        methods["majority"] = lambda text, lang, label=majority: label
        for split in ("test", "dev"):
            n = sum(1 for s, _, _ in rows if s == split)
            f1 = {name: evaluate(language, split, method) for name, method in methods.items()}
            print(f"{language:<9}{split:<6}{n:>5}  {f1['lexicon']:>8.3f}{f1['keywords']:>9.3f}{f1['majority']:>9.3f}")
    print()
    print("messages/s on one core:")
    print(f"  lexicon   {messages_per_second(analyze, args.seconds):>10,.0f}")
    print(f"  keywords  {messages_per_second(keyword_label, args.seconds):>10,.0f}")


if __name__ == "__main__":
    main()
