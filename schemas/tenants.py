"""The tenant registry: who may send to Headwater and query it, and with which secrets.

One TOML file (`HEADWATER_TENANTS_FILE`) names each tenant with its Zalo Official
Accounts (OA id, app id, OA secret key), its partner webhook secrets, its API keys
(stored as SHA-256 hashes, never in the clear) and its request rate. A secret is a
string, or `{env = "NAME"}` to read it from an environment variable when the file is
loaded. The services read it once at start; README "Tenant registry" has an example.

`python -m schemas.tenants new-key` prints a fresh API key and the hash to store;
`python -m schemas.tenants check FILE` loads a file and says what it holds.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import sys
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from schemas.ids import Identifier, TenantId

API_KEY_HASH_PREFIX = "sha256:"
ApiKeyHash = Annotated[
    str,
    StringConstraints(pattern=r"^sha256:[0-9a-f]{64}$"),
    BeforeValidator(lambda v: v.strip().lower() if isinstance(v, str) else v),
]


def hash_api_key(key: str) -> str:
    """The form an API key is stored in: `sha256:<hex>` (keys are random, so a plain,
    fast hash is safe; it also makes the lookup by key a dictionary lookup)."""
    return API_KEY_HASH_PREFIX + hashlib.sha256(key.encode()).hexdigest()


def new_api_key() -> str:
    """A fresh API key: 32 random bytes, URL-safe."""
    return "hw_" + secrets.token_urlsafe(32)


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class EnvRef(_Strict):
    """A secret read from an environment variable when the registry is loaded."""

    env: str = Field(min_length=1, examples=["ACME_PARTNER_SECRET"])


def _resolve_secrets(value: Any, environ: Mapping[str, str]) -> Any:
    """Replace every `{env = NAME}` in a secret field by the variable's value."""
    if isinstance(value, list):
        return [_resolve_secrets(v, environ) for v in value]
    if isinstance(value, dict) and set(value) == {"env"}:
        ref = EnvRef.model_validate(value)
        if ref.env not in environ:
            raise ValueError(f"environment variable {ref.env} is not set")
        return environ[ref.env]
    return value


def _from_env(cls: type[BaseModel], value: Any, info: ValidationInfo) -> Any:
    environ = (info.context or {}).get("environ", os.environ)
    return _resolve_secrets(value, environ)


Secret = Annotated[SecretStr, Field(min_length=1)]


class ZaloAccount(_Strict):
    """One Zalo Official Account of a tenant."""

    oa_id: Identifier = Field(description="the OA's id (`recipient.id` of user events)")
    app_id: Identifier = Field(description="the Zalo app the OA's webhook belongs to")
    secret: Secret = Field(description="the OA secret key (not the app secret)")

    _env = field_validator("secret", mode="before")(classmethod(_from_env))


class Tenant(_Strict):
    """A tenant's entry. Every part is optional: a tenant without Zalo accounts receives
    no Zalo events, one without API keys uploads no CSV and runs no search."""

    zalo: list[ZaloAccount] = Field(default_factory=list)
    partner_secrets: list[Secret] = Field(
        default_factory=list,
        description="secrets partner webhooks are signed with; several while one rotates",
    )
    api_keys: list[ApiKeyHash] = Field(
        default_factory=list, description="`sha256:<hex>` of each API key"
    )
    rate_limit_per_s: int = Field(
        200, ge=1, description="requests a second the tenant may make to the gateway"
    )
    search_rate_limit_per_s: int = Field(
        100, ge=1, description="searches a second the tenant may make to the search API"
    )
    search_miss_rate_limit_per_s: int = Field(
        50,
        ge=1,
        description="of those, searches a second the cache cannot answer (each costs an "
        "embedding and a Weaviate query)",
    )

    _env = field_validator("partner_secrets", mode="before")(classmethod(_from_env))


class _File(_Strict):
    tenants: dict[TenantId, Tenant] = Field(default_factory=dict)


class RegistryError(ValueError):
    """The registry file cannot be used; the message names the file and the field."""


class TenantRegistry:
    """The loaded registry, with the lookups the services make."""

    def __init__(self, tenants: Mapping[str, Tenant]) -> None:
        self.tenants = dict(tenants)
        self._by_oa: dict[str, tuple[str, ZaloAccount]] = {}
        self._by_key_hash: dict[str, str] = {}
        for name, tenant in self.tenants.items():
            for account in tenant.zalo:
                if account.oa_id in self._by_oa:
                    other = self._by_oa[account.oa_id][0]
                    raise RegistryError(
                        f"Zalo OA {account.oa_id} is registered to both {other} and {name}"
                    )
                self._by_oa[account.oa_id] = (name, account)
            for key_hash in tenant.api_keys:
                if key_hash in self._by_key_hash:
                    other = self._by_key_hash[key_hash]
                    raise RegistryError(f"an API key is registered to both {other} and {name}")
                self._by_key_hash[key_hash] = name

    @classmethod
    def from_toml(
        cls, text: str, *, environ: Mapping[str, str] | None = None, origin: str = "registry"
    ) -> TenantRegistry:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise RegistryError(f"{origin}: not TOML: {exc}") from None
        try:
            parsed = _File.model_validate(
                data, context={"environ": os.environ if environ is None else environ}
            )
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
            )
            raise RegistryError(f"{origin}: {problems}") from None
        return cls(parsed.tenants)

    @classmethod
    def load(cls, path: Path, *, environ: Mapping[str, str] | None = None) -> TenantRegistry:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise RegistryError(f"cannot read the tenant registry {path}: {exc}") from None
        return cls.from_toml(text, environ=environ, origin=str(path))

    @classmethod
    def from_setting(cls, path: Path | None) -> TenantRegistry:
        """The registry `HEADWATER_TENANTS_FILE` names, which a service requires."""
        if path is None:
            raise RegistryError(
                "HEADWATER_TENANTS_FILE is not set: a tenant registry is required (README, "
                '"Tenant registry")'
            )
        return cls.load(path)

    def get(self, tenant: str) -> Tenant | None:
        return self.tenants.get(tenant)

    def zalo_account(self, oa_id: str) -> tuple[str, ZaloAccount] | None:
        """The tenant an OA is registered to, and the account."""
        return self._by_oa.get(oa_id)

    def tenant_of_api_key(self, key: str) -> str | None:
        """The tenant an API key belongs to; None for a key no tenant has."""
        return self._by_key_hash.get(hash_api_key(key))

    def tenant_of_authorization(self, header: str | None) -> str | None:
        """The tenant of an `Authorization: Bearer <API key>` header (the scheme in any
        case); None without one, or for a key no tenant has."""
        scheme, _, key = (header or "").partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            return None
        return self.tenant_of_api_key(key.strip())


def _main(argv: list[str]) -> int:
    usage = "usage: python -m schemas.tenants new-key | check FILE"
    if argv == ["new-key"]:
        key = new_api_key()
        print(f"API key (give it to the tenant; it is not stored): {key}")
        print(f'registry line: api_keys = ["{hash_api_key(key)}"]')
        return 0
    if len(argv) == 2 and argv[0] == "check":
        try:
            registry = TenantRegistry.load(Path(argv[1]))
        except RegistryError as exc:
            print(exc, file=sys.stderr)
            return 1
        for name, tenant in sorted(registry.tenants.items()):
            print(
                f"{name}: {len(tenant.zalo)} Zalo OA(s), {len(tenant.partner_secrets)} partner "
                f"secret(s), {len(tenant.api_keys)} API key(s), {tenant.rate_limit_per_s}/s "
                f"(search {tenant.search_rate_limit_per_s}/s, "
                f"{tenant.search_miss_rate_limit_per_s}/s uncached)"
            )
        return 0
    print(usage, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
