"""Security properties every deployment relies on: headers, cookies, CSRF, redirects, throttling,
secrets, friendly errors, body limits and a repeatable demo seed."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from limits import parse as parse_limit
from sqlalchemy import func, select

from config import DEVELOPMENT_SECRET_KEY, DevelopmentConfig, ProductionConfig, TestConfig
from crm import create_app
from crm.extensions import db
from crm.models import Organisation, Role, User
from crm.secret_key import secret_key_weakness
from crm.security import strict_transport_security
from tests.conftest import TEST_PASSWORD

# As secrets.token_urlsafe(48) makes them.
STRONG_SECRET = "OF2Ov8669DO2Cfm2kySw8E41TcTF_Pb5pL4GfKgLd6_Jp1o0NuxMNjrl8aus83X2"


def _header_directives(csp: str) -> dict[str, str]:
    directives = {}
    for part in csp.split(";"):
        name, _, value = part.strip().partition(" ")
        if name:
            directives[name] = value
    return directives


# --- headers -------------------------------------------------------------------------------


@pytest.fixture(params=["login page", "signed-in page", "redirect to login", "not found", "method not allowed"])
def any_response(request: pytest.FixtureRequest, client: FlaskClient, login):
    if request.param == "login page":
        return client.get("/login")
    if request.param == "signed-in page":
        login(Role.STAFF)
        return client.get("/dashboard")
    if request.param == "redirect to login":
        return client.get("/dashboard")
    if request.param == "not found":
        return client.get("/no/such/page")
    return client.get("/logout")


def test_every_response_carries_the_security_headers(any_response) -> None:
    csp = any_response.headers.get("Content-Security-Policy", "")
    directives = _header_directives(csp)

    assert "'unsafe-inline'" not in csp
    assert "'unsafe-eval'" not in csp
    assert directives.get("frame-ancestors") == "'none'"
    assert directives.get("default-src") == "'self'"
    assert "script-src" in directives or "default-src" in directives
    assert any_response.headers.get("X-Content-Type-Options") == "nosniff"
    assert any_response.headers.get("Referrer-Policy") in {"same-origin", "no-referrer", "strict-origin-when-cross-origin"}
    assert "no-store" in any_response.headers.get("Cache-Control", "")


@pytest.fixture
def production_app() -> Flask:
    return create_app(ProductionConfig, SECRET_KEY=STRONG_SECRET, SQLALCHEMY_DATABASE_URI="sqlite://")


@pytest.mark.parametrize("path", ["/login", "/get-in-touch", "/no/such/page", "/dashboard", "/static/css/app.css"])
def test_production_responses_carry_strict_transport_security(production_app: Flask, path: str) -> None:
    response = production_app.test_client().get(path, base_url="https://crm.example.org")

    assert response.headers.get("Strict-Transport-Security") == "max-age=31536000; includeSubDomains"
    response.close()


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"HSTS_MAX_AGE": 600}, "max-age=600; includeSubDomains"),
        ({"HSTS_INCLUDE_SUBDOMAINS": False}, "max-age=31536000"),
        ({"HSTS_MAX_AGE": 0, "HSTS_INCLUDE_SUBDOMAINS": False}, "max-age=0"),
    ],
    ids=["shorter", "this host only", "off: browsers forget it"],
)
def test_strict_transport_security_is_configurable(settings: dict, expected: str) -> None:
    app = create_app(ProductionConfig, SECRET_KEY=STRONG_SECRET, SQLALCHEMY_DATABASE_URI="sqlite://", **settings)

    response = app.test_client().get("/login", base_url="https://crm.example.org")

    assert response.headers.get("Strict-Transport-Security") == expected


def test_no_strict_transport_security_in_development_or_tests(client: FlaskClient) -> None:
    development = create_app(DevelopmentConfig, SQLALCHEMY_DATABASE_URI="sqlite://")

    assert "Strict-Transport-Security" not in development.test_client().get("/login").headers
    assert "Strict-Transport-Security" not in client.get("/login").headers


@pytest.mark.parametrize(
    ("env_name", "max_age", "subdomains", "expected"),
    [
        ("production", 31536000, True, "max-age=31536000; includeSubDomains"),
        ("production", 31536000, False, "max-age=31536000"),
        ("production", 0, True, "max-age=0; includeSubDomains"),
        ("production", -1, True, None),
        ("development", 31536000, True, None),
        ("testing", 31536000, True, None),
    ],
)
def test_strict_transport_security_value(env_name: str, max_age: int, subdomains: bool, expected: str | None) -> None:
    assert strict_transport_security(env_name, max_age, subdomains) == expected


def test_static_files_are_cacheable_but_still_protected(client: FlaskClient, app: Flask) -> None:
    css = next(Path(app.static_folder).rglob("*.css"), None)
    if css is None:
        pytest.skip("no stylesheet under crm/static")
    response = client.get("/static/" + css.relative_to(app.static_folder).as_posix())

    assert response.status_code == 200
    assert response.headers.get("X-Content-Type-Options") == "nosniff"
    assert "no-store" not in response.headers.get("Cache-Control", "")
    response.close()


# --- cookies -------------------------------------------------------------------------------


def _session_cookie_header(response, name: str = "session") -> str:
    for header in response.headers.getlist("Set-Cookie"):
        if header.startswith(f"{name}="):
            return header
    raise AssertionError(f"no {name} cookie set; Set-Cookie headers: {response.headers.getlist('Set-Cookie')}")


def test_session_cookie_is_http_only_and_same_site_lax(client: FlaskClient, make_user) -> None:
    user = make_user(Role.STAFF)

    response = client.post("/login", data={"email": user.email, "password": TEST_PASSWORD})

    cookie = _session_cookie_header(response)
    assert "HttpOnly" in cookie
    assert re.search(r"SameSite=Lax", cookie, re.IGNORECASE)


def test_production_cookies_are_secure() -> None:
    app = create_app(ProductionConfig, SECRET_KEY=STRONG_SECRET, SQLALCHEMY_DATABASE_URI="sqlite://")
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["REMEMBER_COOKIE_SECURE"] is True
    assert app.config["WTF_CSRF_ENABLED"] is not False

    # The login form puts a CSRF token in the session, so the session cookie is set.
    response = app.test_client().get("/login", base_url="https://crm.example.org")

    cookie = _session_cookie_header(response)
    assert "Secure" in cookie
    assert "HttpOnly" in cookie
    assert re.search(r"SameSite=Lax", cookie, re.IGNORECASE)


# --- CSRF ----------------------------------------------------------------------------------


@pytest.fixture
def csrf_app(tmp_path: Path) -> Iterator[Flask]:
    """An app with CSRF protection on and a database of its own."""
    app = create_app(
        TestConfig,
        WTF_CSRF_ENABLED=True,
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'csrf.sqlite'}",
    )
    with app.app_context():
        db.create_all()
        yield app
        db.session.remove()
        db.engine.dispose()


def _csrf_token(client: FlaskClient) -> str:
    page = client.get("/login").get_data(as_text=True)
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', page
    )
    assert match, "the login form has no csrf_token field"
    return match.group(1)


def test_post_without_csrf_token_gets_a_friendly_400(csrf_app: Flask) -> None:
    client = csrf_app.test_client()

    response = client.post("/login", data={"email": "someone@example.org", "password": "whatever it is"})

    assert response.status_code == 400
    body = response.get_data(as_text=True)
    assert "This form expired" in body
    assert "Traceback" not in body
    assert "CSRF" not in body


def test_logout_without_csrf_token_is_refused(csrf_app: Flask) -> None:
    assert csrf_app.test_client().post("/logout").status_code == 400


def test_post_with_csrf_token_reaches_the_form(csrf_app: Flask) -> None:
    client = csrf_app.test_client()
    token = _csrf_token(client)

    response = client.post(
        "/login", data={"email": "someone@example.org", "password": "whatever it is", "csrf_token": token}
    )

    assert response.status_code == 401  # the form ran and refused the credentials


# --- logout and redirects ------------------------------------------------------------------


def test_logout_is_post_only(client: FlaskClient, login) -> None:
    login(Role.STAFF)

    response = client.get("/logout")

    assert response.status_code == 405
    assert "That action is not allowed here" in response.get_data(as_text=True)
    assert client.get("/dashboard").status_code == 200, "a GET must not have signed the user out"


EVIL_NEXT = [
    "//evil.com",
    "///evil.com",
    "https://evil.com",
    "http://evil.com/dashboard",
    "https:evil.com",
    "http:/evil.com",
    "/\\evil.com",
    "\\\\evil.com",
    "\\/evil.com",
    "/\\/evil.com",
    "javascript:alert(1)",
    "JavaScript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "evil.com",
    " //evil.com",
    "/\t/evil.com",
    "/\n/evil.com",
    "//evil.com/%2e%2e",
    "http://localhost@evil.com",
    "//localhost@evil.com",
]


@pytest.mark.parametrize("target", EVIL_NEXT)
def test_next_never_leaves_the_site(client: FlaskClient, make_user, target: str) -> None:
    user = make_user(Role.STAFF)

    response = client.post(f"/login?next={quote(target, safe='')}", data={"email": user.email, "password": TEST_PASSWORD})

    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.netloc in ("", "localhost"), response.headers["Location"]
    assert location.path == "/dashboard", response.headers["Location"]


def test_next_on_this_site_is_followed(client: FlaskClient, make_user) -> None:
    user = make_user(Role.STAFF)

    response = client.post("/login?next=%2Forganisations%2F", data={"email": user.email, "password": TEST_PASSWORD})

    assert response.headers["Location"] == "/organisations/"


# --- throttling ----------------------------------------------------------------------------


def _limit(app: Flask, setting: str) -> int:
    return parse_limit(app.config[setting]).amount


def test_one_account_is_throttled_after_repeated_failures(app: Flask, client: FlaskClient, make_user) -> None:
    user = make_user(Role.STAFF)
    for _ in range(_limit(app, "LOGIN_LIMIT_PER_ACCOUNT")):
        assert client.post("/login", data={"email": user.email, "password": "wrong password"}).status_code == 401

    response = client.post("/login", data={"email": user.email, "password": TEST_PASSWORD})

    assert response.status_code == 429
    body = response.get_data(as_text=True)
    assert "Too many attempts" in body
    assert "Traceback" not in body


def test_throttling_one_account_leaves_others_alone(app: Flask, client: FlaskClient, make_user) -> None:
    target, bystander = make_user(Role.STAFF), make_user(Role.STAFF)
    for _ in range(_limit(app, "LOGIN_LIMIT_PER_ACCOUNT")):
        client.post("/login", data={"email": target.email, "password": "wrong password"})

    response = client.post("/login", data={"email": bystander.email, "password": TEST_PASSWORD})

    assert response.status_code == 302


def test_the_account_limit_ignores_case_and_spaces(app: Flask, client: FlaskClient, make_user) -> None:
    user = make_user(Role.STAFF, email="throttled@example.org")
    spellings = ["throttled@example.org", "THROTTLED@example.org", " throttled@Example.org "]
    for attempt in range(_limit(app, "LOGIN_LIMIT_PER_ACCOUNT")):
        client.post("/login", data={"email": spellings[attempt % len(spellings)], "password": "wrong password"})

    response = client.post("/login", data={"email": user.email, "password": TEST_PASSWORD})

    assert response.status_code == 429


def test_one_address_is_throttled_across_accounts(app: Flask, client: FlaskClient, make_user) -> None:
    user = make_user(Role.STAFF)
    for attempt in range(_limit(app, "LOGIN_LIMIT_PER_IP")):
        response = client.post("/login", data={"email": f"guess{attempt}@example.org", "password": "wrong password"})
        assert response.status_code == 401, f"attempt {attempt + 1} was throttled too early"

    response = client.post("/login", data={"email": user.email, "password": TEST_PASSWORD})

    assert response.status_code == 429
    assert "Too many attempts" in response.get_data(as_text=True)


def test_successful_logins_do_not_count_against_the_limit(app: Flask, client: FlaskClient, make_user) -> None:
    user = make_user(Role.STAFF)
    for _ in range(_limit(app, "LOGIN_LIMIT_PER_ACCOUNT") + 1):
        assert client.post("/login", data={"email": user.email, "password": TEST_PASSWORD}).status_code == 302
        client.post("/logout")


# --- secrets -------------------------------------------------------------------------------


WEAK_SECRETS = [
    pytest.param("", "it is not set", id="empty"),
    pytest.param("short", "it is shorter than 32 characters", id="short"),
    pytest.param("x" * 31, "it is shorter than 32 characters", id="31 chars"),
    pytest.param(DEVELOPMENT_SECRET_KEY, "it is the development key", id="development key"),
    pytest.param(" " * 48, "it is only whitespace", id="48 spaces"),
    pytest.param(" \t\n" * 16, "it is only whitespace", id="whitespace"),
    pytest.param("a" * 48, "fewer than 8 different characters", id="48 times a"),
    pytest.param("x" * 48, "fewer than 8 different characters", id="48 times x"),
    pytest.param("ab" * 24, "fewer than 8 different characters", id="ab repeated"),
    pytest.param("secret" * 8, "fewer than 8 different characters", id="a word repeated"),
    pytest.param("0123456789" * 4, "long run", id="digits repeated"),
    pytest.param("abcdefghijklmnopqrstuvwxyz012345", "long run", id="alphabet"),
    pytest.param("Zq8#" + "k" * 10 + "mW2$pL9!vR4@tY7&nB3%", "long run", id="a run of one character"),
    pytest.param("my-deployment-key-my-deployment-key", "the same 12 characters", id="a phrase twice"),
    pytest.param("0f3a9c1e7b2d4f6a" * 2, "the same 12 characters", id="hex repeated"),
    pytest.param("".join("a" * 9 + other for other in "bcdefgh"), "too predictable", id="mostly one character"),
]
GOOD_SECRETS = [
    pytest.param(STRONG_SECRET, id="token_urlsafe(48)"),
    pytest.param("0bb5d0841bbca33244f70c3edf0e58dbdf106ea0f642fdcb796f31200a23a878", id="token_hex(32)"),
    pytest.param("601f3984b30104ae259ac2851700f1f7", id="token_hex(16)"),
    pytest.param("iiXVPKrVf3KqeoBZWCZVw1wo1JFXlGNsCdTY8Z0zt0o=", id="base64 of 32 random bytes"),
]


@pytest.mark.parametrize(("secret", "reason"), WEAK_SECRETS)
def test_a_weak_secret_key_is_named_for_what_is_wrong(secret: str, reason: str) -> None:
    weakness = secret_key_weakness(secret)
    assert weakness is not None
    assert reason in weakness


@pytest.mark.parametrize("secret", GOOD_SECRETS)
def test_a_random_secret_key_passes(secret: str) -> None:
    assert secret_key_weakness(secret) is None


@pytest.mark.parametrize(
    "make", [lambda: secrets.token_urlsafe(48), lambda: secrets.token_hex(32), lambda: secrets.token_hex(16)],
    ids=["token_urlsafe(48)", "token_hex(32)", "token_hex(16)"],
)
def test_generated_secret_keys_pass(make) -> None:
    for _ in range(500):
        key = make()
        assert secret_key_weakness(key) is None, key


@pytest.mark.parametrize(("secret", "reason"), WEAK_SECRETS)
def test_production_refuses_a_weak_secret_key(secret: str, reason: str) -> None:
    with pytest.raises(RuntimeError, match="SECRET_KEY") as refusal:
        create_app(ProductionConfig, SECRET_KEY=secret, SQLALCHEMY_DATABASE_URI="sqlite://")

    assert reason in str(refusal.value)
    if len(secret.strip()) >= 12:
        assert secret not in str(refusal.value), "the key is never echoed"


def test_crm_env_production_without_a_secret_key_refuses_to_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRM_ENV", "production")
    monkeypatch.delenv("SECRET_KEY", raising=False)

    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app(SECRET_KEY="", SQLALCHEMY_DATABASE_URI="sqlite://")


def test_production_starts_with_a_strong_secret_key() -> None:
    app = create_app(ProductionConfig, SECRET_KEY=STRONG_SECRET, SQLALCHEMY_DATABASE_URI="sqlite://")
    assert app.config["ENV_NAME"] == "production"
    assert not app.debug
    assert not app.testing


def test_unknown_crm_env_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRM_ENV", "staging-typo")

    with pytest.raises(RuntimeError, match="CRM_ENV"):
        create_app(SQLALCHEMY_DATABASE_URI="sqlite://")


# --- friendly errors and limits ------------------------------------------------------------


def test_404_page_is_friendly(client: FlaskClient) -> None:
    response = client.get("/organisations/not-a-number/edit")

    assert response.status_code == 404
    body = response.get_data(as_text=True)
    assert "We could not find that page" in body
    assert "<html" in body.lower()
    assert "Traceback" not in body
    assert "werkzeug" not in body.lower()


def test_huge_body_is_refused_with_413(app: Flask, client: FlaskClient) -> None:
    too_big = "x" * (app.config["MAX_CONTENT_LENGTH"] + 1024)

    response = client.post("/login", data={"email": "someone@example.org", "password": too_big})

    assert response.status_code == 413
    assert "That was too much to send at once" in response.get_data(as_text=True)


def test_huge_body_from_a_signed_in_user_is_refused_with_413(app: Flask, client: FlaskClient, login) -> None:
    login(Role.STAFF)
    too_big = "x" * (app.config["MAX_CONTENT_LENGTH"] + 1024)

    response = client.post("/organisations/new", data={"name": "Big", "description": too_big})

    assert response.status_code == 413


# --- demo data -----------------------------------------------------------------------------


def _counts() -> tuple[int, int]:
    return (
        db.session.scalar(select(func.count()).select_from(Organisation)),
        db.session.scalar(select(func.count()).select_from(User)),
    )


def test_seed_demo_is_idempotent(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CRM_DEMO_PASSWORD", raising=False)
    runner = app.test_cli_runner()

    first = runner.invoke(args=["crm", "seed-demo"])
    assert first.exit_code == 0, first.output
    after_first = _counts()
    second = runner.invoke(args=["crm", "seed-demo"])
    assert second.exit_code == 0, second.output

    assert after_first[0] >= 2
    assert after_first[1] >= 4
    assert _counts() == after_first
    assert "staff@example.org" in first.output
    assert "nothing new to add" in second.output


def test_seed_demo_if_empty_leaves_existing_data_alone(app: Flask, make_user) -> None:
    make_user(Role.ADMIN)
    before = _counts()

    result = app.test_cli_runner().invoke(args=["crm", "seed-demo", "--if-empty"])

    assert result.exit_code == 0, result.output
    assert _counts() == before


def test_demo_users_log_in_with_crm_demo_password(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRM_DEMO_PASSWORD", "a demo password for tests")
    runner = app.test_cli_runner()
    assert runner.invoke(args=["crm", "seed-demo"]).exit_code == 0
    result = runner.invoke(args=["crm", "seed-demo"])  # the second run keeps (resets) the same password
    assert result.exit_code == 0, result.output
    assert "a demo password for tests" not in result.output, "the password must not be echoed"

    for email in ("admin@example.org", "manager@example.org", "staff@example.org", "partner@example.org"):
        response = client.post("/login", data={"email": email, "password": "a demo password for tests"})
        assert response.status_code == 302, f"{email} could not sign in"
        client.post("/logout")


def test_trusted_proxy_count_makes_the_forwarded_address_the_client():
    from flask import request

    from config import TestConfig
    from crm import create_app

    proxied = create_app(TestConfig, TRUSTED_PROXY_COUNT=1)
    seen = []

    @proxied.get("/__whoami")
    def whoami():
        seen.append(request.remote_addr)
        return "ok"

    proxied.test_client().get(
        "/__whoami", headers={"X-Forwarded-For": "203.0.113.9"}, environ_base={"REMOTE_ADDR": "10.0.0.1"}
    )
    assert seen == ["203.0.113.9"]
