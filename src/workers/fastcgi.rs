//! Just enough FastCGI (one GET as a responder) to read PHP-FPM's status page.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

const VERSION: u8 = 1;
const BEGIN_REQUEST: u8 = 1;
const END_REQUEST: u8 = 3;
const PARAMS: u8 = 4;
const STDIN: u8 = 5;
const STDOUT: u8 = 6;
const STDERR: u8 = 7;
const RESPONDER: u16 = 1;
const REQUEST_ID: u16 = 1;

fn record(kind: u8, content: &[u8], out: &mut Vec<u8>) {
    let len = u16::try_from(content.len()).expect("records are built from short params");
    out.extend_from_slice(&[VERSION, kind]);
    out.extend_from_slice(&REQUEST_ID.to_be_bytes());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&[0, 0]); // no padding, reserved
    out.extend_from_slice(content);
}

fn param_len(len: usize, out: &mut Vec<u8>) {
    if len < 128 {
        out.push(len as u8);
    } else {
        out.extend_from_slice(&(len as u32 | 0x8000_0000).to_be_bytes());
    }
}

/// The bytes of a GET of `path?query`, the way a web server sends it: `SCRIPT_NAME` must
/// equal `pm.status_path` and `SCRIPT_FILENAME` must be non-empty, or FPM answers 404.
pub fn encode_get(path: &str, query: &str) -> Vec<u8> {
    let uri = if query.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{query}")
    };
    let params = [
        ("GATEWAY_INTERFACE", "CGI/1.1"),
        ("SERVER_SOFTWARE", "gateway-exporter"),
        ("SERVER_PROTOCOL", "HTTP/1.1"),
        ("REQUEST_METHOD", "GET"),
        ("SCRIPT_NAME", path),
        ("SCRIPT_FILENAME", path),
        ("REQUEST_URI", &uri),
        ("DOCUMENT_URI", path),
        ("QUERY_STRING", query),
        ("REMOTE_ADDR", "127.0.0.1"),
    ];
    let mut body = Vec::new();
    for (name, value) in params {
        param_len(name.len(), &mut body);
        param_len(value.len(), &mut body);
        body.extend_from_slice(name.as_bytes());
        body.extend_from_slice(value.as_bytes());
    }
    let mut out = Vec::with_capacity(body.len() + 64);
    let mut begin = RESPONDER.to_be_bytes().to_vec();
    begin.extend_from_slice(&[0, 0, 0, 0, 0, 0]); // flags 0: close after this request
    record(BEGIN_REQUEST, &begin, &mut out);
    for chunk in body.chunks(65535) {
        record(PARAMS, chunk, &mut out);
    }
    record(PARAMS, &[], &mut out);
    record(STDIN, &[], &mut out);
    out
}

/// A CGI response: status code (from `Status:`, default 200) and body.
#[derive(Debug, PartialEq)]
pub struct CgiResponse {
    pub status: u16,
    pub body: Vec<u8>,
}

/// Split CGI headers from the body.
pub fn parse_cgi(stdout: &[u8]) -> Result<CgiResponse, String> {
    let (head, body) = match memchr::memmem::find(stdout, b"\r\n\r\n") {
        Some(i) => (&stdout[..i], &stdout[i + 4..]),
        None => match memchr::memmem::find(stdout, b"\n\n") {
            Some(i) => (&stdout[..i], &stdout[i + 2..]),
            None => return Err("FastCGI reply has no header block".into()),
        },
    };
    let head = String::from_utf8_lossy(head);
    let mut status = 200;
    for line in head.lines() {
        if let Some((name, value)) = line.split_once(':')
            && name.trim().eq_ignore_ascii_case("status")
        {
            status = value
                .split_whitespace()
                .next()
                .and_then(|c| c.parse().ok())
                .ok_or_else(|| format!("bad Status header {line:?}"))?;
        }
    }
    Ok(CgiResponse {
        status,
        body: body.to_vec(),
    })
}

/// Why a FastCGI exchange failed.
#[derive(Debug)]
pub enum FastcgiError {
    Write(std::io::Error),
    /// The server closed or broke the connection before END_REQUEST.
    CutShort(std::io::Error),
    /// The first byte is not FastCGI's version: something else listens there.
    NotFastcgi(u8),
    UnexpectedRecord(u8),
    TooLarge(usize),
    /// The CGI answer inside the records is malformed.
    Cgi(String),
}

impl std::fmt::Display for FastcgiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FastcgiError::Write(e) => write!(f, "FastCGI write: {e}"),
            FastcgiError::CutShort(e) => write!(f, "FastCGI reply cut short: {e}"),
            FastcgiError::NotFastcgi(v) => write!(f, "not a FastCGI reply (version byte {v})"),
            FastcgiError::UnexpectedRecord(t) => write!(f, "unexpected FastCGI record type {t}"),
            FastcgiError::TooLarge(cap) => write!(f, "FastCGI reply larger than {cap} bytes"),
            FastcgiError::Cgi(e) => f.write_str(e),
        }
    }
}

/// Send one GET and collect STDOUT until END_REQUEST, at most `cap` bytes.
pub async fn exchange<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    stream: &mut S,
    path: &str,
    query: &str,
    cap: usize,
) -> Result<CgiResponse, FastcgiError> {
    stream
        .write_all(&encode_get(path, query))
        .await
        .map_err(FastcgiError::Write)?;
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    loop {
        let mut header = [0u8; 8];
        stream
            .read_exact(&mut header)
            .await
            .map_err(FastcgiError::CutShort)?;
        if header[0] != VERSION {
            return Err(FastcgiError::NotFastcgi(header[0]));
        }
        let len = u16::from_be_bytes([header[4], header[5]]) as usize;
        let padding = header[6] as usize;
        let mut content = vec![0u8; len + padding];
        stream
            .read_exact(&mut content)
            .await
            .map_err(FastcgiError::CutShort)?;
        content.truncate(len);
        match header[1] {
            STDOUT => stdout.extend_from_slice(&content),
            STDERR => stderr.extend_from_slice(&content),
            END_REQUEST => break,
            other => return Err(FastcgiError::UnexpectedRecord(other)),
        }
        if stdout.len() + stderr.len() > cap {
            return Err(FastcgiError::TooLarge(cap));
        }
    }
    let mut response = parse_cgi(&stdout).map_err(FastcgiError::Cgi)?;
    if response.body.is_empty() && !stderr.is_empty() {
        // FPM puts "Primary script unknown" and the like on STDERR.
        response.body = stderr;
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_params_and_records() {
        let bytes = encode_get("/status", "json&full");
        assert_eq!(&bytes[..8], &[1, BEGIN_REQUEST, 0, 1, 0, 8, 0, 0]);
        assert_eq!(&bytes[8..10], &RESPONDER.to_be_bytes());
        let params = &bytes[16..];
        assert_eq!(params[1], PARAMS);
        assert!(memchr::memmem::find(params, b"SCRIPT_NAME/status").is_some());
        assert!(memchr::memmem::find(params, b"QUERY_STRINGjson&full").is_some());
        // Ends with the empty PARAMS and the empty STDIN.
        assert_eq!(
            &bytes[bytes.len() - 16..],
            &[1, PARAMS, 0, 1, 0, 0, 0, 0, 1, STDIN, 0, 1, 0, 0, 0, 0]
        );
        let mut long = Vec::new();
        param_len(300, &mut long);
        assert_eq!(long, vec![0x80, 0, 1, 44]);
    }

    #[test]
    fn parses_cgi_replies() {
        let ok =
            parse_cgi(b"Content-type: application/json\r\nExpires: 0\r\n\r\n{\"pool\":1}").unwrap();
        assert_eq!(
            ok,
            CgiResponse {
                status: 200,
                body: b"{\"pool\":1}".to_vec()
            }
        );
        let missing = parse_cgi(b"Status: 404 Not Found\r\nContent-type: text/html; charset=UTF-8\r\n\r\nFile not found.\n").unwrap();
        assert_eq!(missing.status, 404);
        assert!(parse_cgi(b"no headers at all").is_err());
        assert!(parse_cgi(b"Status: abc\r\n\r\n").is_err());
    }

    #[tokio::test]
    async fn reads_records_and_refuses_garbage_and_huge_replies() {
        let mut reply = Vec::new();
        let out = b"Content-type: text/plain\r\n\r\npool: www\n";
        reply.extend_from_slice(&[1, STDOUT, 0, 1, 0, out.len() as u8, 3, 0]);
        reply.extend_from_slice(out);
        reply.extend_from_slice(&[0, 0, 0]); // padding
        reply.extend_from_slice(&[1, END_REQUEST, 0, 1, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        let (mut ours, mut theirs) = tokio::io::duplex(1 << 16);
        theirs.write_all(&reply).await.unwrap();
        let got = exchange(&mut ours, "/status", "", 1024).await.unwrap();
        assert_eq!(got.body, b"pool: www\n");

        let (mut ours, mut theirs) = tokio::io::duplex(1 << 16);
        theirs.write_all(b"HTTP/1.1 200 OK\r\n\r\n").await.unwrap();
        assert!(matches!(
            exchange(&mut ours, "/status", "", 1024).await.unwrap_err(),
            FastcgiError::NotFastcgi(b'H')
        ));

        let (mut ours, mut theirs) = tokio::io::duplex(1 << 20);
        for _ in 0..20 {
            theirs
                .write_all(&[1, STDOUT, 0, 1, 0, 100, 0, 0])
                .await
                .unwrap();
            theirs.write_all(&[b'x'; 100]).await.unwrap();
        }
        assert!(matches!(
            exchange(&mut ours, "/status", "", 1024).await.unwrap_err(),
            FastcgiError::TooLarge(1024)
        ));

        let (mut ours, mut theirs) = tokio::io::duplex(1 << 16);
        theirs
            .write_all(&[1, STDOUT, 0, 1, 0, 50, 0, 0, b'x'])
            .await
            .unwrap();
        theirs.shutdown().await.unwrap();
        assert!(matches!(
            exchange(&mut ours, "/status", "", 1024).await.unwrap_err(),
            FastcgiError::CutShort(_)
        ));
    }
}
