// Opens Handbill's encrypted link parameter (XChaCha20-Poly1305) in Node.js or a bundler,
// with @noble/ciphers (npm install @noble/ciphers). Returns the contact fields, or null when
// the parameter was not made with this key or was altered.
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { hexToBytes } from '@noble/ciphers/utils.js';

export function openLinkParameter(keyHex, token) {
  const b64 = token.replace(/-/g, '+').replace(/_/g, '/');
  const raw = Uint8Array.from(atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4)), (c) => c.charCodeAt(0));
  const nonce = raw.slice(0, 24);
  try {
    const plain = xchacha20poly1305(hexToBytes(keyHex), nonce).decrypt(raw.slice(24));
    return JSON.parse(new TextDecoder().decode(plain));
  } catch {
    return null;
  }
}

// const fields = openLinkParameter(process.env.HANDBILL_LINK_KEY, new URL(url).searchParams.get('hb'));
