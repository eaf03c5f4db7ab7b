//! DKIM signing (RFC 6376, with `mail-auth`): every outgoing message whose From domain is the
//! configured signing domain (or below it) is signed with an RSA or Ed25519 key, covering
//! the headers a receiver checks, List-Unsubscribe and List-Unsubscribe-Post included
//! (RFC 8058 asks for that). RSA signing costs about a millisecond per message; Ed25519 a few
//! microseconds.

use mail_auth::common::crypto::{Ed25519Key, RsaKey, Sha256};
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dkim::{DkimSigner, Done};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::PrivateKeyDer;

/// Headers covered by the signature (absent ones are signed as absent, so they cannot be
/// added later).
const SIGNED: &[&str] = &[
    "From",
    "Reply-To",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "MIME-Version",
    "Content-Type",
    "List-Id",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "Feedback-ID",
];

enum Signer {
    Rsa(DkimSigner<RsaKey<Sha256>, Done>),
    Ed25519(DkimSigner<Ed25519Key, Done>),
}

pub struct Dkim {
    domain: String,
    selector: String,
    signer: Signer,
    /// The TXT record receivers look the public key up in.
    record: String,
}

impl std::fmt::Debug for Dkim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DKIM {}._domainkey.{}", self.selector, self.domain)
    }
}

impl Dkim {
    /// Reads a PEM private key: `RSA PRIVATE KEY` (PKCS#1), or `PRIVATE KEY` (PKCS#8, RSA or
    /// Ed25519).
    pub fn new(domain: &str, selector: &str, pem: &str) -> Result<Self, String> {
        let key = PrivateKeyDer::from_pem_slice(pem.as_bytes())
            .map_err(|_| "the DKIM key file holds no PEM private key".to_string())?;
        let domain = domain.to_ascii_lowercase();
        // Each signer with the TXT value that publishes its public half.
        let rsa = |k: RsaKey<Sha256>| {
            let record = public_record("rsa", &rsa_spki(&k.public_key()));
            let signer = DkimSigner::from_key(k)
                .domain(&domain)
                .selector(selector)
                .headers(SIGNED.iter().copied());
            (Signer::Rsa(signer), record)
        };
        let (signer, record) = match key {
            PrivateKeyDer::Pkcs8(der) => {
                match Ed25519Key::from_pkcs8_maybe_unchecked_der(der.secret_pkcs8_der()) {
                    Ok(k) => {
                        let record = public_record("ed25519", &k.public_key());
                        let signer = DkimSigner::from_key(k)
                            .domain(&domain)
                            .selector(selector)
                            .headers(SIGNED.iter().copied());
                        (Signer::Ed25519(signer), record)
                    }
                    Err(_) => RsaKey::<Sha256>::from_key_der(PrivateKeyDer::Pkcs8(der))
                        .map(rsa)
                        .map_err(|e| format!("the DKIM key is neither Ed25519 nor RSA: {e}"))?,
                }
            }
            rsa_key @ PrivateKeyDer::Pkcs1(_) => RsaKey::<Sha256>::from_key_der(rsa_key)
                .map(rsa)
                .map_err(|e| e.to_string())?,
            _ => return Err("unsupported DKIM key type (use an RSA or Ed25519 key)".into()),
        };
        Ok(Self {
            domain,
            selector: selector.to_string(),
            signer,
            record,
        })
    }

    /// The DNS record to publish: its name (`SELECTOR._domainkey.DOMAIN`) and TXT value.
    pub fn dns_record(&self) -> (String, String) {
        (
            format!("{}._domainkey.{}", self.selector, self.domain),
            self.record.clone(),
        )
    }

    /// Whether mail from `from` is signed (its domain is the signing domain or below it).
    pub fn covers(&self, from: &str) -> bool {
        let d = from.rsplit('@').next().unwrap_or("").to_ascii_lowercase();
        d == self.domain || d.ends_with(&format!(".{}", self.domain))
    }

    /// The message with its DKIM-Signature header in front.
    pub fn sign(&self, raw: &[u8]) -> Result<Vec<u8>, String> {
        let header = match &self.signer {
            Signer::Rsa(s) => s.sign(raw).map(|s| s.to_header()),
            Signer::Ed25519(s) => s.sign(raw).map(|s| s.to_header()),
        }
        .map_err(|e| e.to_string())?;
        let mut out = Vec::with_capacity(header.len() + raw.len());
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(raw);
        Ok(out)
    }
}

/// The `v=DKIM1` TXT value for a public key: RSA as a SubjectPublicKeyInfo (what
/// `openssl rsa -pubout` gives), Ed25519 as its 32 bytes (RFC 8463).
fn public_record(kind: &str, public: &[u8]) -> String {
    use base64::Engine;
    let p = base64::engine::general_purpose::STANDARD.encode(public);
    format!("v=DKIM1; k={kind}; p={p}")
}

/// An RSAPublicKey (PKCS#1, DER) wrapped as a SubjectPublicKeyInfo.
fn rsa_spki(rsa_public: &[u8]) -> Vec<u8> {
    fn der(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        let n = body.len();
        if n < 0x80 {
            out.push(n as u8);
        } else {
            let bytes: Vec<u8> = n
                .to_be_bytes()
                .into_iter()
                .skip_while(|b| *b == 0)
                .collect();
            out.push(0x80 | bytes.len() as u8);
            out.extend(bytes);
        }
        out.extend_from_slice(body);
        out
    }
    // AlgorithmIdentifier { rsaEncryption (1.2.840.113549.1.1.1), NULL }
    const RSA_ALGORITHM: [u8; 15] = [
        0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
    ];
    let mut bits = vec![0u8];
    bits.extend_from_slice(rsa_public);
    let mut body = RSA_ALGORITHM.to_vec();
    body.extend(der(0x03, &bits));
    der(0x30, &body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    #[test]
    fn signs_with_ed25519_over_the_unsubscribe_headers() {
        let pkcs8 = Ed25519Key::generate_pkcs8().unwrap();
        let pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            base64::engine::general_purpose::STANDARD.encode(&pkcs8)
        );
        let d = Dkim::new("venue.test", "hb1", &pem).unwrap();
        assert!(
            d.covers("news@venue.test")
                && d.covers("a@mail.venue.test")
                && !d.covers("a@othervenue.test")
        );
        let raw = b"From: news@venue.test\r\nTo: a@example.nl\r\nSubject: Hi\r\nList-Unsubscribe: <https://x/u>\r\n\
                    List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n\r\nHello\r\n";
        let signed = String::from_utf8(d.sign(raw).unwrap()).unwrap();
        assert!(signed.starts_with("DKIM-Signature: "), "{signed}");
        let header: String = signed
            .split("\r\nFrom:")
            .next()
            .unwrap()
            .replace("\r\n", "")
            .replace([' ', '\t'], "");
        for tag in ["a=ed25519-sha256", "d=venue.test", "s=hb1", "bh=", "b="] {
            assert!(header.contains(tag), "{tag} in {header}");
        }
        let h = header.to_ascii_lowercase();
        let h = h.split("h=").nth(1).unwrap().split(';').next().unwrap();
        assert!(h.split(':').any(|x| x == "list-unsubscribe"), "{header}");
        assert!(
            h.split(':').any(|x| x == "list-unsubscribe-post"),
            "{header}"
        );
        assert!(signed.ends_with("\r\n\r\nHello\r\n"));
        let (name, value) = d.dns_record();
        assert_eq!(name, "hb1._domainkey.venue.test");
        let public = ring::signature::Ed25519KeyPair::from_pkcs8(&pkcs8).unwrap();
        assert_eq!(
            value,
            format!(
                "v=DKIM1; k=ed25519; p={}",
                base64::engine::general_purpose::STANDARD
                    .encode(ring::signature::KeyPair::public_key(&public))
            )
        );
        assert!(Dkim::new("venue.test", "s", "not a key").is_err());
    }

    /// A 2048-bit RSA test key (PKCS#1) and its public half as `openssl rsa -pubout` prints it.
    const RSA_PEM: &str = "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA5Qvmtk6DnCpJk/WWf9EYotnTPBveb3VuwDb8bG3og/VSEuSI\nxh2uWrn98vhQ3b6O9kyIRnSw+6KXXWWVhrvIB6uklqGXVw8WvutpLrokSsxTY28i\nYXxq+0dC5ffYAFHBZVC6UKsav3No9ahtvvo9ws6GLAIV7O+vex3mmv/7s9P7xpUM\nwtnRt0A+uim8q3+cHRcQK/iYHRlIOTzgdoNmeHzmBTeGZu4il9BCTVWUIbLvVLo9\nHfEatc6ArSLmsxTg5PGLUEgQw3ekPwV6DkykTtWDc8LzLubZ92j4D36DXFgQG4Y0\nf7aTsLy3yEDC2mE4Lw/43TTJAJE1Ag8wiFAB/wIDAQABAoIBAB9UFWZyLsY5cn7u\nZHtvGjOMH7xlA3OzWEaqPrSGA/uonmU/JQYUITj/n6CQHl92JQ/DQBCC/YItpw57\nSox3OtDxxT1lNNIPmkja4jQl+bjRYcaD+OvknK1p/dh+oejJRe6ZsCJAhRQSsRSI\nyRoKGFCA9xEl5+HUluf8GwKwaLkbz1/TvJTxJPv8iIFfcei59ZIOPGEewRc7OSc2\nzRn4hFseEO4fxH8PLyklCQlTjpd1IGt4Jx04rqP9KhC1y2UAQqGKd0/q70zlvM2K\niqbZVKdtBN8V2s06nk1HjVtEhuP57BUy31ZpQuCpG0ngR8QEKIdfxIpbqknHdeGY\n0AA628ECgYEA9lQifA2xgRhqui2UmDMsLznjHCnkCr3W3JBiuYYNSxoPq560XLvy\nmSoDTek+pb5PR47OTmtMy+B94CM+HNcyL/X8PabKuOYkk3WfCHQ0AyzUaJHLBVZI\nYvkWjQoHPuG4SMKx139sdf0QkBIvmQjWNTp+5rK7I2mH9DSmOzYh5mcCgYEA7goP\n+BIYYZvvUh4BOqBtEAOmsIOIb/UDH5+29XQgtQZlkrLNHK27uv9UfS09bj66XO6v\n4qn3Pwy5b5e4WSTG8U90iVa4Mkk/I+JvsPZl+wOR8jZPYQVbw+BW6YNMe2lZ+scY\ni8z7JJ2C6vema9Z1EBsOKRD+tjodBoMx2f042KkCgYBLye8iRARNN/n+dm+1tGjv\nztu1mp3zQB2Pl00Iz9nfNZGEuDu+HIWz4l1J523DCR7TYXjQX+ss/1E7WRyPOxbR\n8tk9Dshow0aVqCbaLwahw3VHBzRz2+xBp2ns0x0Pl9tfZ6fYKfhxBP/HlBDZAQMH\nNYw95tf1OU7/MAPFTA56GQKBgQDM+7VMtqhwRcwNNvFv/v5sL/i3QE2Zu6/455yy\nOlKAEQYfEgI3lBR5r66eLPsdmL77kD++PQdBMD/vrQN/IICBBR8htZ/hDdplmHT+\nOvEO+8AOiF5K+kZPozy00fBmxg5KOnEU0mvi2BEJLkIN0xvzxpinHI97dQfRt+CS\nC9GMIQKBgQDZQCQILHLCA2ZdQKBFPcMnq1Djunzpfum8Ez0obBocjqft68g/9Ulv\nEb/C1540g5LWKGhyNPiIqTjhdVClb4vijyNmsuNB7bggBekclCuHsZ7RmoSLJfV4\n9Xuli3c3wLHVJH4HFSCw717GjGe55XJ3KNoyHP51SZzHp/l7M5k5dQ==\n-----END RSA PRIVATE KEY-----\n";
    const RSA_PUBOUT: &str = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA5Qvmtk6DnCpJk/WWf9EYotnTPBveb3VuwDb8bG3og/VSEuSIxh2uWrn98vhQ3b6O9kyIRnSw+6KXXWWVhrvIB6uklqGXVw8WvutpLrokSsxTY28iYXxq+0dC5ffYAFHBZVC6UKsav3No9ahtvvo9ws6GLAIV7O+vex3mmv/7s9P7xpUMwtnRt0A+uim8q3+cHRcQK/iYHRlIOTzgdoNmeHzmBTeGZu4il9BCTVWUIbLvVLo9HfEatc6ArSLmsxTg5PGLUEgQw3ekPwV6DkykTtWDc8LzLubZ92j4D36DXFgQG4Y0f7aTsLy3yEDC2mE4Lw/43TTJAJE1Ag8wiFAB/wIDAQAB";

    #[test]
    fn the_dns_record_of_an_rsa_key_is_what_openssl_publishes() {
        let d = Dkim::new("Venue.test", "hb", RSA_PEM).unwrap();
        let (name, value) = d.dns_record();
        assert_eq!(name, "hb._domainkey.venue.test");
        assert_eq!(value, format!("v=DKIM1; k=rsa; p={RSA_PUBOUT}"));
    }
}
