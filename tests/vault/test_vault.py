import os
import secrets
from pathlib import Path

import pytest

from indiepay.vault.envelope import VaultError
from indiepay.vault.keyring import Vault, decode_kek, load_or_create_key_file

KEY = "-----BEGIN PRIVATE KEY-----\nMIIEvAIBADANBgkqhkiG9w0BAQEFAASCBKYwggSiAgEAAoIBAQC7\n-----END PRIVATE KEY-----\n"


def test_sealed_secret_opens_only_with_its_own_binding() -> None:
    vault = Vault(os.urandom(32))
    sealed = vault.seal(KEY, b"mch_a/acct_1/merchant_private_key")
    assert KEY not in str(sealed.as_dict())
    assert vault.open(sealed, b"mch_a/acct_1/merchant_private_key") == KEY
    with pytest.raises(VaultError):
        vault.open(sealed, b"mch_b/acct_1/merchant_private_key")  # moved to another merchant's row
    assert sealed.last4 == "AQC7"


def test_another_master_key_cannot_open() -> None:
    sealed = Vault(os.urandom(32)).seal("secret-value", b"aad")
    with pytest.raises(VaultError):
        Vault(os.urandom(32)).open(sealed, b"aad")


def test_key_file_is_created_0600_and_an_open_one_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    key = load_or_create_key_file(path)
    assert len(key) == 32 and (path.stat().st_mode & 0o777) == 0o600
    assert load_or_create_key_file(path) == key
    path.chmod(0o644)
    with pytest.raises(VaultError):
        load_or_create_key_file(path)


def test_master_key_must_be_32_bytes() -> None:
    assert len(decode_kek(secrets.token_urlsafe(32))) == 32
    with pytest.raises(VaultError):
        decode_kek(secrets.token_urlsafe(16))
