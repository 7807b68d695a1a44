//! `--web.config.file` against real clients: certificates made by the openssl CLI, requests
//! made by curl and `openssl s_client`, bcrypt hashes made by Apache's htpasswd. TLS with a
//! required client certificate, basic auth, response headers, certificate rotation without
//! a restart, and bad web configs refused with their place at start and on reload.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const CONFIG: &str = "probes: []\n";

fn run(program: &str, args: &[&str], dir: &Path) -> std::process::Output {
    Command::new(require(program))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"))
}

fn ok(program: &str, args: &[&str], dir: &Path) {
    let out = run(program, args, dir);
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA, and `name.crt`/`name.key` signed by it with `extensions` (openssl's syntax).
struct Ca {
    dir: PathBuf,
}

impl Ca {
    fn new(dir: &Path, name: &str) -> Ca {
        let subject = format!("/CN={name}");
        let (crt, key) = (format!("{name}.crt"), format!("{name}.key"));
        #[rustfmt::skip]
        ok("openssl", &["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", &subject, "-keyout", &key, "-out", &crt], dir);
        std::fs::rename(dir.join(&crt), dir.join("ca.crt")).unwrap();
        std::fs::rename(dir.join(&key), dir.join("ca.key")).unwrap();
        Ca {
            dir: dir.to_path_buf(),
        }
    }

    fn issue(&self, name: &str, extensions: &str) -> (PathBuf, PathBuf) {
        let dir = &self.dir;
        let subject = format!("/CN={name}");
        let (crt, key, csr, ext) = (
            format!("{name}.crt"),
            format!("{name}.key"),
            format!("{name}.csr"),
            format!("{name}.ext"),
        );
        std::fs::write(dir.join(&ext), extensions).unwrap();
        #[rustfmt::skip]
        ok("openssl", &["req", "-newkey", "rsa:2048", "-nodes", "-subj", &subject,
            "-keyout", &key, "-out", &csr], dir);
        #[rustfmt::skip]
        ok("openssl", &["x509", "-req", "-in", &csr, "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-extfile", &ext, "-out", &crt], dir);
        (dir.join(crt), dir.join(key))
    }
}

const SERVER_EXT: &str = "subjectAltName=IP:127.0.0.1,DNS:localhost\n";
const CLIENT_EXT: &str = "extendedKeyUsage=clientAuth\n";

fn bcrypt_hash(user: &str, password: &str, dir: &Path) -> String {
    let out = run("htpasswd", &["-nbBC", "5", user, password], dir);
    let line = String::from_utf8(out.stdout).unwrap();
    line.trim()
        .split_once(':')
        .expect("htpasswd prints user:hash")
        .1
        .to_string()
}

/// curl's verdict: the HTTP status, or 0 when no HTTP answer came (TLS refused), and the
/// response headers.
fn curl(port: u16, dir: &Path, path: &str, extra: &[&str]) -> (u16, String) {
    let url = format!("https://127.0.0.1:{port}{path}");
    let mut args = vec!["-sS", "-D", "-", "-o", "/dev/null", "--max-time", "10"];
    args.extend_from_slice(&["--cacert", "ca.crt"]);
    args.extend_from_slice(extra);
    args.push(&url);
    let out = run("curl", &args, dir);
    let head = String::from_utf8_lossy(&out.stdout).into_owned();
    let status = head
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, head)
}

/// The subject CN of the certificate the server shows now (a fresh connection).
fn served_cn(port: u16, dir: &Path) -> String {
    let connect = format!("127.0.0.1:{port}");
    #[rustfmt::skip]
    let out = run("openssl", &["s_client", "-connect", &connect, "-cert", "client.crt",
        "-key", "client.key", "-CAfile", "ca.crt"], dir);
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.trim().strip_prefix("subject=CN = "))
        .or_else(|| {
            text.lines()
                .find_map(|l| l.trim().strip_prefix("subject=CN="))
        })
        .unwrap_or_default()
        .to_string()
}

fn web_config(dir: &Path, hash: &str) -> PathBuf {
    let path = dir.join("web.yml");
    std::fs::write(
        &path,
        format!(
            "tls_server_config:\n\
             \x20 cert_file: server.crt\n\
             \x20 key_file: server.key\n\
             \x20 client_auth_type: RequireAndVerifyClientCert\n\
             \x20 client_ca_file: ca.crt\n\
             http_server_config:\n\
             \x20 headers:\n\
             \x20   X-Frame-Options: deny\n\
             basic_auth_users:\n\
             \x20 alice: {hash}\n"
        ),
    )
    .unwrap();
    path
}

#[test]
fn tls_client_certificates_and_basic_auth_hold_against_curl() {
    let dir = tempdir();
    let d = dir.path();
    let ca = Ca::new(d, "test-ca");
    ca.issue("server", SERVER_EXT);
    ca.issue("client", CLIENT_EXT);
    let rogue = tempdir(); // a client certificate from another CA
    Ca::new(rogue.path(), "rogue-ca").issue("rogue", CLIENT_EXT);
    let rogue_crt = rogue.path().join("rogue.crt");
    let rogue_key = rogue.path().join("rogue.key");
    let web = web_config(d, &bcrypt_hash("alice", "s3cret", d));
    let exporter = Exporter::start_with_args(CONFIG, &["--web.config.file", web.to_str().unwrap()]);
    let port = exporter.port;
    let with_cert = ["--cert", "client.crt", "--key", "client.key"];

    // Plain HTTP on the TLS port gets no metrics.
    assert_ne!(get(port, "/metrics").status, 200);
    // No client certificate: the handshake is refused, no HTTP status at all.
    assert_eq!(curl(port, d, "/metrics", &["-u", "alice:s3cret"]).0, 0);
    // A certificate from a CA we do not trust: refused the same way.
    let (rc, rk) = (rogue_crt.to_str().unwrap(), rogue_key.to_str().unwrap());
    let rogue_args = ["--cert", rc, "--key", rk, "-u", "alice:s3cret"];
    assert_eq!(curl(port, d, "/metrics", &rogue_args).0, 0);
    // The right certificate, then the password decides.
    let (status, head) = curl(port, d, "/metrics", &with_cert);
    assert_eq!(status, 401, "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("www-authenticate: basic"),
        "{head}"
    );
    let wrong = [&with_cert[..], &["-u", "alice:guess"]].concat();
    assert_eq!(curl(port, d, "/metrics", &wrong).0, 401);
    let nobody = [&with_cert[..], &["-u", "bob:s3cret"]].concat();
    assert_eq!(curl(port, d, "/metrics", &nobody).0, 401);
    let right = [&with_cert[..], &["-u", "alice:s3cret"]].concat();
    let (status, head) = curl(port, d, "/metrics", &right);
    assert_eq!(status, 200, "{head}");
    assert!(
        head.to_ascii_lowercase().contains("x-frame-options: deny"),
        "{head}"
    );
    // Every route is behind the password, /-/reload included.
    assert_eq!(curl(port, d, "/-/healthy", &with_cert).0, 401);
    let reload = [&with_cert[..], &["-X", "POST"]].concat();
    assert_eq!(curl(port, d, "/-/reload", &reload).0, 401);
    // Only TLS 1.2 and 1.3 are served.
    let old = [&right[..], &["--tls-max", "1.1"]].concat();
    assert_eq!(curl(port, d, "/metrics", &old).0, 0);
}

#[test]
fn certificate_modes_that_do_not_verify_or_do_not_require() {
    let dir = tempdir();
    let d = dir.path();
    let ca = Ca::new(d, "test-ca");
    ca.issue("server", SERVER_EXT);
    let rogue = tempdir();
    Ca::new(rogue.path(), "rogue-ca").issue("rogue", CLIENT_EXT);
    let (rc, rk) = (
        rogue.path().join("rogue.crt"),
        rogue.path().join("rogue.key"),
    );
    let rogue_args = [
        "--cert",
        rc.to_str().unwrap(),
        "--key",
        rk.to_str().unwrap(),
    ];
    let start = |auth: &str| {
        let web = d.join(format!("{auth}.yml"));
        std::fs::write(
            &web,
            format!(
                "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n\
                 \x20 client_auth_type: {auth}\n  client_ca_file: ca.crt\n"
            ),
        )
        .unwrap();
        Exporter::start_with_args(CONFIG, &["--web.config.file", web.to_str().unwrap()])
    };
    // Any certificate is taken, none is refused.
    let any = start("RequireAnyClientCert");
    assert_eq!(curl(any.port, d, "/-/healthy", &rogue_args).0, 200);
    assert_eq!(curl(any.port, d, "/-/healthy", &[]).0, 0);
    // No certificate is fine, an untrusted one is refused.
    let if_given = start("VerifyClientCertIfGiven");
    assert_eq!(curl(if_given.port, d, "/-/healthy", &[]).0, 200);
    assert_eq!(curl(if_given.port, d, "/-/healthy", &rogue_args).0, 0);
}

#[test]
fn a_rotated_certificate_is_served_without_a_restart() {
    let dir = tempdir();
    let d = dir.path();
    let ca = Ca::new(d, "test-ca");
    ca.issue("server", SERVER_EXT);
    ca.issue("client", CLIENT_EXT);
    let web = web_config(d, &bcrypt_hash("alice", "s3cret", d));
    let exporter = Exporter::start_with_args(CONFIG, &["--web.config.file", web.to_str().unwrap()]);
    assert_eq!(served_cn(exporter.port, d), "server");

    // Rotate the way cert-manager does: new files renamed over the old ones.
    let (crt, key) = ca.issue("rotated", SERVER_EXT);
    std::fs::rename(key, d.join("server.key")).unwrap();
    std::fs::rename(crt, d.join("server.crt")).unwrap();
    eventually(Duration::from_secs(5), "the rotated certificate", || {
        (served_cn(exporter.port, d) == "rotated").then_some(())
    });

    // A broken rotation (a key that does not belong) keeps the last good pair.
    let (_, other_key) = ca.issue("other", SERVER_EXT);
    std::fs::rename(other_key, d.join("server.key")).unwrap();
    assert_eq!(served_cn(exporter.port, d), "rotated");
    let right = [
        "--cert",
        "client.crt",
        "--key",
        "client.key",
        "-u",
        "alice:s3cret",
    ];
    assert_eq!(curl(exporter.port, d, "/-/healthy", &right).0, 200);
    assert!(
        exporter
            .daemon
            .stderr()
            .contains("TLS certificate not re-read"),
        "{}",
        exporter.daemon.stderr()
    );
}

fn start_refused(web_yml: &str, dir: &Path) -> String {
    let path = dir.join("web.yml");
    std::fs::write(&path, web_yml).unwrap();
    let config = dir.join("config.yml");
    std::fs::write(&config, CONFIG).unwrap();
    let port = free_port().to_string();
    #[rustfmt::skip]
    let out = Command::new(env!("CARGO_BIN_EXE_gateway-exporter"))
        .args(["--config.file", config.to_str().unwrap(), "--web.listen-address",
            &format!("127.0.0.1:{port}"), "--web.config.file", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success(), "{web_yml} was accepted");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

#[test]
fn bad_web_configs_are_refused_at_start_with_their_place() {
    let dir = tempdir();
    let d = dir.path();
    let ca = Ca::new(d, "test-ca");
    ca.issue("server", SERVER_EXT);
    let (_, other_key) = ca.issue("other", SERVER_EXT);
    let file = d.join("web.yml").display().to_string();
    let other_key = other_key.display().to_string();
    let cases = [
        (
            "tls_server_config:\n  cert_file: server.crt\n  key_fil: server.key\n",
            "3:3",
            "unknown field",
        ),
        (
            "tls_server_config:\n  cert_file: missing.crt\n  key_file: server.key\n",
            "2:14",
            "missing.crt",
        ),
        (
            &format!("tls_server_config:\n  cert_file: server.crt\n  key_file: {other_key}\n"),
            "3:13",
            "does the key belong",
        ),
        (
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_auth_type: RequireAndVerifyClientCert\n",
            "2:3",
            "needs client_ca_file",
        ),
        (
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  min_version: TLS14\n",
            "4:16",
            "unknown variant",
        ),
        (
            "basic_auth_users:\n  alice: s3cret\n",
            "2:10",
            "not a bcrypt hash",
        ),
        (
            "http_server_config:\n  headers:\n    Server: nginx\n",
            "3:13",
            "may not be set",
        ),
        ("basic_auth_users: [alice]\n", "1:19", "invalid web config"),
    ];
    for (yml, place, says) in cases {
        let stderr = start_refused(yml, d);
        let at = format!("{file}:{place}");
        assert!(
            stderr.contains(&at) && stderr.contains(says),
            "want {at} and {says:?} in:\n{stderr}"
        );
    }
    // --config.check validates the web config too.
    std::fs::write(d.join("web.yml"), "basic_auth_users:\n  alice: s3cret\n").unwrap();
    std::fs::write(d.join("config.yml"), CONFIG).unwrap();
    let check = Command::new(env!("CARGO_BIN_EXE_gateway-exporter"))
        .args([
            "--config.check",
            "--config.file",
            "config.yml",
            "--web.config.file",
            "web.yml",
        ])
        .current_dir(d)
        .output()
        .unwrap();
    assert!(!check.status.success());
    assert!(String::from_utf8_lossy(&check.stderr).contains("web.yml:2:10"));
}

#[test]
fn a_bad_web_config_on_reload_keeps_the_old_one_serving() {
    let dir = tempdir();
    let d = dir.path();
    let web = d.join("web.yml");
    let hash = bcrypt_hash("alice", "s3cret", d);
    std::fs::write(&web, format!("basic_auth_users:\n  alice: {hash}\n")).unwrap();
    let exporter = Exporter::start_with_args(CONFIG, &["--web.config.file", web.to_str().unwrap()]);
    let alice = ("Authorization", "Basic YWxpY2U6czNjcmV0"); // alice:s3cret
    assert_eq!(http("GET", exporter.port, "/metrics", &[alice]).status, 200);
    assert_eq!(http("GET", exporter.port, "/metrics", &[]).status, 401);

    std::fs::write(&web, "basic_auth_users:\n  alice: s3cret\n").unwrap();
    let refused = http("POST", exporter.port, "/-/reload", &[alice]);
    assert_eq!(refused.status, 500);
    let place = format!("{}:2:10", web.display());
    assert!(refused.body.contains(&place), "{}", refused.body);
    // The old users still hold: no password still 401, the old one still 200.
    assert_eq!(http("GET", exporter.port, "/metrics", &[]).status, 401);
    let metrics = http("GET", exporter.port, "/metrics", &[alice]);
    assert_eq!(metrics.status, 200);
    assert_eq!(
        sample_value(&metrics.body, "gateway_config_last_reload_successful", &[]),
        Some(0.0)
    );

    // A good file is taken on SIGHUP: the new password works, the old one no longer.
    let hash = bcrypt_hash("alice", "n3w", d);
    std::fs::write(&web, format!("basic_auth_users:\n  alice: {hash}\n")).unwrap();
    exporter.daemon.signal(libc::SIGHUP);
    let new = ("Authorization", "Basic YWxpY2U6bjN3"); // alice:n3w
    eventually(Duration::from_secs(5), "the new password", || {
        (http("GET", exporter.port, "/-/healthy", &[new]).status == 200).then_some(())
    });
    assert_eq!(
        http("GET", exporter.port, "/-/healthy", &[alice]).status,
        401
    );
}
