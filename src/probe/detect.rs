//! Zero-config probes: the sites the web servers' own config defines (nginx `server` blocks,
//! Apache `VirtualHost`s), each probed through loopback with its own Host header (and SNI),
//! redirects not followed and only 5xx or a failed connection counted as failing, so a
//! healthy host that redirects to https, answers 403/404 or closes unknown hosts never pages.

use super::config::ProbeConfig;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// More sites than this are not all probed every 15 seconds from one host: the rest is left
/// to the config file (and a warning says so).
pub const MAX_DETECTED_SITES: usize = 100;

/// Includes nested deeper than this are a loop.
const MAX_INCLUDE_DEPTH: usize = 16;

/// Where the web servers keep their config: `nginx.conf` under `nginx`, `apache2.conf`
/// under `apache` (its ServerRoot unless the file sets another).
#[derive(Debug, Clone)]
pub struct ConfigRoots {
    pub nginx: PathBuf,
    pub apache: PathBuf,
}

impl Default for ConfigRoots {
    fn default() -> Self {
        ConfigRoots {
            nginx: PathBuf::from("/etc/nginx"),
            apache: PathBuf::from("/etc/apache2"),
        }
    }
}

/// The probes of this host's sites, from /etc/nginx and /etc/apache2.
pub fn detect() -> Vec<ProbeConfig> {
    detect_in(&ConfigRoots::default())
}

/// The probes of the sites the configs under `roots` define. When neither server has a
/// config, a plain `http://127.0.0.1/` probe if something listens on port 80.
pub fn detect_in(roots: &ConfigRoots) -> Vec<ProbeConfig> {
    let mut sites = nginx_sites(&roots.nginx);
    sites.extend(apache_sites(&roots.apache));
    if sites.is_empty() {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], 80));
        if std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            sites.push(Site {
                name: None,
                ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
                port: 80,
                tls: false,
            });
        }
    }
    // One probe per site: the first server that names it, its TLS listener if it has one.
    let mut by_name: BTreeMap<String, (usize, Site)> = BTreeMap::new();
    for (order, site) in sites.into_iter().enumerate() {
        let key = site.target();
        match by_name.get_mut(&key) {
            Some((_, kept)) if !kept.tls && site.tls => *kept = site,
            Some(_) => {}
            None => {
                by_name.insert(key, (order, site));
            }
        }
    }
    let mut sites: Vec<(usize, Site)> = by_name.into_values().collect();
    sites.sort_by_key(|(order, _)| *order);
    if sites.len() > MAX_DETECTED_SITES {
        tracing::warn!(
            "{} sites found; probing the first {MAX_DETECTED_SITES} (list the others under probes:)",
            sites.len()
        );
        sites.truncate(MAX_DETECTED_SITES);
    }
    sites.into_iter().map(|(_, site)| site.probe()).collect()
}

/// One site as a server config defines it, and where it is reached on this host.
#[derive(Debug, Clone, PartialEq)]
struct Site {
    /// The name clients send as Host; `None` for a default server without one.
    name: Option<String>,
    /// The loopback (or the listen address) to connect to.
    ip: IpAddr,
    port: u16,
    tls: bool,
}

impl Site {
    fn default_port(&self) -> u16 {
        if self.tls { 443 } else { 80 }
    }

    /// `:port` when it is not the scheme's own.
    fn port_suffix(&self) -> String {
        if self.port == self.default_port() {
            String::new()
        } else {
            format!(":{}", self.port)
        }
    }

    /// The `target` label: the vhost as the logs name it; `localhost` for a nameless server.
    fn target(&self) -> String {
        match &self.name {
            Some(name) => name.clone(),
            None => format!("localhost{}", self.port_suffix()),
        }
    }

    fn probe(&self) -> ProbeConfig {
        let scheme = if self.tls { "https" } else { "http" };
        let host = match self.ip {
            IpAddr::V4(ip) => ip.to_string(),
            IpAddr::V6(ip) => format!("[{ip}]"),
        };
        let loopback = format!("{scheme}://{host}{}/", self.port_suffix());
        let target = self.target();
        let mut p = match &self.name {
            // The fragment is never sent; it keeps one URL per site (configured probes are
            // matched by URL) and shows in `gateway_probe_info` which site this is.
            Some(name) => {
                let mut p = ProbeConfig::new(&target, &format!("{loopback}#{name}"));
                p.http
                    .headers
                    .insert("Host".into(), format!("{name}{}", self.port_suffix()));
                p.http.tls_config.server_name = Some(name.clone());
                p.vhost = Some(name.clone());
                p
            }
            None => ProbeConfig::new(&target, &loopback),
        };
        // A redirect is an answer (certbot's to https, a login page's): never followed off
        // this host. Only 5xx and failed connections fail.
        p.http.follow_redirects = false;
        p.http.valid_status_codes = (100..500).collect();
        // Loopback: the certificate is for the public name and may be from a private CA.
        p.http.tls_config.insecure_skip_verify = self.tls;
        p
    }
}

/// Where a `listen`/`Listen`/`VirtualHost` address is reached from this host: loopback for a
/// wildcard, the address itself when it is one; `None` for a name we would have to resolve.
fn connect_ip(host: &str) -> Option<IpAddr> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    match host {
        "" | "*" | "_default_" | "0.0.0.0" | "localhost" => Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        "::" => Some(IpAddr::V6(Ipv6Addr::LOCALHOST)),
        _ => host.parse().ok(),
    }
}

/// `port`, `host:port`, `[v6]:port`, `*:port` or `host` alone (then `default_port`).
fn split_listen(value: &str, default_port: u16) -> Option<(IpAddr, u16)> {
    if let Ok(port) = value.parse::<u16>() {
        return Some((IpAddr::V4(Ipv4Addr::LOCALHOST), port));
    }
    let (host, port) = match value.rsplit_once(':') {
        Some((host, "*")) => (host, default_port),
        Some((host, port)) if !port.contains(']') => (host, port.parse().ok()?),
        _ => (value, default_port),
    };
    Some((connect_ip(host)?, port))
}

/// A name a client can send: not nginx's `_`, a wildcard, a regex or a variable.
fn usable_name(name: &str) -> Option<String> {
    let name = name
        .trim_matches('"')
        .trim_start_matches('.')
        .to_ascii_lowercase();
    let bad =
        name.is_empty() || name == "_" || name.starts_with('~') || name.contains(['*', '$', '/']);
    (!bad).then_some(name)
}

/// Each file a glob (relative to `base`) names, sorted as the servers read them.
fn included(pattern: &str, base: &Path) -> Vec<PathBuf> {
    let pattern = if Path::new(pattern).is_absolute() {
        pattern.to_string()
    } else {
        base.join(pattern).display().to_string()
    };
    let mut paths: Vec<PathBuf> = glob::glob(&pattern)
        .map(|paths| paths.flatten().filter(|p| p.is_file()).collect())
        .unwrap_or_default();
    paths.sort();
    paths
}

// ---- nginx ----------------------------------------------------------------------------

#[derive(Debug, PartialEq)]
enum Token {
    Word(String),
    Open,
    Close,
    End,
}

/// nginx's lexical level: words (quotes removed), `{`, `}`, `;`; `#` comments dropped.
fn tokenize(text: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {}
            '#' => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            '{' => tokens.push(Token::Open),
            '}' => tokens.push(Token::Close),
            ';' => tokens.push(Token::End),
            '"' | '\'' => {
                let mut word = String::new();
                while let Some(q) = chars.next() {
                    match q {
                        '\\' => word.extend(chars.next()),
                        q if q == c => break,
                        q => word.push(q),
                    }
                }
                tokens.push(Token::Word(word));
            }
            c => {
                let mut word = String::from(c);
                while let Some(&n) = chars.peek() {
                    if n.is_whitespace() || matches!(n, '{' | '}' | ';') {
                        break;
                    }
                    word.push(n);
                    chars.next();
                }
                tokens.push(Token::Word(word));
            }
        }
    }
    tokens
}

#[derive(Debug, Default)]
struct Directive {
    name: String,
    args: Vec<String>,
    block: Option<Vec<Directive>>,
}

/// The directives of `file`, every `include` replaced by what it includes.
fn nginx_file(file: &Path, root: &Path, depth: usize) -> Vec<Directive> {
    let Ok(text) = std::fs::read_to_string(file) else {
        return Vec::new();
    };
    let mut tokens = tokenize(&text).into_iter();
    nginx_block(&mut tokens, root, depth)
}

fn nginx_block(
    tokens: &mut impl Iterator<Item = Token>,
    root: &Path,
    depth: usize,
) -> Vec<Directive> {
    let mut out = Vec::new();
    let mut current = Directive::default();
    while let Some(token) = tokens.next() {
        match token {
            Token::Word(w) if current.name.is_empty() => current.name = w,
            Token::Word(w) => current.args.push(w),
            Token::Open => {
                current.block = Some(nginx_block(tokens, root, depth));
                out.push(std::mem::take(&mut current));
            }
            Token::End if current.name == "include" => {
                if depth < MAX_INCLUDE_DEPTH {
                    for pattern in &current.args {
                        for file in included(pattern, root) {
                            out.extend(nginx_file(&file, root, depth + 1));
                        }
                    }
                }
                current = Directive::default();
            }
            Token::End => out.push(std::mem::take(&mut current)),
            Token::Close => break,
        }
    }
    out
}

/// The sites of the `server` blocks under `http` in `<root>/nginx.conf`.
fn nginx_sites(root: &Path) -> Vec<Site> {
    let top = nginx_file(&root.join("nginx.conf"), root, 0);
    let servers = top
        .iter()
        .filter(|d| d.name == "http")
        .flat_map(|http| http.block.iter().flatten())
        .filter(|d| d.name == "server")
        .filter_map(|server| server.block.as_deref());
    servers.flat_map(nginx_server).collect()
}

fn nginx_server(server: &[Directive]) -> Vec<Site> {
    // `return 444` closes every connection: a catch-all that turns unknown hosts away.
    let closes = server
        .iter()
        .any(|d| d.name == "return" && d.args.first().map(String::as_str) == Some("444"));
    if closes {
        return Vec::new();
    }
    let ssl_on = server
        .iter()
        .any(|d| d.name == "ssl" && d.args.first().map(String::as_str) == Some("on"));
    let mut listens: Vec<(IpAddr, u16, bool)> = server
        .iter()
        .filter(|d| d.name == "listen" && !d.args.iter().any(|a| a == "quic"))
        .filter_map(|d| {
            let (ip, port) = split_listen(d.args.first()?, 80)?;
            Some((ip, port, ssl_on || d.args.iter().any(|a| a == "ssl")))
        })
        .collect();
    let has_listen = server.iter().any(|d| d.name == "listen");
    if !has_listen {
        listens.push((IpAddr::V4(Ipv4Addr::LOCALHOST), 80, ssl_on));
    }
    // `listen 80` and `listen [::]:80` are one site: IPv4 first, TLS first.
    listens.sort_by_key(|(ip, _, tls)| (!tls, ip.is_ipv6()));
    let Some(&(ip, port, tls)) = listens.first() else {
        return Vec::new();
    };
    let name = server
        .iter()
        .filter(|d| d.name == "server_name")
        .flat_map(|d| &d.args)
        .find_map(|n| usable_name(n));
    vec![Site {
        name,
        ip,
        port,
        tls,
    }]
}

// ---- Apache ---------------------------------------------------------------------------

/// Modules built into Debian's apache2 binary: their `<IfModule>` holds without LoadModule.
const APACHE_STATIC_MODULES: [&str; 8] = [
    "core_module",
    "so_module",
    "watchdog_module",
    "http_module",
    "log_config_module",
    "logio_module",
    "version_module",
    "unixd_module",
];

/// What Apache knows while it reads its config: where relative paths start, the modules
/// loaded so far, and whether each enclosing `<IfModule>` holds.
struct ApacheReader {
    server_root: PathBuf,
    modules: Vec<String>,
    conditions: Vec<bool>,
}

impl ApacheReader {
    /// `ssl_module`, `mod_ssl.c` and `!ssl_module` as Apache reads them.
    fn module_loaded(&self, condition: &str) -> bool {
        let (negated, name) = match condition.strip_prefix('!') {
            Some(name) => (true, name),
            None => (false, condition),
        };
        let name = match name.strip_prefix("mod_").and_then(|n| n.strip_suffix(".c")) {
            Some(short) => format!("{short}_module"),
            None => name.to_string(),
        };
        let loaded = self.modules.contains(&name) || APACHE_STATIC_MODULES.contains(&name.as_str());
        loaded != negated
    }

    /// The lines of `file` (comments and blanks dropped, continuations joined, unmet
    /// `<IfModule>` sections left out), each `Include`/`IncludeOptional` replaced by the
    /// lines it includes, relative to ServerRoot.
    fn read(&mut self, file: &Path, depth: usize, out: &mut Vec<String>) {
        let Ok(text) = std::fs::read_to_string(file) else {
            return;
        };
        let text = text.replace("\\\n", " ");
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut words = line.split_whitespace();
            let directive = words.next().unwrap_or("").to_ascii_lowercase();
            let arg = words.next().unwrap_or("").trim_matches('"');
            let active = self.conditions.iter().all(|&c| c);
            match directive.as_str() {
                "<ifmodule" => {
                    let holds = self.module_loaded(arg.trim_end_matches('>'));
                    self.conditions.push(holds);
                }
                "</ifmodule>" => {
                    self.conditions.pop();
                }
                _ if !active => {}
                "loadmodule" => self.modules.push(arg.to_string()),
                "serverroot" => self.server_root = PathBuf::from(arg),
                "include" | "includeoptional" if depth < MAX_INCLUDE_DEPTH => {
                    for path in included(arg, &self.server_root.clone()) {
                        self.read(&path, depth + 1, out);
                    }
                }
                _ => out.push(line.to_string()),
            }
        }
    }
}

/// The sites of `<root>/apache2.conf`: each VirtualHost, and the main server on the
/// `Listen` ports no VirtualHost takes.
fn apache_sites(root: &Path) -> Vec<Site> {
    let mut lines = Vec::new();
    let mut reader = ApacheReader {
        server_root: root.to_path_buf(),
        modules: Vec::new(),
        conditions: Vec::new(),
    };
    reader.read(&root.join("apache2.conf"), 0, &mut lines);
    // The main server on each Listen, and the VirtualHost being read (`None` inside one
    // whose address we cannot reach).
    let mut main: Vec<Site> = Vec::new();
    let mut main_name = None;
    let mut vhosts: Vec<Site> = Vec::new();
    let mut open: Option<Option<Site>> = None;
    for line in &lines {
        let mut words = line.split_whitespace();
        let directive = words.next().unwrap_or("").to_ascii_lowercase();
        let args: Vec<&str> = words.map(|w| w.trim_matches('"')).collect();
        let name = || args.first().and_then(|n| apache_server_name(n));
        match (directive.as_str(), &mut open) {
            ("<virtualhost", None) => {
                let address = args
                    .iter()
                    .map(|a| a.trim_end_matches('>'))
                    .find_map(|a| split_listen(a, ANY_PORT));
                open = Some(address.map(|(ip, port)| Site {
                    name: None,
                    ip,
                    port,
                    tls: port == 443,
                }));
            }
            ("</virtualhost>", Some(_)) => vhosts.extend(open.take().flatten()),
            ("servername", Some(Some(site))) => site.name = name(),
            ("sslengine", Some(Some(site))) => {
                site.tls |= args.first().is_some_and(|a| a.eq_ignore_ascii_case("on"));
            }
            ("servername", None) => main_name = name(),
            ("listen", None) => {
                let https = args.get(1).is_some_and(|p| p.eq_ignore_ascii_case("https"));
                if let Some((ip, port)) = args.first().and_then(|a| split_listen(a, 80)) {
                    main.push(Site {
                        name: None,
                        ip,
                        port,
                        tls: https || port == 443,
                    });
                }
            }
            _ => {}
        }
    }
    // A VirtualHost without a port answers on every Listen port: the first one reaches it.
    let first_listen = main.first().map_or(80, |site| site.port);
    for site in vhosts.iter_mut().filter(|s| s.port == ANY_PORT) {
        site.port = first_listen;
    }
    main.retain(|m| !vhosts.iter().any(|v| v.port == m.port));
    for site in &mut main {
        site.name.clone_from(&main_name);
    }
    main.extend(vhosts);
    main
}

/// The port of `<VirtualHost *>` (or `*:*`): any port Apache listens on.
const ANY_PORT: u16 = 0;

/// `ServerName [scheme://]name[:port]`: the name.
fn apache_server_name(value: &str) -> Option<String> {
    let value = value.split_once("://").map_or(value, |(_, rest)| rest);
    let name = match value.rsplit_once(':') {
        Some((name, port)) if port.parse::<u16>().is_ok() => name,
        _ => value,
    };
    usable_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    fn site(name: Option<&str>, ip: &str, port: u16, tls: bool) -> Site {
        Site {
            name: name.map(str::to_string),
            ip: ip.parse().unwrap(),
            port,
            tls,
        }
    }

    #[test]
    fn nginx_sites_from_debian_and_certbot_layouts() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(
            root,
            "nginx.conf",
            "user www-data;\nevents { worker_connections 768; }\n\
             http {\n  include mime.types;\n  include /nonexistent/*.conf;\n  include sites-enabled/*;\n}\n\
             stream { server { listen 12345; } }\n",
        );
        write(root, "mime.types", "types { text/html html; }\n");
        // Debian's default site, a certbot-managed site, a 444 catch-all, a local backend.
        write(
            root,
            "sites-enabled/default",
            "server {\n\tlisten 80 default_server;\n\tlisten [::]:80 default_server;\n\
             \troot /var/www/html;\n\tserver_name _;\n\tlocation / { try_files $uri $uri/ =404; }\n}\n",
        );
        write(
            root,
            "sites-enabled/shop",
            "server {\n  server_name Shop.Example.com www.shop.example.com; # managed by Certbot\n\
             \n  listen [::]:443 ssl ipv6only=on; # managed by Certbot\n  listen 443 ssl;\n\
             \n  location / { proxy_pass http://127.0.0.1:8080; }\n}\n\
             server {\n  if ($host = shop.example.com) {\n    return 301 https://$host$request_uri;\n  }\n\
             \n  listen 80;\n  server_name shop.example.com;\n  return 404; # managed by Certbot\n}\n",
        );
        write(
            root,
            "sites-enabled/catchall",
            "server { listen 8443 ssl default_server; server_name \"\"; return 444; }\n",
        );
        write(
            root,
            "sites-enabled/backend",
            "server { listen 127.0.0.2:8080; server_name ~^api\\d+$ *.internal api.internal; }\n\
             server { listen unix:/run/x.sock; server_name sock.internal; }\n",
        );
        assert_eq!(
            nginx_sites(root),
            [
                // `listen unix:` is nothing to connect to over TCP: no sock.internal.
                site(Some("api.internal"), "127.0.0.2", 8080, false),
                site(None, "127.0.0.1", 80, false),
                site(Some("shop.example.com"), "127.0.0.1", 443, true),
                site(Some("shop.example.com"), "127.0.0.1", 80, false),
            ]
        );
    }

    #[test]
    fn apache_sites_from_debian_layout() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(
            root,
            "apache2.conf",
            "# ServerRoot \"/etc/apache2\"\nServerName main.example\nIncludeOptional mods-enabled/*.load\n\
             Include ports.conf\nIncludeOptional sites-enabled/*.conf\n",
        );
        write(
            root,
            "ports.conf",
            "Listen 80\n<IfModule ssl_module>\n\tListen 443\n</IfModule>\n<IfModule mod_gnutls.c>\n\tListen 8443\n</IfModule>\n\
             <IfModule !mod_gnutls.c>\n  Listen 127.0.0.1:8081\n</IfModule>\n",
        );
        write(
            root,
            "mods-enabled/ssl.load",
            "LoadModule ssl_module /usr/lib/apache2/modules/mod_ssl.so\n",
        );
        write(
            root,
            "sites-enabled/000-default.conf",
            "<VirtualHost *:80>\n\t#ServerName www.example.com\n\tServerAdmin webmaster@localhost\n\
             \tDocumentRoot /var/www/html\n</VirtualHost>\n",
        );
        write(
            root,
            "sites-enabled/blog.conf",
            "<VirtualHost *:443>\n  ServerName https://Blog.Example.org:443\n  SSLEngine on\n</VirtualHost>\n\
             <VirtualHost 127.0.0.1:80>\n  ServerName blog.example.org\n  Redirect permanent / https://blog.example.org/\n</VirtualHost>\n\
             <VirtualHost *>\n  ServerName any.example.org\n</VirtualHost>\n",
        );
        assert_eq!(
            apache_sites(root),
            [
                site(Some("main.example"), "127.0.0.1", 8081, false),
                site(None, "127.0.0.1", 80, false),
                site(Some("blog.example.org"), "127.0.0.1", 443, true),
                site(Some("blog.example.org"), "127.0.0.1", 80, false),
                site(Some("any.example.org"), "127.0.0.1", 80, false),
            ]
        );
    }

    #[test]
    fn one_probe_per_site_through_loopback_that_only_fails_on_5xx() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(
            root,
            "nginx.conf",
            "http {\n server { listen 80; server_name shop.example.com; return 301 https://$host$request_uri; }\n\
             server { listen 443 ssl; server_name shop.example.com; }\n\
             server { listen 8080; server_name api.internal; }\n\
             server { listen 80 default_server; server_name _; }\n}\n",
        );
        let roots = ConfigRoots {
            nginx: root.to_path_buf(),
            apache: root.join("no-apache"),
        };
        let probes = detect_in(&roots);
        let got: Vec<_> = probes
            .iter()
            .map(|p| {
                (
                    p.name.as_str(),
                    p.url.as_str(),
                    p.http.headers.get("Host").map(String::as_str),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (
                    "shop.example.com",
                    "https://127.0.0.1/#shop.example.com",
                    Some("shop.example.com")
                ),
                (
                    "api.internal",
                    "http://127.0.0.1:8080/#api.internal",
                    Some("api.internal:8080")
                ),
                ("localhost", "http://127.0.0.1/", None),
            ]
        );
        let shop = &probes[0];
        assert_eq!(shop.vhost(), "shop.example.com");
        assert_eq!(
            shop.http.tls_config.server_name.as_deref(),
            Some("shop.example.com")
        );
        assert!(shop.http.tls_config.insecure_skip_verify);
        for p in &probes {
            p.validate().unwrap();
            assert!(!p.http.follow_redirects);
            for (code, ok) in [
                (200, true),
                (301, true),
                (403, true),
                (404, true),
                (499, true),
                (500, false),
                (502, false),
                (504, false),
            ] {
                assert_eq!(p.http.status_is_valid(code), ok, "{} {code}", p.name);
            }
        }
        assert_eq!(probes[2].vhost(), "127.0.0.1");
    }

    #[test]
    fn include_loops_and_garbage_end() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "nginx.conf", "http { include loop.conf; }\n");
        write(
            root,
            "loop.conf",
            "server { listen 81; server_name a.test; }\ninclude loop.conf;\n\"unterminated\n",
        );
        write(
            root,
            "apache2.conf",
            "Include apache2.conf\n<VirtualHost *:82>\nServerName b.test\n",
        );
        assert_eq!(nginx_sites(root).len(), MAX_INCLUDE_DEPTH);
        assert!(
            apache_sites(root).is_empty(),
            "an unclosed VirtualHost is no site"
        );
    }
}
