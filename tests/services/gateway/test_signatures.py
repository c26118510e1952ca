"""The gateway's signature checks, against digests computed once with the command line.

The expected digests are literals: each comment gives the exact command that printed it,
so the tests never check the production code against itself.
"""

from __future__ import annotations

import pytest

from services.gateway.signatures import SignatureError, verify_partner, verify_zalo

# -- Zalo: X-ZEvent-Signature: mac=<hex sha256(app_id + body + timestamp + OA secret)> ----

APP_ID = "4321987654"
ZALO_BODY = b'{"event_name":"user_send_text","message":{"text":"hi"}}'
ZALO_TIMESTAMP = "1714532400123"
OA_SECRET = "oa-secret-k3y"

# printf '%s' '4321987654{"event_name":"user_send_text","message":{"text":"hi"}}1714532400123oa-secret-k3y' | sha256sum  # noqa: E501
ZALO_MAC = "9d3e75f6d72be48a1ac3a201544c9aa2ae9eab60a87a040053e45233be44e566"


def check_zalo(header: str | None, body: bytes = ZALO_BODY, secret: str = OA_SECRET) -> None:
    verify_zalo(header, body, app_id=APP_ID, timestamp=ZALO_TIMESTAMP, oa_secret=secret)


def zalo_reason(header: str | None, body: bytes = ZALO_BODY, secret: str = OA_SECRET) -> str:
    with pytest.raises(SignatureError) as caught:
        check_zalo(header, body, secret)
    return caught.value.reason


def test_zalo_accepts_the_mac_of_the_body() -> None:
    check_zalo(f"mac={ZALO_MAC}")


def test_zalo_accepts_upper_case_hex() -> None:
    check_zalo(f"mac={ZALO_MAC.upper()}")


def test_zalo_refuses_a_tampered_body() -> None:
    tampered = ZALO_BODY.replace(b'"hi"', b'"ho"')
    assert zalo_reason(f"mac={ZALO_MAC}", body=tampered) == "bad_signature"


def test_zalo_refuses_the_mac_made_with_another_secret() -> None:
    assert zalo_reason(f"mac={ZALO_MAC}", secret="other-secret") == "bad_signature"


@pytest.mark.parametrize("header", [None, ""])
def test_zalo_refuses_a_missing_header(header: str | None) -> None:
    assert zalo_reason(header) == "missing_signature"


@pytest.mark.parametrize("header", [ZALO_MAC, f"sha256={ZALO_MAC}", "mac=", "mac"])
def test_zalo_refuses_a_header_without_mac(header: str) -> None:
    assert zalo_reason(header) == "malformed_signature"


# -- partners: X-Headwater-Signature: t=<unix s>,v1=<hex hmac-sha256(secret, "<t>.<body>")> --

T = 1714532400
PARTNER_BODY = b'{"id":"m-1","conversation_id":"c-9","content":"hi"}'
ACME_SECRET = "whsec_acme_1"
WINDOW_S = 300

# printf '%s' '1714532400.{"id":"m-1","conversation_id":"c-9","content":"hi"}' | openssl dgst -sha256 -hmac whsec_acme_1  # noqa: E501
ACME_V1 = "9e10287eb6140ab618d587ff994c12c9d2016450b04de3d1d7ceb987db185bec"
# printf '%s' '1714532400.{"id":"m-1","conversation_id":"c-9","content":"hi"}' | openssl dgst -sha256 -hmac whsec_globex_1  # noqa: E501
GLOBEX_V1 = "6157d7cf3e1a456d9abbecb8b868601fe5c1a9bbc12174907c08557155114937"

VALID = f"t={T},v1={ACME_V1}"


def check_partner(
    header: str | None,
    body: bytes = PARTNER_BODY,
    secrets: tuple[str, ...] = (ACME_SECRET,),
    now_s: float = T,
) -> None:
    verify_partner(header, body, secrets=secrets, now_s=now_s, window_s=WINDOW_S)


def partner_reason(
    header: str | None,
    body: bytes = PARTNER_BODY,
    secrets: tuple[str, ...] = (ACME_SECRET,),
    now_s: float = T,
) -> str:
    with pytest.raises(SignatureError) as caught:
        check_partner(header, body, secrets, now_s)
    return caught.value.reason


def test_partner_accepts_the_signature_of_the_body() -> None:
    check_partner(VALID)


def test_partner_accepts_upper_case_hex_and_spaces() -> None:
    check_partner(f" t={T} , v1={ACME_V1.upper()} ")


def test_partner_refuses_a_tampered_body() -> None:
    assert partner_reason(VALID, body=PARTNER_BODY.replace(b"hi", b"ho")) == "bad_signature"


def test_partner_refuses_a_wrong_secret() -> None:
    assert partner_reason(VALID, secrets=("whsec_wrong",)) == "bad_signature"


def test_partner_refuses_another_tenants_signature() -> None:
    assert partner_reason(f"t={T},v1={GLOBEX_V1}") == "bad_signature"


def test_partner_refuses_when_the_tenant_has_no_secret() -> None:
    assert partner_reason(VALID, secrets=()) == "bad_signature"


@pytest.mark.parametrize("header", [None, ""])
def test_partner_refuses_a_missing_header(header: str | None) -> None:
    assert partner_reason(header) == "missing_signature"


@pytest.mark.parametrize(
    "header",
    [
        f"v1={ACME_V1}",  # no t
        f"t={T}",  # no v1
        f"t={T},v2={ACME_V1}",  # no v1 either
        f"t=yesterday,v1={ACME_V1}",  # t not an integer
        f"t={T}.5,v1={ACME_V1}",  # nor a decimal
        f"t=,v1={ACME_V1}",
        ACME_V1,  # a bare digest
    ],
)
def test_partner_refuses_a_malformed_header(header: str) -> None:
    assert partner_reason(header) == "malformed_signature"


def test_partner_refuses_a_stale_timestamp() -> None:
    assert partner_reason(VALID, now_s=T + WINDOW_S + 1) == "stale_timestamp"


def test_partner_refuses_a_timestamp_in_the_future() -> None:
    assert partner_reason(VALID, now_s=T - WINDOW_S - 1) == "stale_timestamp"


@pytest.mark.parametrize("now_s", [T + WINDOW_S, T - WINDOW_S])
def test_partner_accepts_a_timestamp_exactly_at_the_window_edge(now_s: float) -> None:
    check_partner(VALID, now_s=now_s)


def test_partner_accepts_one_matching_v1_among_several() -> None:
    check_partner(f"t={T},v1={GLOBEX_V1},v1={ACME_V1},v1=00")


def test_partner_accepts_the_second_secret_while_one_rotates() -> None:
    check_partner(VALID, secrets=("whsec_acme_0", ACME_SECRET))


def test_partner_refuses_a_huge_timestamp_as_a_signature_error() -> None:
    # now_s is a float, as time.time() is in the gateway (int - int would not overflow).
    assert partner_reason(f"t=1{'0' * 400},v1={ACME_V1}", now_s=float(T)) in {
        "malformed_signature",
        "stale_timestamp",
    }


def test_partner_refuses_a_timestamp_with_underscores() -> None:
    assert partner_reason(f"t=1_714_532_400,v1={ACME_V1}") == "malformed_signature"
