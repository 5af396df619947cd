//! OpenSSL's subject name hash (`openssl x509 -hash`, the `HASH.0` links of
//! `openssl rehash`), computed from a certificate's DER.
//!
//! `X509_NAME_hash_ex` is the first four bytes (little-endian) of the SHA-1
//! of the name's *canonical* encoding: every string value that is one of the
//! "text" types is converted to UTF-8, stripped of leading and trailing
//! whitespace, runs of whitespace collapsed to one space and ASCII
//! lower-cased, and re-encoded as a UTF8String; each RDN is DER-encoded as a
//! SET (members sorted); and the outer SEQUENCE header is left out.

use base64::Engine;
use sha1::{Digest, Sha1};

/// One DER element.
struct Tlv<'a> {
    tag: u8,
    content: &'a [u8],
    whole: &'a [u8],
}

fn read_tlv(buf: &[u8]) -> Option<(Tlv<'_>, &[u8])> {
    let tag = *buf.first()?;
    if tag & 0x1f == 0x1f {
        return None;
    }
    let first = *buf.get(1)?;
    let (len, header) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for &b in buf.get(2..2 + n)? {
            len = (len << 8) | usize::from(b);
        }
        (len, 2 + n)
    };
    let end = header.checked_add(len)?;
    let whole = buf.get(..end)?;
    Some((
        Tlv {
            tag,
            content: &whole[header..],
            whole,
        },
        &buf[end..],
    ))
}

fn write_tlv(out: &mut Vec<u8>, tag: u8, content: &[u8]) {
    out.push(tag);
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
}

/// The DER of the subject name (`Name`) of a DER certificate.
fn subject_der(cert: &[u8]) -> Option<&[u8]> {
    let (certificate, _) = read_tlv(cert)?;
    let (tbs, _) = read_tlv(certificate.content)?;
    let mut rest = tbs.content;
    let (first, r) = read_tlv(rest)?;
    rest = r;
    if first.tag == 0xa0 {
        // [0] version; the serial number follows.
        let (_, r) = read_tlv(rest)?;
        rest = r;
    }
    // signature algorithm, issuer, validity, subject
    let (_, r) = read_tlv(rest)?;
    let (_, r) = read_tlv(r)?;
    let (_, r) = read_tlv(r)?;
    let (subject, _) = read_tlv(r)?;
    (subject.tag == 0x30).then_some(subject.content)
}

fn to_utf8(tag: u8, content: &[u8]) -> Option<String> {
    match tag {
        0x0c => String::from_utf8(content.to_vec()).ok(),
        // PrintableString, T61String, IA5String, VisibleString: one byte per
        // character, read as Latin-1 like ASN1_STRING_to_UTF8.
        0x13 | 0x14 | 0x16 | 0x1a => Some(content.iter().map(|&b| char::from(b)).collect()),
        0x1e => {
            if !content.len().is_multiple_of(2) {
                return None;
            }
            let units: Vec<u16> = content
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            // OpenSSL reads BMPString as UCS-2: surrogates are refused.
            units
                .iter()
                .map(|&u| char::from_u32(u32::from(u)))
                .collect()
        }
        0x1c => {
            if !content.len().is_multiple_of(4) {
                return None;
            }
            content
                .chunks_exact(4)
                .map(|c| char::from_u32(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
                .collect()
        }
        _ => None,
    }
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// `asn1_string_canon` of OpenSSL's `x_name.c`.
fn canon_string(utf8: &[u8]) -> Vec<u8> {
    let mut from = utf8;
    while let [first, rest @ ..] = from {
        if is_space(*first) {
            from = rest;
        } else {
            break;
        }
    }
    while let [rest @ .., last] = from {
        if is_space(*last) {
            from = rest;
        } else {
            break;
        }
    }
    let mut out = Vec::with_capacity(from.len());
    let mut i = 0;
    while i < from.len() {
        let b = from[i];
        if !b.is_ascii() {
            out.push(b);
            i += 1;
        } else if is_space(b) {
            out.push(b' ');
            while i < from.len() && is_space(from[i]) {
                i += 1;
            }
        } else {
            out.push(b.to_ascii_lowercase());
            i += 1;
        }
    }
    out
}

/// The canonical encoding of a `Name`'s content (the RDN sequence).
fn canon_name(mut rdns: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    while !rdns.is_empty() {
        let (rdn, rest) = read_tlv(rdns)?;
        rdns = rest;
        if rdn.tag != 0x31 {
            return None;
        }
        let mut entries = Vec::new();
        let mut atvs = rdn.content;
        while !atvs.is_empty() {
            let (atv, rest) = read_tlv(atvs)?;
            atvs = rest;
            let (oid, rest) = read_tlv(atv.content)?;
            let (value, _) = read_tlv(rest)?;
            let mut entry = oid.whole.to_vec();
            match to_utf8(value.tag, value.content) {
                Some(s) => write_tlv(&mut entry, 0x0c, &canon_string(s.as_bytes())),
                None if matches!(value.tag, 0x0c | 0x13 | 0x14 | 0x16 | 0x1a | 0x1c | 0x1e) => {
                    return None
                }
                None => entry.extend_from_slice(value.whole),
            }
            let mut seq = Vec::new();
            write_tlv(&mut seq, 0x30, &entry);
            entries.push(seq);
        }
        entries.sort();
        write_tlv(&mut out, 0x31, &entries.concat());
    }
    Some(out)
}

/// OpenSSL's subject name hash of a DER certificate (`openssl x509 -hash`),
/// or `None` if the DER cannot be read.
pub fn subject_hash(der: &[u8]) -> Option<u32> {
    let canon = canon_name(subject_der(der)?)?;
    let md = Sha1::digest(&canon);
    Some(u32::from_le_bytes([md[0], md[1], md[2], md[3]]))
}

/// The DER of every `CERTIFICATE` block of a PEM text.
pub(crate) fn pem_certificates(pem: &str) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut rest = pem;
    while let Some(start) = rest.find("-----BEGIN CERTIFICATE-----") {
        let body = &rest[start + "-----BEGIN CERTIFICATE-----".len()..];
        let Some(end) = body.find("-----END CERTIFICATE-----") else {
            break;
        };
        let b64: String = body[..end].chars().filter(|c| !c.is_whitespace()).collect();
        if let Ok(der) = base64::engine::general_purpose::STANDARD.decode(b64) {
            out.push(der);
        }
        rest = &body[end..];
    }
    out
}

/// SHA-1 of a certificate's DER (the fingerprint `openssl rehash` uses to
/// skip duplicates).
pub(crate) fn fingerprint(der: &[u8]) -> [u8; 20] {
    Sha1::digest(der).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canon_collapses_and_lowercases() {
        assert_eq!(canon_string(b"  Foo   BAR\tz "), b"foo bar z");
        assert_eq!(canon_string("Ä B".as_bytes()), "Ä b".as_bytes());
    }
}
