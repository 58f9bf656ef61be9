"""Re-wrapping a DEK under a new KEK keeps the value, its ciphertext and its binding; retired keys load."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from indiepay.vault.envelope import SealedSecret, VaultError
from indiepay.vault.keyring import Vault, kek_id_of
from tests.vault.keys import Kek, vault_of

A, B = Kek(), Kek()


@settings(max_examples=200, deadline=None)
@given(value=st.text(), aad=st.binary(max_size=200))
def test_rewrapped_secret_opens_to_the_same_plaintext(value: str, aad: bytes) -> None:
    sealed = vault_of(A).seal(value, aad)
    rotated = vault_of(B, A).rewrap(sealed)
    assert rotated.kek_id == kek_id_of(B.key) != sealed.kek_id
    assert rotated.ciphertext == sealed.ciphertext  # only the DEK's wrap changes
    assert (rotated.fingerprint, rotated.last4) == (sealed.fingerprint, sealed.last4)
    assert rotated.wrapped_dek != sealed.wrapped_dek
    assert vault_of(B).open(rotated, aad) == value  # B alone now opens it
    assert vault_of(B, A).rewrap(rotated) is rotated  # already current: untouched


def test_retired_keys_open_but_never_seal() -> None:
    vault = vault_of(B, A)
    assert vault.current_id == kek_id_of(B.key) and vault.retired_ids == {kek_id_of(A.key)}
    assert vault.seal("x", b"aad").kek_id == vault.current_id
    assert vault.open(vault_of(A).seal("old", b"aad"), b"aad") == "old"


def test_from_settings_loads_the_retired_keys(tmp_path: Path) -> None:
    c = Kek()
    vault = Vault.from_settings(B.text, tmp_path / "unused.key", f" {A.text}, ,{c.text},{B.text}")
    assert vault.current_id == kek_id_of(B.key)
    assert vault.retired_ids == {kek_id_of(A.key), kek_id_of(c.key)}  # the current one is not "retired"
    assert not (tmp_path / "unused.key").exists()
    assert Vault.from_settings(B.text, tmp_path / "unused.key").retired_ids == frozenset()


def test_a_malformed_retired_key_is_refused_without_echoing_it(tmp_path: Path) -> None:
    short = Kek().text[:20]
    with pytest.raises(VaultError) as caught:
        Vault.from_settings(B.text, tmp_path / "k", f"{A.text},{short}")
    assert caught.value.code == "invalid_master_key"
    assert "retired master key #2" in caught.value.message and short not in caught.value.message


def test_a_secret_wrapped_by_a_key_that_is_not_loaded_is_vault_key_missing() -> None:
    sealed = vault_of(A).seal("secret", b"aad")
    for action in (lambda: vault_of(B).open(sealed, b"aad"), lambda: vault_of(B).rewrap(sealed)):
        with pytest.raises(VaultError) as caught:
            action()
        assert caught.value.code == "vault_key_missing"
        assert caught.value.details == {"kek_id": kek_id_of(A.key)}


def test_a_wrap_relabelled_to_another_loaded_key_does_not_open() -> None:
    """The KEK id is the wrap's associated data: pointing a secret at another loaded KEK fails cleanly."""
    sealed = vault_of(A).seal("secret", b"aad")
    relabelled = SealedSecret(**{**sealed.as_dict(), "kek_id": kek_id_of(B.key)})
    with pytest.raises(VaultError) as caught:
        vault_of(B, A).open(relabelled, b"aad")
    assert caught.value.code == "vault_error"


def test_a_tampered_wrap_cannot_be_rewrapped() -> None:
    sealed = vault_of(A).seal("secret", b"aad")
    wrap = bytearray(base64.b64decode(sealed.wrapped_dek))
    wrap[-1] ^= 1
    tampered = SealedSecret(**{**sealed.as_dict(), "wrapped_dek": base64.b64encode(bytes(wrap)).decode()})
    with pytest.raises(VaultError) as caught:
        vault_of(B, A).rewrap(tampered)
    assert caught.value.code == "vault_error"
    assert "could not be unwrapped" in caught.value.message


def test_a_vault_built_from_raw_bytes_still_works() -> None:
    key = os.urandom(32)
    vault = Vault(key)
    assert vault.open(vault.seal("v", b"a"), b"a") == "v" and vault.retired_ids == frozenset()
