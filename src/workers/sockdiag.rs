//! Listen backlogs from the kernel over NETLINK_SOCK_DIAG (what `ss -l` reads), spoken with
//! libc directly. For a listener the kernel reports the accept queue (connections waiting for
//! `accept()`) and its limit (the backlog): the only honest queue figure for PHP-FPM on a unix
//! socket, and the one saturation signal for gunicorn, node and the rest. No privileges needed.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::PathBuf;

const NETLINK_SOCK_DIAG: i32 = 4;
const SOCK_DIAG_BY_FAMILY: u16 = 20;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_DUMP: u16 = 0x300;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const TCP_LISTEN: u32 = 10;
const UDIAG_SHOW_NAME: u32 = 1;
const UDIAG_SHOW_RQLEN: u32 = 0x10;
const UNIX_DIAG_NAME: u16 = 0;
const UNIX_DIAG_RQLEN: u16 = 4;

/// Where a listener listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenAddr {
    Unix(PathBuf),
    Tcp(SocketAddr),
}

/// One listening socket: `queue` connections wait for `accept()`, at most `limit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    pub addr: ListenAddr,
    pub queue: u32,
    pub limit: u32,
}

/// Every listening unix stream and TCP socket of this network namespace.
pub fn listeners() -> io::Result<Vec<Listener>> {
    // SAFETY: socket(2) takes no pointers; the result is checked before use.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
            NETLINK_SOCK_DIAG,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh, valid descriptor owned by nobody else; OwnedFd closes it.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // A bound on every read: the kernel answers at once, but never hang a scrape on it.
    let tv = libc::timeval {
        tv_sec: 1,
        tv_usec: 0,
    };
    // SAFETY: `tv` outlives the call and the length passed is its size.
    let set = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            &tv as *const _ as *const libc::c_void,
            std::mem::size_of::<libc::timeval>() as u32,
        )
    };
    if set != 0 {
        // Without the bound a silent kernel could hang the scrape: refuse to go on.
        return Err(io::Error::last_os_error());
    }
    let mut out = Vec::new();
    // struct unix_diag_req: family, protocol, pad, states, ino, show, cookie[2].
    let mut unix_req = vec![libc::AF_UNIX as u8, 0, 0, 0];
    unix_req.extend_from_slice(&(1u32 << TCP_LISTEN).to_ne_bytes());
    unix_req.extend_from_slice(&0u32.to_ne_bytes());
    unix_req.extend_from_slice(&(UDIAG_SHOW_NAME | UDIAG_SHOW_RQLEN).to_ne_bytes());
    unix_req.extend_from_slice(&[0xff; 8]);
    dump(&fd, &unix_req, 1, |msg| out.extend(parse_unix_msg(msg)))?;
    for family in [libc::AF_INET as u8, libc::AF_INET6 as u8] {
        // struct inet_diag_req_v2: family, protocol, ext, pad, states, inet_diag_sockid (48 bytes).
        let mut req = vec![family, libc::IPPROTO_TCP as u8, 0, 0];
        req.extend_from_slice(&(1u32 << TCP_LISTEN).to_ne_bytes());
        req.extend_from_slice(&[0; 48]);
        dump(&fd, &req, 2 + u32::from(family), |msg| {
            out.extend(parse_inet_msg(msg))
        })?;
    }
    Ok(out)
}

fn dump(fd: &OwnedFd, request: &[u8], seq: u32, mut each: impl FnMut(&[u8])) -> io::Result<()> {
    let mut msg = Vec::with_capacity(16 + request.len());
    msg.extend_from_slice(&((16 + request.len()) as u32).to_ne_bytes());
    msg.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    msg.extend_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    msg.extend_from_slice(&seq.to_ne_bytes());
    msg.extend_from_slice(&0u32.to_ne_bytes());
    msg.extend_from_slice(request);
    // SAFETY: sockaddr_nl is plain data for which all-zero bytes are a valid value.
    let mut kernel: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    kernel.nl_family = libc::AF_NETLINK as u16;
    // SAFETY: `msg` and `kernel` outlive the call; the lengths passed are theirs.
    let sent = unsafe {
        libc::sendto(
            fd.as_raw_fd(),
            msg.as_ptr() as *const libc::c_void,
            msg.len(),
            0,
            &kernel as *const _ as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_nl>() as u32,
        )
    };
    if sent < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        // SAFETY: `buf` outlives the call and the kernel writes at most `buf.len()` bytes.
        let n = unsafe {
            libc::recv(
                fd.as_raw_fd(),
                buf.as_mut_ptr() as *mut libc::c_void,
                buf.len(),
                0,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut rest = &buf[..n as usize];
        while rest.len() >= 16 {
            let len = u32::from_ne_bytes(rest[0..4].try_into().unwrap()) as usize;
            let kind = u16::from_ne_bytes(rest[4..6].try_into().unwrap());
            let msg_seq = u32::from_ne_bytes(rest[8..12].try_into().unwrap());
            if len < 16 || len > rest.len() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "truncated netlink message",
                ));
            }
            if msg_seq == seq {
                match kind {
                    NLMSG_DONE => return Ok(()),
                    NLMSG_ERROR => {
                        let errno = rest
                            .get(16..20)
                            .map(|b| i32::from_ne_bytes(b.try_into().unwrap()))
                            .unwrap_or(0);
                        return Err(io::Error::from_raw_os_error(-errno));
                    }
                    SOCK_DIAG_BY_FAMILY => each(&rest[16..len]),
                    _ => {}
                }
            }
            rest = &rest[((len + 3) & !3).min(rest.len())..];
        }
    }
}

/// Netlink attributes (`struct rtattr`: len, type, payload, 4-byte aligned).
fn attributes(mut data: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        if data.len() < 4 {
            return None;
        }
        let len = u16::from_ne_bytes([data[0], data[1]]) as usize;
        let kind = u16::from_ne_bytes([data[2], data[3]]);
        if len < 4 || len > data.len() {
            return None;
        }
        let payload = &data[4..len];
        data = &data[((len + 3) & !3).min(data.len())..];
        Some((kind, payload))
    })
}

/// `struct unix_diag_msg` (16 bytes) then attributes: the path and the queue lengths.
pub fn parse_unix_msg(msg: &[u8]) -> Option<Listener> {
    let attrs = msg.get(16..)?;
    let mut path = None;
    let mut queues = None;
    for (kind, payload) in attributes(attrs) {
        match kind {
            UNIX_DIAG_NAME => path = Some(payload),
            UNIX_DIAG_RQLEN if payload.len() >= 8 => {
                let q = u32::from_ne_bytes(payload[0..4].try_into().ok()?);
                let l = u32::from_ne_bytes(payload[4..8].try_into().ok()?);
                queues = Some((q, l));
            }
            _ => {}
        }
    }
    // Abstract names start with NUL and have no path; they cannot be configured by path.
    let path = path.filter(|p| p.first() != Some(&0))?;
    let path = std::str::from_utf8(path).ok()?.trim_end_matches('\0');
    let (queue, limit) = queues?;
    Some(Listener {
        addr: ListenAddr::Unix(PathBuf::from(path)),
        queue,
        limit,
    })
}

/// `struct inet_diag_msg`: family, state, timer, retrans, sockid (sport, dport, src[16], dst[16],
/// if, cookie), expires, rqueue, wqueue, uid, inode. For a listener rqueue/wqueue are the
/// accept queue and the backlog.
pub fn parse_inet_msg(msg: &[u8]) -> Option<Listener> {
    if msg.len() < 72 {
        return None;
    }
    let family = msg[0];
    let port = u16::from_be_bytes([msg[4], msg[5]]);
    let src = &msg[8..24];
    let ip = if family == libc::AF_INET as u8 {
        IpAddr::V4(Ipv4Addr::new(src[0], src[1], src[2], src[3]))
    } else {
        IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(src).ok()?))
    };
    let queue = u32::from_ne_bytes(msg[56..60].try_into().ok()?);
    let limit = u32::from_ne_bytes(msg[60..64].try_into().ok()?);
    Some(Listener {
        addr: ListenAddr::Tcp(SocketAddr::new(ip, port)),
        queue,
        limit,
    })
}

/// The listener serving `want`: same path, or same port on the same address or a wildcard.
pub fn find<'a>(listeners: &'a [Listener], want: &ListenAddr) -> Option<&'a Listener> {
    let exact = listeners.iter().find(|l| &l.addr == want);
    exact.or_else(|| match want {
        ListenAddr::Tcp(w) => listeners.iter().find(|l| match &l.addr {
            ListenAddr::Tcp(a) => a.port() == w.port() && a.ip().is_unspecified(),
            ListenAddr::Unix(_) => false,
        }),
        ListenAddr::Unix(_) => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sees_a_unix_listeners_backlog_fill_up() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.sock");
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let want = ListenAddr::Unix(path.clone());
        let before = listeners().unwrap();
        let l = find(&before, &want).expect("our listener is in the dump");
        assert_eq!(l.queue, 0);
        assert!(l.limit > 0);
        // Connections nobody accepts wait in the queue.
        let _clients: Vec<_> = (0..3)
            .map(|_| std::os::unix::net::UnixStream::connect(&path).unwrap())
            .collect();
        assert_eq!(find(&listeners().unwrap(), &want).unwrap().queue, 3);
        drop(listener);
    }

    #[test]
    fn sees_a_tcp_listeners_backlog_and_matches_wildcards() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let _clients: Vec<_> = (0..2)
            .map(|_| std::net::TcpStream::connect(addr).unwrap())
            .collect();
        std::thread::sleep(std::time::Duration::from_millis(50));
        let all = listeners().unwrap();
        let l = find(&all, &ListenAddr::Tcp(addr)).expect("our listener is in the dump");
        assert_eq!(l.queue, 2);
        assert!(l.limit > 0);
        let wild = vec![Listener {
            addr: ListenAddr::Tcp("0.0.0.0:9000".parse().unwrap()),
            queue: 1,
            limit: 5,
        }];
        assert!(find(&wild, &ListenAddr::Tcp("127.0.0.1:9000".parse().unwrap())).is_some());
        assert!(find(&wild, &ListenAddr::Tcp("127.0.0.1:9001".parse().unwrap())).is_none());
    }

    #[test]
    fn ignores_short_and_abstract_messages() {
        assert_eq!(parse_inet_msg(&[0; 10]), None);
        assert_eq!(parse_unix_msg(&[0; 4]), None);
        let mut abstract_name = vec![0u8; 16];
        abstract_name.extend_from_slice(&[8, 0, 0, 0, 0, b'x', b'y', b'z']);
        abstract_name.extend_from_slice(&[12, 0, 4, 0, 0, 0, 0, 0, 5, 0, 0, 0]);
        assert_eq!(parse_unix_msg(&abstract_name), None);
        abstract_name[20] = b'/';
        assert_eq!(
            parse_unix_msg(&abstract_name),
            Some(Listener {
                addr: ListenAddr::Unix("/xyz".into()),
                queue: 0,
                limit: 5
            })
        );
    }
}
