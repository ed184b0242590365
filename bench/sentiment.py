"""Sentiment: macro-F1 per language (held-out test split and dev split) and messages per second on one core,
each beside two baselines measured in the same run.

Run from the project folder:

    .venv/bin/python -m bench.sentiment [--seconds 3]

Baselines: `majority` always answers the most frequent label of the dev split (the set is balanced, so it
shows what chance looks like: macro-F1 ≈ 0.17); `keywords` counts a handful of obvious words per language
("thanks", "great" against "bad", "rude"…) with no negation, phrases or weights, the naive method a lexicon
must beat. Throughput is measured pinned to one CPU, the analyzer reading every message of every language in
turn for `--seconds`; no database, no worker: the analyzer's own cost.

With `--jobs N` it also measures the label job itself on a throwaway database (BENCH_DATABASE_ADMIN_URL, default
postgresql://postgres@127.0.0.1:5432/test): N messages of the evaluation set asked for with `request_label`
(committed), then the job function `sentiment.label_message` called N times in this process as the worker calls
it (`@tenant_job`: tenant context, row lock, analyzer, update, signal, commit), RQ's own cost per job left out
(see bench/dispatch.py for it).
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
    parser.add_argument("--jobs", type=int, default=0, help="also time N label jobs on a throwaway database")
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
    if args.jobs:
        wall, cpu = jobs_per_second(args.jobs)
        print(f"  label job {wall:>10,.0f}  per wall second (in-process, PostgreSQL on this machine)")
        print(f"  label job {cpu:>10,.0f}  per CPU second of the job's process (PostgreSQL's own CPU not counted)")


def jobs_per_second(count: int) -> tuple[float, float]:
    from sqlalchemy import create_engine, text

    from bench import DEFAULT_ADMIN_URL, migrated_app
    from tests.infra.postgres import test_database

    admin = os.environ.get("BENCH_DATABASE_ADMIN_URL", DEFAULT_ADMIN_URL)
    messages = [(text_, lang) for lang in LANGUAGES for _, _, text_ in load(lang)]
    with test_database(admin) as (owner_url, app_url, _console_url):
        app = migrated_app(owner_url, app_url)
        owner = create_engine(owner_url)
        with owner.begin() as conn:
            tenant = conn.execute(
                text(
                    "INSERT INTO tenants (slug, name, time_zone, country_code, default_locale, supported_locales,"
                    " status) VALUES ('bench', 'Bench', 'Europe/Berlin', 'DE', 'en', '[\"en\"]', 'active')"
                    " RETURNING id"
                )
            ).scalar_one()
        owner.dispose()
        from app.extensions import db
        from app.jobs import registered_job
        from app.sentiment import services
        from app.tenancy import tenant_context

        job = registered_job("sentiment.label_message").function
        with app.app_context():
            with tenant_context(tenant):
                ids = []
                for number in range(count):
                    text_, lang = messages[number % len(messages)]
                    ids.append(services.request_label("chat", number + 1, text_, lang).id)
                db.session.commit()
            started, cpu_started = time.perf_counter(), time.process_time()
            for sentiment_id in ids:
                job(tenant, sentiment_id)
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
            db.session.remove()
            db.engine.dispose()
    return count / elapsed, count / cpu


if __name__ == "__main__":
    main()
