//! Just enough DER to read a certificate's `notAfter` (blackbox's
//! `probe_ssl_earliest_cert_expiry`): pure, bounds-checked, `None` on anything unexpected.

/// One DER element: (tag, contents, rest of the input).
fn element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// `notAfter` of a DER certificate, as Unix seconds.
pub fn not_after(der: &[u8]) -> Option<i64> {
    const SEQUENCE: u8 = 0x30;
    let (SEQUENCE, certificate, _) = element(der)? else {
        return None;
    };
    let (SEQUENCE, tbs, _) = element(certificate)? else {
        return None;
    };
    let mut rest = tbs;
    // [0] EXPLICIT version is optional.
    if rest.first() == Some(&0xa0) {
        rest = element(rest)?.2;
    }
    // serialNumber, signature, issuer; then validity.
    for _ in 0..3 {
        rest = element(rest)?.2;
    }
    let (SEQUENCE, validity, _) = element(rest)? else {
        return None;
    };
    let (_, _, after_not_before) = element(validity)?;
    let (tag, time, _) = element(after_not_before)?;
    parse_time(tag, std::str::from_utf8(time).ok()?)
}

/// UTCTime (`YYMMDDHHMMSSZ`, 0x17) or GeneralizedTime (`YYYYMMDDHHMMSSZ`, 0x18).
fn parse_time(tag: u8, text: &str) -> Option<i64> {
    let digits = text.strip_suffix('Z')?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (year, rest) = match (tag, digits.len()) {
        (0x17, 12) => {
            let yy: i64 = digits[..2].parse().ok()?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &digits[2..])
        }
        (0x18, 14) => (digits[..4].parse().ok()?, &digits[4..]),
        _ => return None,
    };
    let field = |i: usize| rest[i..i + 2].parse::<i64>().ok();
    let (month, day, hour, minute, second) =
        (field(0)?, field(2)?, field(4)?, field(6)?, field(8)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    Some(
        crate::base::clock::days_from_civil(year, month, day) * 86400
            + hour * 3600
            + minute * 60
            + second,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;

    /// Self-signed, CN=probe.example.test, notAfter=Nov 19 01:42:04 2036 GMT (openssl x509 -enddate).
    const CERT: &str = "-----BEGIN CERTIFICATE-----
MIIDGzCCAgOgAwIBAgIUBNiVMi8MJ8TkhBEFeODSBegMe9YwDQYJKoZIhvcNAQEL
BQAwHTEbMBkGA1UEAwwScHJvYmUuZXhhbXBsZS50ZXN0MB4XDTI2MTEyMjAxNDIw
NFoXDTM2MTExOTAxNDIwNFowHTEbMBkGA1UEAwwScHJvYmUuZXhhbXBsZS50ZXN0
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAoR9nZvsF10hkOhpn8Swe
yyfOe53Q14eWLEIPkHx3V6isiFOMbOafeDgw4e1jKSi5r+TkI3VbwZ8Lahzvou4t
vaXO3TpV2W0VK1RlKrxOcZHEFjyh7Se4fEVGr1Ue24HKMPmh3z8eZH7koX5jhsBX
JmI6VvqhnTexJhNy7w0ox+aZkh4l4m/uWHmIEg9qjajFnMrMzNisr5LRZcNeWEPe
plu03ZA5spfKCTAQoUbUTWPIBk6S2C1d+NPMXRgmyLyGoXUXqVYjt2ZbQZ7PAPbb
OHyL+67vpnjlhyBYexXzVOFNiF9RFp6Dmaq/FGHKdRRpoX0uBv88RPV13m0hWLMg
0wIDAQABo1MwUTAdBgNVHQ4EFgQUhnM/hMCnTsV78EwXqdzoWGghu3swHwYDVR0j
BBgwFoAUhnM/hMCnTsV78EwXqdzoWGghu3swDwYDVR0TAQH/BAUwAwEB/zANBgkq
hkiG9w0BAQsFAAOCAQEABrW6uvpy/HRgasQYB7mtfYNuoUc+KPQ19ljobuVhDuVD
a57rPVB45PHKV9QiCuhod8/7Um56GA+b/Iv8MuoEWnDBYyTq4KG/cEuS0Owf8EMz
bAy1wnYAKkWb0/UP9rJUwVOFaD0++BkFn78Lj/lgaPQc7pmrLxIP4+22sO43xmZO
SShArByZ4hWg3917P6dD3I+CIUuRaykDnKKu9tdZPGVrrHj8kvm56qLWnCcItpCB
pXRW9pwhdcgvgM9yoOKoBzGUy2iOEjdbWHKoWE7zIzXFxD2V/W7bMthTl8ZrpuzX
BsvJC9peQi/YGYoojLfe8BJfA/wxSHYF9aOWn61+Fg==
-----END CERTIFICATE-----
";

    #[test]
    fn reads_not_after_of_a_real_certificate() {
        let der = CertificateDer::from_pem_slice(CERT.as_bytes()).unwrap();
        // date -u -d '2036-11-19 01:42:04' +%s
        assert_eq!(not_after(&der), Some(2110671724));
    }

    #[test]
    fn times_and_garbage() {
        assert_eq!(parse_time(0x17, "700101000000Z"), Some(0));
        assert_eq!(parse_time(0x18, "20000301000000Z"), Some(951868800));
        assert_eq!(parse_time(0x17, "491231235959Z"), Some(2524607999));
        for bad in [
            "",
            "Z",
            "7001010000Z",
            "701301000000Z",
            "70010100000aZ",
            "700101000000",
        ] {
            assert_eq!(parse_time(0x17, bad), None, "{bad:?}");
        }
        for garbage in [
            &b""[..],
            b"\x30",
            b"\x30\x85\xff\xff\xff\xff\xff",
            b"\x30\x03\x30\x01",
            b"\x02\x01\x00",
        ] {
            assert_eq!(not_after(garbage), None);
        }
    }
}
