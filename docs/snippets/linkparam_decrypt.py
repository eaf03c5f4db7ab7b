"""Opens Handbill's encrypted link parameter (XChaCha20-Poly1305, libsodium) on a website.

    pip install pynacl
    python3 linkparam_decrypt.py KEY_HEX TOKEN   # prints the contact fields as JSON
"""
import base64
import json
import sys

from nacl.bindings import crypto_aead_xchacha20poly1305_ietf_decrypt
from nacl.exceptions import CryptoError


def open_link_parameter(key_hex: str, token: str):
    """The contact fields in the parameter, or None when it was not made with this key."""
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    nonce, sealed = raw[:24], raw[24:]
    try:
        plain = crypto_aead_xchacha20poly1305_ietf_decrypt(sealed, None, nonce, bytes.fromhex(key_hex))
    except CryptoError:
        return None
    return json.loads(plain)


if __name__ == "__main__":
    fields = open_link_parameter(sys.argv[1], sys.argv[2])
    if fields is None:
        sys.exit("not a parameter of this key")
    print(json.dumps(fields, sort_keys=True))
