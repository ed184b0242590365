"""Reply tokens: signed per clinic, so another clinic's or a made-up token names no conversation."""

from app.mailroom.tokens import contact_of_token, reply_address, reply_token, split_address


def test_a_token_names_its_contact_in_its_own_clinic_only(app_context):
    token = reply_token(7, 42)
    assert contact_of_token(token, 7) == 42
    assert contact_of_token(token, 8) is None
    assert contact_of_token(reply_token(8, 42), 7) is None


def test_a_changed_or_malformed_token_names_nothing(app_context):
    token = reply_token(7, 42)
    assert contact_of_token(token.replace("r42.", "r43."), 7) is None
    assert contact_of_token(token[:-1] + ("a" if token[-1] != "a" else "b"), 7) is None
    for junk in ("", "r0.aaaaaaaaaaaaaaaa", "x42." + token[4:], token.upper(), token + "a"):
        assert contact_of_token(junk, 7) is None


def test_the_reply_address_carries_the_token_and_splits_back(app_context):
    address = reply_address("termine@praxis.example", 7, 42)
    assert address == f"termine+{reply_token(7, 42)}@praxis.example"
    assert split_address(address) == ("termine@praxis.example", reply_token(7, 42))
    assert split_address("Termine@Praxis.Example") == ("termine@praxis.example", None)
