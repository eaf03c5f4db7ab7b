<?php
// Opens Handbill's encrypted link parameter (XChaCha20-Poly1305) with PHP's built-in sodium
// extension (PHP 7.2+). Returns the contact fields, or null when the parameter was not made
// with this key or was altered.
function handbill_open_link_parameter(string $keyHex, string $token): ?array
{
    $raw = sodium_base642bin($token, SODIUM_BASE64_VARIANT_URLSAFE_NO_PADDING);
    $nonce = substr($raw, 0, SODIUM_CRYPTO_AEAD_XCHACHA20POLY1305_IETF_NPUBBYTES);
    $sealed = substr($raw, SODIUM_CRYPTO_AEAD_XCHACHA20POLY1305_IETF_NPUBBYTES);
    $plain = sodium_crypto_aead_xchacha20poly1305_ietf_decrypt($sealed, '', $nonce, sodium_hex2bin($keyHex));
    return $plain === false ? null : json_decode($plain, true);
}

// $fields = handbill_open_link_parameter(getenv('HANDBILL_LINK_KEY'), $_GET['hb'] ?? '');
