"""The analyzer on fixed sentences of every interface language, its rules one by one, and the shipped
evaluation set (its shape, and the held-out quality goal of issue 20: macro-F1 ≥ 0.75 per language)."""

import pytest

from app.sentiment.analyzer import NEGATIVE, NEUTRAL, POSITIVE, UNKNOWN_LANGUAGE, analyze
from bench.sentiment import LANGUAGES, evaluate, load, macro_f1
from bench.sentiment_corpus import compose

FIXED = [
    ("en", "Thank you so much, the nurse was wonderful!", POSITIVE),
    ("en", "I have been on hold for an hour and nobody answers. Unacceptable.", NEGATIVE),
    ("en", "Can I move my appointment to Friday?", NEUTRAL),
    ("de", "Vielen Dank für die schnelle und freundliche Hilfe!", POSITIVE),
    ("de", "Die Rechnung ist falsch und niemand ruft zurück. Eine Frechheit.", NEGATIVE),
    ("de", "Guten Tag, ich möchte meinen Termin am Montag verschieben.", NEUTRAL),
    ("es", "Muchas gracias, la doctora fue muy amable.", POSITIVE),
    ("es", "Estoy harta, nadie contesta el teléfono.", NEGATIVE),
    ("es", "Buenos días, necesito una receta nueva.", NEUTRAL),
    ("fr", "Merci beaucoup, l'accueil était parfait.", POSITIVE),
    ("fr", "C'est inadmissible, personne ne répond depuis des heures.", NEGATIVE),
    ("fr", "Bonjour, je voudrais décaler mon rendez-vous de jeudi.", NEUTRAL),
    ("pl", "Bardzo dziękuję, obsługa była wspaniała.", POSITIVE),
    ("pl", "Nikt nie odbiera telefonu, to skandal.", NEGATIVE),
    ("pl", "Dzień dobry, chciałbym przełożyć wizytę na piątek.", NEUTRAL),
]


@pytest.mark.parametrize(("language", "text", "label"), FIXED)
def test_fixed_sentences_get_their_label_in_each_interface_language(language, text, label):
    result = analyze(text, language)
    assert (result.label, result.language) == (label, language)
    assert -1 <= result.score <= 1


@pytest.mark.parametrize(
    ("language", "plain", "negated"),
    [
        ("en", "I am happy with the service.", "I am not happy with the service."),
        ("en", "The staff were helpful.", "The staff weren't helpful."),
        ("de", "Ich bin zufrieden.", "Ich bin nicht zufrieden."),
        ("es", "Estoy satisfecho con la atención.", "No estoy satisfecho con la atención."),
        ("fr", "Je suis satisfait.", "Je ne suis pas satisfait."),
        ("pl", "Jestem zadowolony z wizyty.", "Nie jestem zadowolony z wizyty."),
    ],
)
def test_a_negated_positive_word_is_negative(language, plain, negated):
    assert analyze(plain, language).label == POSITIVE
    assert analyze(negated, language).label == NEGATIVE


def test_negation_stays_inside_its_clause_and_not_bad_is_not_negative():
    assert analyze("No, the appointment was great.", "en").label == POSITIVE
    assert analyze("Not bad at all.", "en").label != NEGATIVE


def test_intensifiers_strengthen_and_a_contrast_weighs_what_follows():
    assert analyze("very helpful", "en").score > analyze("helpful", "en").score
    assert analyze("Thanks for the call, but nobody came and it was terrible.", "en").label == NEGATIVE


def test_greetings_and_sign_offs_built_from_positive_words_are_neutral():
    for text, language in [
        ("Good morning, kind regards", "en"),
        ("Guten Morgen, mit freundlichen Grüßen", "de"),
        ("Buenos días, un saludo", "es"),
        ("Bonjour, bonne journée", "fr"),
        ("Dzień dobry, miłego dnia", "pl"),
    ]:
        assert analyze(text, language).label == NEUTRAL, text


def test_text_typed_without_accents_is_read_as_with_them():
    assert analyze("Dziekuje bardzo, wszystko swietnie", "pl").label == POSITIVE
    assert analyze("Tres decu, c'est inadmissible", "fr").label == NEGATIVE


def test_an_unknown_language_is_neutral_with_score_zero_and_says_so():
    result = analyze("Grazie mille, tutto perfetto", "it")
    assert (result.label, result.score, result.language) == (NEUTRAL, 0.0, UNKNOWN_LANGUAGE)
    assert analyze("", "en") == analyze("   ", "en")
    assert analyze("", "en").label == NEUTRAL


def test_a_text_plainly_in_another_supported_language_is_read_in_that_one():
    result = analyze("Ich bin mit der Behandlung nicht zufrieden, das ist eine Zumutung", "en")
    assert (result.language, result.label) == ("de", NEGATIVE)
    assert analyze("Ich bin sehr zufrieden, danke", None).language == "de"


def test_quoted_lines_of_an_earlier_mail_are_not_read():
    text = "Thanks, that solved it.\n> This is unacceptable, nobody answers!\n> Terrible."
    assert analyze(text, "en").label == POSITIVE


# --- the evaluation set ----------------------------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_evaluation_set_has_300_balanced_messages_with_a_held_out_split(language):
    rows = load(language)
    assert len(rows) >= 300
    for split in ("dev", "test"):
        labels = [label for s, label, _ in rows if s == split]
        assert {labels.count(label) for label in (NEGATIVE, NEUTRAL, POSITIVE)} == {len(labels) // 3}
    dev_texts = {text for s, _, text in rows if s == "dev"}
    assert not dev_texts & {text for s, _, text in rows if s == "test"}


@pytest.mark.parametrize("language", LANGUAGES)
def test_held_out_macro_f1_reaches_the_goal_in_every_interface_language(language):
    assert evaluate(language, "test", lambda text, lang: analyze(text, lang).label) >= 0.75


def test_macro_f1_is_the_mean_of_the_three_labels_f1():
    gold = [NEGATIVE, NEGATIVE, NEUTRAL, POSITIVE]
    assert macro_f1(gold, gold) == 1.0
    # negative: P=1 R=.5 F=2/3; neutral: P=.5 R=1 F=2/3; positive: F=1.
    assert macro_f1(gold, [NEGATIVE, NEUTRAL, NEUTRAL, POSITIVE]) == pytest.approx((2 / 3 + 2 / 3 + 1) / 3)
    assert macro_f1(gold, [NEUTRAL] * 4) == pytest.approx((0 + 2 / 5 + 0) / 3)


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_shipped_files_are_what_the_corpus_script_writes(language):
    """The TSV files are not edited by hand: bench/sentiment_corpus.py writes them, dev and test apart."""
    assert load(language) == compose(language)
