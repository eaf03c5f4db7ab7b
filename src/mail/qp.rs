//! Quoted-printable (RFC 2045 §6.7) for message bodies, written in one pass into one buffer:
//! line ends become CRLF, lines are broken softly before 76 characters, and only printable
//! ASCII (and inner spaces) stays as it is, so no encoded line comes near SMTP's 998 limit.

const HEX: &[u8; 16] = b"0123456789ABCDEF";
/// Longest encoded line, without the soft break's `=`.
const MAX_LINE: usize = 75;

/// The bytes that stay as they are wherever they stand: printable ASCII but `=`.
const PLAIN: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 33;
    while c <= 126 {
        t[c] = c != b'=' as usize;
        c += 1;
    }
    t
};

pub fn encode(input: &str) -> String {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 16 + 8);
    let mut line = 0;
    let mut i = 0;
    while i < bytes.len() {
        // A run of plain characters goes in one copy; a space or tab belongs to it when
        // something other than a line end follows it.
        let limit = (i + MAX_LINE - line).min(bytes.len());
        let mut end = i;
        while end < limit {
            let c = bytes[end];
            let plain = PLAIN[c as usize]
                || ((c == b' ' || c == b'\t')
                    && !matches!(bytes.get(end + 1), None | Some(b'\r' | b'\n')));
            if !plain {
                break;
            }
            end += 1;
        }
        let run = end - i;
        if run > 0 {
            out.extend_from_slice(&bytes[i..i + run]);
            line += run;
            i += run;
            continue;
        }
        let b = bytes[i];
        if b == b'\n' || (b == b'\r' && bytes.get(i + 1) == Some(&b'\n')) {
            out.extend_from_slice(b"\r\n");
            line = 0;
            i += if b == b'\r' { 2 } else { 1 };
            continue;
        }
        let at_line_end = matches!(bytes.get(i + 1), None | Some(b'\r' | b'\n'));
        let literal = PLAIN[b as usize] || ((b == b' ' || b == b'\t') && !at_line_end);
        let width = if literal { 1 } else { 3 };
        if line + width > MAX_LINE {
            out.extend_from_slice(b"=\r\n");
            line = 0;
        }
        if literal {
            out.push(b);
        } else {
            out.extend_from_slice(&[b'=', HEX[(b >> 4) as usize], HEX[(b & 15) as usize]]);
        }
        line += width;
        i += 1;
    }
    // Only ASCII was written.
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_and_wraps() {
        assert_eq!(
            encode("Hallo Zoë = 1\nbye "),
            "Hallo Zo=C3=AB =3D 1\r\nbye=20"
        );
        let long = "x".repeat(200);
        let e = encode(&long);
        assert!(e.lines().all(|l| l.len() <= 76), "{e}");
        assert_eq!(e.replace("=\r\n", ""), long);
        assert_eq!(encode("a\r\nb\rc"), "a\r\nb=0Dc");
        assert_eq!(encode("tab\there"), "tab\there");
    }
}
