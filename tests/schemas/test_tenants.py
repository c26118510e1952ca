"""The tenant registry: loading the TOML file, its lookups, and the command line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from schemas.tenants import (
    RegistryError,
    TenantRegistry,
    hash_api_key,
    new_api_key,
)

ROOT = Path(__file__).resolve().parents[2]

API_KEY = "hw_test_key_1"
# printf '%s' 'hw_test_key_1' | sha256sum
API_KEY_HASH = "sha256:36693210b66c54dd5917de64f726286cb90ae7da797af1a64af63952cff29853"

ENVIRON = {"ACME_OA_SECRET": "oa-secret-from-env", "ACME_NEXT_SECRET": "whsec-next-from-env"}
SECRETS = ["whsec_acme_1", "oa-secret-from-env", "whsec-next-from-env", "oa-secret-in-file"]

REGISTRY = f"""
[tenants.acme]
partner_secrets = ["whsec_acme_1", {{env = "ACME_NEXT_SECRET"}}]
api_keys = ["{API_KEY_HASH}"]
rate_limit_per_s = 50
search_rate_limit_per_s = 20
search_miss_rate_limit_per_s = 5

[[tenants.acme.zalo]]
oa_id = "3886"
app_id = "4321987654"
secret = {{env = "ACME_OA_SECRET"}}

[[tenants.acme.zalo]]
oa_id = 3887
app_id = "4321987654"
secret = "oa-secret-in-file"

[tenants.globex]
"""


def load(text: str, environ: dict[str, str] | None = None) -> TenantRegistry:
    return TenantRegistry.from_toml(text, environ=ENVIRON if environ is None else environ)


def refusal(text: str, environ: dict[str, str] | None = None) -> str:
    with pytest.raises(RegistryError) as caught:
        load(text, environ)
    return str(caught.value)


def test_the_registry_loads_with_secrets_read_from_the_environment() -> None:
    acme = load(REGISTRY).tenants["acme"]
    assert [s.get_secret_value() for s in acme.partner_secrets] == [
        "whsec_acme_1",
        "whsec-next-from-env",
    ]
    assert acme.zalo[0].secret.get_secret_value() == "oa-secret-from-env"
    assert (acme.rate_limit_per_s, acme.search_rate_limit_per_s) == (50, 20)
    assert acme.search_miss_rate_limit_per_s == 5


def test_a_tenant_with_nothing_gets_the_defaults() -> None:
    globex = load(REGISTRY).tenants["globex"]
    assert (globex.zalo, globex.partner_secrets, globex.api_keys) == ([], [], [])
    assert (globex.rate_limit_per_s, globex.search_rate_limit_per_s) == (200, 100)
    assert globex.search_miss_rate_limit_per_s == 50


def test_an_oa_is_found_by_its_id_and_an_integer_id_is_read_as_digits() -> None:
    registry = load(REGISTRY)
    tenant, account = registry.zalo_account("3887")
    assert (tenant, account.app_id) == ("acme", "4321987654")
    assert registry.zalo_account("9999") is None


def test_an_empty_file_is_an_empty_registry() -> None:
    assert load("").tenants == {}


def test_a_missing_environment_variable_names_the_field_and_the_variable() -> None:
    message = refusal(REGISTRY, environ={"ACME_NEXT_SECRET": "x"})
    assert "tenants.acme.zalo.0.secret" in message
    assert "ACME_OA_SECRET" in message


def test_an_explicitly_empty_environment_is_not_the_process_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HW_TEST_ONLY_SECRET", "from-the-process")
    text = '[tenants.acme]\npartner_secrets = [{env = "HW_TEST_ONLY_SECRET"}]\n'
    assert "HW_TEST_ONLY_SECRET" in refusal(text, environ={})


def test_an_empty_secret_is_refused() -> None:
    assert "tenants.acme.partner_secrets.0" in refusal('[tenants.acme]\npartner_secrets = [""]')


@pytest.mark.parametrize("tenant", ["acme corp", "công-ty", "../x", "a" * 65])
def test_an_invalid_tenant_id_is_refused(tenant: str) -> None:
    assert "a tenant is" in refusal(f'[tenants."{tenant}"]\n')


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('[tenants.acme]\napi_key = ["x"]', "tenants.acme.api_key"),
        ('tenant = "acme"', "tenant"),
        (
            '[[tenants.acme.zalo]]\noa_id = "1"\napp_id = "2"\nsecret = "s"\noa_secret = "s"',
            "tenants.acme.zalo.0.oa_secret",
        ),
    ],
)
def test_unknown_keys_are_refused(text: str, where: str) -> None:
    message = refusal(text)
    assert where in message
    assert "Extra inputs are not permitted" in message


def test_text_that_is_not_toml_is_refused() -> None:
    assert "not TOML" in refusal("[tenants.acme")


def test_the_same_oa_in_two_tenants_is_refused() -> None:
    account = '[[tenants.{}.zalo]]\noa_id = "3886"\napp_id = "1"\nsecret = "s"\n'
    message = refusal(account.format("acme") + account.format("globex"))
    assert "3886" in message and "acme" in message and "globex" in message


def test_the_same_api_key_in_two_tenants_is_refused() -> None:
    text = f'[tenants.acme]\napi_keys = ["{API_KEY_HASH}"]\n'
    text += f'[tenants.globex]\napi_keys = ["{API_KEY_HASH}"]\n'
    assert "both acme and globex" in refusal(text)


def test_an_api_key_that_is_not_a_sha256_hash_is_refused() -> None:
    assert "tenants.acme.api_keys.0" in refusal(f'[tenants.acme]\napi_keys = ["{API_KEY}"]')


def test_an_upper_case_api_key_hash_is_accepted() -> None:
    upper = "sha256:" + API_KEY_HASH.removeprefix("sha256:").upper()
    registry = load(f'[tenants.acme]\napi_keys = ["{upper}"]')
    assert registry.tenant_of_api_key(API_KEY) == "acme"


def test_an_api_key_finds_its_tenant() -> None:
    assert load(REGISTRY).tenant_of_api_key(API_KEY) == "acme"


@pytest.mark.parametrize("key", ["hw_test_key_2", "", API_KEY_HASH, API_KEY.upper()])
def test_a_wrong_api_key_finds_no_tenant(key: str) -> None:
    assert load(REGISTRY).tenant_of_api_key(key) is None


def test_hash_api_key_is_prefixed_sha256_hex() -> None:
    assert hash_api_key(API_KEY) == API_KEY_HASH


def test_secrets_never_appear_in_reprs() -> None:
    registry = load(REGISTRY)
    shown = " ".join(
        [repr(registry), str(registry), repr(registry.tenants), str(registry.tenants["acme"])]
    )
    for secret in SECRETS:
        assert secret not in shown


def test_secrets_never_appear_in_a_refusal() -> None:
    text = REGISTRY.replace("rate_limit_per_s = 50", "rate_limit_per_s = 0\nunknown = 1")
    message = refusal(text)
    assert "rate_limit_per_s" in message
    for secret in SECRETS:
        assert secret not in message


def test_new_api_keys_are_distinct_and_resolve_to_their_tenant() -> None:
    keys = [new_api_key() for _ in range(20)]
    assert len(set(keys)) == len(keys)
    assert all(key.startswith("hw_") and len(key) > 40 for key in keys)
    hashes = ", ".join(f'"{hash_api_key(key)}"' for key in keys)
    registry = load(f"[tenants.acme]\napi_keys = [{hashes}]\n")
    assert {registry.tenant_of_api_key(key) for key in keys} == {"acme"}


def run_cli(*args: str, environ: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "schemas.tenants", *args],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", **(environ or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cli_check_says_what_the_file_holds(tmp_path: Path) -> None:
    path = tmp_path / "tenants.toml"
    path.write_text(REGISTRY, encoding="utf-8")
    done = run_cli("check", str(path), environ=ENVIRON)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "acme: 2 Zalo OA(s), 2 partner secret(s), 1 API key(s), 50/s (search 20/s, 5/s uncached)",
        "globex: 0 Zalo OA(s), 0 partner secret(s), 0 API key(s), 200/s "
        "(search 100/s, 50/s uncached)",
    ]
    for secret in SECRETS:
        assert secret not in done.stdout + done.stderr


def test_cli_check_of_a_bad_file_exits_1_naming_the_file_and_the_field(tmp_path: Path) -> None:
    path = tmp_path / "tenants.toml"
    path.write_text(REGISTRY, encoding="utf-8")
    done = run_cli("check", str(path))  # the environment has no ACME_OA_SECRET
    assert done.returncode == 1
    assert done.stdout == ""
    assert str(path) in done.stderr
    assert "ACME_OA_SECRET" in done.stderr


def test_cli_check_of_a_missing_file_exits_1(tmp_path: Path) -> None:
    done = run_cli("check", str(tmp_path / "absent.toml"))
    assert done.returncode == 1
    assert "cannot read the tenant registry" in done.stderr


def test_cli_new_key_prints_a_key_and_its_registry_line() -> None:
    done = run_cli("new-key")
    assert done.returncode == 0, done.stderr
    key_line, registry_line = done.stdout.splitlines()
    key = key_line.rsplit(" ", 1)[-1]
    assert key.startswith("hw_")
    assert registry_line == f'registry line: api_keys = ["{hash_api_key(key)}"]'


def test_cli_without_a_command_prints_the_usage_and_exits_2() -> None:
    done = run_cli()
    assert done.returncode == 2
    assert "usage:" in done.stderr


def test_the_tenant_of_an_authorization_header() -> None:
    registry = load(REGISTRY)
    assert registry.tenant_of_authorization(f"Bearer {API_KEY}") == "acme"
    assert registry.tenant_of_authorization(f"bearer   {API_KEY} ") == "acme"
    for header in (None, "", API_KEY, f"Basic {API_KEY}", "Bearer ", "Bearer wrong"):
        assert registry.tenant_of_authorization(header) is None, header


def test_a_service_without_a_registry_setting_is_told_which_variable(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in ENVIRON.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(RegistryError, match="HEADWATER_TENANTS_FILE is not set"):
        TenantRegistry.from_setting(None)
    path = tmp_path / "tenants.toml"
    path.write_text(REGISTRY, encoding="utf-8")
    assert "acme" in TenantRegistry.from_setting(path).tenants
