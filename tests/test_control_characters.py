"""The control-character rule: exactly the C0 and C1 controls (and line/paragraph separators in one line)."""

import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from app.control_characters import has_control_characters

# Texts mixing printable characters, every control, line separators and other unprintable ones (NBSP, ZWJ).
TEXTS = st.text(
    st.one_of(
        st.characters(), st.sampled_from([chr(c) for c in range(0xA0)] + ["\u2028", "\u2029", "\u00a0", "\u200d"])
    )
)


def _control(character: str) -> bool:
    return unicodedata.category(character) == "Cc"


@given(TEXTS)
def test_a_single_line_holds_no_control_character_nor_line_separator(text):
    expected = any(_control(c) or c in "\u2028\u2029" for c in text)
    assert has_control_characters(text) is expected


@given(TEXTS)
def test_a_multi_line_text_holds_line_feeds_and_tabs_and_no_other_control_character(text):
    expected = any(_control(c) and c not in "\n\t" for c in text)
    assert has_control_characters(text, multiline=True) is expected
