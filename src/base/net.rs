//! The one `host:port` parser.

use std::fmt;

/// Why an address was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddressError {
    /// `[::1` without its bracket, or nothing at all.
    Malformed(String),
    BadPort(String),
    MissingPort(String),
    MissingHost(String),
}

impl fmt::Display for AddressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AddressError::Malformed(t) => write!(f, "bad address {t:?}"),
            AddressError::BadPort(t) => write!(f, "bad port in {t:?}"),
            AddressError::MissingPort(t) => write!(f, "address {t:?} needs a port"),
            AddressError::MissingHost(t) => write!(f, "address {t:?} has no host"),
        }
    }
}

impl std::error::Error for AddressError {}

/// Split `host:port` or `[v6]:port` (brackets removed from the host). `default_port` fills
/// a missing port when nonzero; port 0 is refused.
pub fn parse_host_port(text: &str, default_port: u16) -> Result<(String, u16), AddressError> {
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| AddressError::Malformed(text.into()))?;
        match after {
            "" => (host, None),
            _ => (
                host,
                Some(
                    after
                        .strip_prefix(':')
                        .ok_or_else(|| AddressError::Malformed(text.into()))?,
                ),
            ),
        }
    } else {
        match text.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') => (h, Some(p)),
            _ => (text, None),
        }
    };
    let port = match port {
        Some(p) => match p.parse::<u16>() {
            Ok(p) if p > 0 => p,
            _ => return Err(AddressError::BadPort(text.into())),
        },
        None if default_port != 0 => default_port,
        None => return Err(AddressError::MissingPort(text.into())),
    };
    if host.is_empty() {
        return Err(AddressError::MissingHost(text.into()));
    }
    Ok((host.to_string(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_table() {
        let ok = |t: &str, d: u16| parse_host_port(t, d).unwrap();
        assert_eq!(ok("10.0.0.1:8080", 0), ("10.0.0.1".into(), 8080));
        assert_eq!(ok("[::1]:443", 0), ("::1".into(), 443));
        assert_eq!(ok("[::1]", 80), ("::1".into(), 80));
        assert_eq!(ok("origin.test", 80), ("origin.test".into(), 80));
        assert_eq!(ok("localhost:9000", 0), ("localhost".into(), 9000));
        for (bad, want) in [
            (
                "origin.test",
                AddressError::MissingPort("origin.test".into()),
            ),
            ("x:notaport", AddressError::BadPort("x:notaport".into())),
            ("x:0", AddressError::BadPort("x:0".into())),
            ("x:70000", AddressError::BadPort("x:70000".into())),
            (":80", AddressError::MissingHost(":80".into())),
            ("[::1", AddressError::Malformed("[::1".into())),
            ("[::1]x", AddressError::Malformed("[::1]x".into())),
            ("::1", AddressError::MissingPort("::1".into())),
        ] {
            assert_eq!(parse_host_port(bad, 0), Err(want), "{bad}");
        }
    }
}
