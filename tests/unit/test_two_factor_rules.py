"""The rules of two-factor sign-in, table first: which codes a sign-in accepts, how recovery
codes are read, and which roles a TWO_FACTOR_REQUIRED_ROLES setting names."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crm.auth import recovery_codes, secret_box, totp
from crm.auth.gate import must_set_up, required_roles
from crm.models.user import Role

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
NOW = datetime(2026, 12, 3, 15, 0, 10, tzinfo=UTC)
STEP = totp.step_at(NOW)


def code(step_offset: int) -> str:
    return totp.code_for_step(SECRET, STEP + step_offset)


@pytest.mark.parametrize(
    ("typed", "last_used_step", "expected"),
    [
        (code(0), None, STEP),  # the code of now
        (code(-1), None, STEP - 1),  # the previous step: a slow typist, a phone a little behind
        (code(1), None, STEP + 1),  # the next step: a phone a little ahead
        (code(-2), None, None),  # a minute old: stale
        (code(2), None, None),  # a minute ahead: too far
        (code(0), STEP, None),  # replayed: this step was used already
        (code(0), STEP - 1, STEP),  # a later step than the last one used
        (code(-1), STEP, None),  # an earlier step than one already used
        (code(1), STEP, STEP + 1),  # the next step after the one used
        (code(0)[:3] + " " + code(0)[3:], None, STEP),  # as an app shows it, with a space
        (code(0)[:3] + "-" + code(0)[3:], None, STEP),
        ("000000" if code(0) != "000000" else "111111", None, None),  # wrong digits
        (code(0)[:5], None, None),  # too short
        (code(0) + "1", None, None),  # too long
        ("abcdef", None, None),
        ("١٢٣٤٥٦", None, None),  # digits, but not ASCII ones
        ("", None, None),
    ],
)
def test_which_codes_are_accepted(typed: str, last_used_step: int | None, expected: int | None) -> None:
    assert totp.matching_step(SECRET, typed, NOW, last_used_step) == expected


def test_the_step_changes_every_thirty_seconds() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    assert totp.step_at(start + timedelta(seconds=29)) == totp.step_at(start)
    assert totp.step_at(start + timedelta(seconds=30)) == totp.step_at(start) + 1


def test_codes_match_rfc_6238_test_vector() -> None:
    # RFC 6238 appendix B, SHA-1, T = 59 s, secret "12345678901234567890": 94287082 (8 digits);
    # six-digit codes are its last six digits.
    rfc_secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
    assert totp.code_for_step(rfc_secret, 59 // 30) == "287082"


def test_a_new_secret_is_160_random_bits_in_base32() -> None:
    secrets = {totp.new_secret() for _ in range(20)}
    assert len(secrets) == 20
    assert all(len(secret) == 32 and set(secret) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for secret in secrets)


def test_the_provisioning_address_names_the_issuer_and_account() -> None:
    uri = totp.provisioning_uri(SECRET, "lucia@example.org")
    assert uri.startswith("otpauth://totp/Backbone%20CRM:lucia%40example.org?")
    assert f"secret={SECRET}" in uri
    assert "issuer=Backbone%20CRM" in uri


@pytest.mark.parametrize(
    ("typed", "looks_right"),
    [
        ("abcde-fghjk", True),
        ("ABCDE-FGHJK", True),  # typed in capitals
        ("abcdefghjk", True),  # without the dash
        (" abcde fghjk ", True),
        ("abcde-fghj", False),  # one short
        ("abcde-fghjk2", False),  # one too many
        ("abcde-fghj0", False),  # 0 is not in the alphabet (o and 0 look alike)
        ("abcde-fghj1", False),
        ("123456", False),  # an app code, not a recovery code
        ("", False),
    ],
)
def test_which_texts_look_like_recovery_codes(typed: str, looks_right: bool) -> None:
    assert recovery_codes.looks_like_code(typed) is looks_right


def test_recovery_codes_are_ten_distinct_codes_hashed_the_same_however_typed() -> None:
    codes = recovery_codes.generate()
    assert len(codes) == len(set(codes)) == 10
    assert all(recovery_codes.looks_like_code(code) for code in codes)
    first = codes[0]
    assert recovery_codes.hash_code(first) == recovery_codes.hash_code(first.upper().replace("-", " "))
    assert first not in recovery_codes.hash_code(first)
    assert len(recovery_codes.hash_code(first)) == 64


@pytest.mark.parametrize(
    ("setting", "roles"),
    [
        ("admin,manager", {Role.ADMIN, Role.MANAGER}),
        (" Admin , MANAGER ", {Role.ADMIN, Role.MANAGER}),
        ("all", set(Role)),
        ("ALL", set(Role)),
        ("staff", {Role.STAFF}),
        ("", set()),
        (" , ", set()),
    ],
)
def test_which_roles_a_setting_names(setting: str, roles: set[Role]) -> None:
    assert required_roles(setting) == roles


@pytest.mark.parametrize("setting", ["admins", "admin,everyone", "all,admin", "root"])
def test_a_setting_naming_no_role_is_refused(setting: str) -> None:
    with pytest.raises(ValueError, match="TWO_FACTOR_REQUIRED_ROLES"):
        required_roles(setting)


@pytest.mark.parametrize(
    ("role", "has_second_factor", "setting", "sent_to_setup"),
    [
        (Role.ADMIN, False, "admin,manager", True),
        (Role.MANAGER, False, "admin,manager", True),
        (Role.ADMIN, True, "admin,manager", False),
        (Role.STAFF, False, "admin,manager", False),
        (Role.PARTNER, False, "all", True),
        (Role.PARTNER, True, "all", False),
        (Role.ADMIN, False, "", False),
    ],
)
def test_who_is_sent_to_set_it_up(role: Role, has_second_factor: bool, setting: str, sent_to_setup: bool) -> None:
    assert must_set_up(role, has_second_factor, setting) is sent_to_setup


def test_the_secret_box_opens_only_with_the_key_it_was_sealed_with() -> None:
    sealed = secret_box.seal(SECRET, "a secret key of at least thirty-two characters")
    assert SECRET not in sealed
    assert secret_box.open_sealed(sealed, "a secret key of at least thirty-two characters") == SECRET
    with pytest.raises(secret_box.UnreadableSecret):
        secret_box.open_sealed(sealed, "another secret key, after a rotation of it")
    with pytest.raises(secret_box.UnreadableSecret):
        secret_box.open_sealed(sealed[:-4] + "AAAA", "a secret key of at least thirty-two characters")
