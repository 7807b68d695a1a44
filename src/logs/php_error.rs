//! PHP's own `error_log` file, and the one reading of a PHP error message that every log
//! carrying PHP's words shares (nginx's `FastCGI sent in stderr`, Apache's AH01071,
//! PHP-FPM's `said into stderr`).
//!
//! An entry is `[01-Dec-2026 22:02:47 UTC] PHP Fatal error:  Uncaught ...`; an uncaught
//! exception adds its stack trace on the following physical lines (`Stack trace:`, `#0 ...`,
//! `  thrown in ...`), written in the same write(2) as the first. A fatal error ends its
//! request, and so does a database the app cannot reach: such an entry counts, once, on its
//! first line; the lines after it belong to it and are neither unrecognised nor an entry of
//! their own. Warnings, notices and the app's other messages count nothing.

use super::cause::AppCause;
use super::sink::{Sink, Verdict};
use memchr::memmem::Finder;
use std::sync::LazyLock;

/// The error types PHP prints for errors that stop the script (E_ERROR, E_CORE_ERROR,
/// E_COMPILE_ERROR, E_USER_ERROR; E_PARSE; an unhandled E_RECOVERABLE_ERROR).
static FATAL: LazyLock<[Finder<'static>; 3]> = LazyLock::new(|| {
    [
        Finder::new(b"PHP Fatal error:"),
        Finder::new(b"PHP Parse error:"),
        Finder::new(b"PHP Recoverable fatal error:"),
    ]
});
static SQLSTATE: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"SQLSTATE["));
/// mysqlnd's warnings: `mysqli_real_connect(): (HY000/2002): Connection refused`.
static MYSQLND_CODE: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"(HY000/"));

/// What one request's messages are read from at most: an entry longer than this is a
/// stack trace or a dump, whose start holds the messages.
const SCAN_BYTES: usize = 16 * 1024;

/// The app cause of a failed request from what PHP and the app wrote for it (one stderr
/// record in nginx's or Apache's log, one message in PHP's or PHP-FPM's): `database` when
/// a message says the database could not be reached (a fatal error, mysqlnd's connect
/// warning, a framework's log line: the request could not do its work), else the cause of
/// its fatal error; None when the request went on (warnings, notices, deprecations).
pub fn request_cause(text: &[u8]) -> Option<AppCause> {
    let text = &text[..text.len().min(SCAN_BYTES)];
    if database_unreachable(text) {
        return Some(AppCause::Database);
    }
    let (at, marker) = FATAL
        .iter()
        .filter_map(|f| Some((f.find(text)?, f.needle().len())))
        .min()?;
    let message = text[at + marker..].trim_ascii_start();
    Some(
        if message.starts_with(b"Allowed memory size of ") || message.starts_with(b"Out of memory")
        {
            AppCause::MemoryExhausted
        } else if message.starts_with(b"Maximum execution time of ") {
            AppCause::ExecutionTimeout
        } else {
            AppCause::PhpFatal
        },
    )
}

/// The cause of a request whose messages came in two parts (an nginx entry over several
/// lines): the database when either part names it, else the first part's.
pub fn either_cause(first: Option<AppCause>, then: Option<AppCause>) -> Option<AppCause> {
    if then == Some(AppCause::Database) {
        then
    } else {
        first.or(then)
    }
}

/// What MySQL/MariaDB clients, PostgreSQL and Redis say when the server cannot be reached
/// or refuses the app (not a bad query: that is the app's own fatal error).
const CONNECTION_WORDS: [&[u8]; 11] = [
    b"Connection refused",
    b"No such file or directory",
    b"Connection timed out",
    b"Access denied for user",
    b"Too many connections",
    b"MySQL server has gone away",
    b"Lost connection to",
    b"Can't connect to",
    b"Unknown database",
    b"php_network_getaddresses",
    b"is not allowed to connect",
];

/// Exceptions and calls of database clients that print their error after them; the
/// connection words must follow within [`CLIENT_WORDS_WITHIN`] bytes.
const CLIENTS: [&[u8]; 4] = [
    b"mysqli_sql_exception: ",
    b"RedisException: ",
    b"Predis\\Connection\\ConnectionException: ",
    b"pg_connect(): ",
];
const CLIENT_WORDS_WITHIN: usize = 160;

/// MySQL/MariaDB client and server error numbers that mean "no usable connection":
/// 2002/2003 cannot connect, 2005 unknown host, 2006 gone away, 2013 lost, 1040 and 1203
/// too many connections, 1044/1045 access denied, 1049 unknown database, 1226 over a
/// resource limit of the user.
const MYSQL_CONNECTION_ERRORS: [&[u8]; 11] = [
    b"2002", b"2003", b"2005", b"2006", b"2013", b"1040", b"1203", b"1044", b"1045", b"1049",
    b"1226",
];

/// The text up to `close`, at most 16 bytes on (codes are short).
fn code_until(text: &[u8], close: u8) -> Option<&[u8]> {
    let end = memchr::memchr(close, &text[..text.len().min(16)])?;
    Some(&text[..end])
}

fn database_unreachable(text: &[u8]) -> bool {
    // `SQLSTATE[HY000] [2002] Connection refused` (PDO, Laravel, Doctrine, Symfony's log),
    // `SQLSTATE[08006] [7] connection to server ... failed` (PostgreSQL).
    let sqlstate = SQLSTATE.find_iter(text).any(|at| {
        let rest = &text[at + 9..];
        let Some(state) = code_until(rest, b']') else {
            return false;
        };
        // Class 08: connection exception; 53300: too many connections; 57P0x: the server
        // is shutting down or starting up.
        if state.starts_with(b"08") || state == b"53300" || state.starts_with(b"57P0") {
            return true;
        }
        let code = rest[state.len() + 1..]
            .trim_ascii_start()
            .strip_prefix(b"[")
            .and_then(|r| code_until(r, b']'));
        code.is_some_and(|c| MYSQL_CONNECTION_ERRORS.contains(&c))
    });
    let mysqlnd = || {
        MYSQLND_CODE.find_iter(text).any(|at| {
            code_until(&text[at + 7..], b')').is_some_and(|c| MYSQL_CONNECTION_ERRORS.contains(&c))
        })
    };
    let client = || {
        CLIENTS.iter().any(|client| {
            memchr::memmem::find_iter(text, client).any(|at| {
                let after = &text[at + client.len()..];
                let after = &after[..after.len().min(CLIENT_WORDS_WITHIN)];
                CONNECTION_WORDS
                    .iter()
                    .any(|w| memchr::memmem::find(after, w).is_some())
            })
        })
    };
    sqlstate || mysqlnd() || client()
}

/// The `error_log` format's parser: whether a header line has been seen, so the lines after
/// it are its continuation.
#[derive(Default)]
pub struct PhpError {
    in_entry: bool,
}

impl PhpError {
    pub fn parse<S: Sink>(&mut self, line: &[u8], sink: &mut S) -> Verdict {
        let Some(message) = message(line) else {
            // A stack trace line, or a multi-line message of `error_log()`, belongs to the
            // entry above it; before any entry (a file read from its middle) it is not ours.
            return if self.in_entry {
                Verdict::Known
            } else {
                Verdict::Unrecognised
            };
        };
        self.in_entry = true;
        if let Some(cause) = request_cause(message) {
            sink.app_error(cause, b"-");
        }
        Verdict::Known
    }
}

/// The text after `[01-Dec-2026 22:02:47 UTC] ` (any time zone name, or none).
fn message(line: &[u8]) -> Option<&[u8]> {
    let r = line.strip_prefix(b"[")?;
    // dd-Mon-yyyy hh:mm:ss
    let date_ok = r.len() > 20
        && r[2] == b'-'
        && r[6] == b'-'
        && r[11] == b' '
        && r[14] == b':'
        && r[17] == b':'
        && r[..2].iter().all(u8::is_ascii_digit);
    if !date_ok {
        return None;
    }
    let close = memchr::memchr(b']', &r[..r.len().min(64)])?;
    r[close + 1..].strip_prefix(b" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::sink::recorder::Recorder;

    /// First lines of fatal errors as PHP 8.2 wrote them (tests/app_layer.rs makes the
    /// ones marked "real" happen), and what the frameworks' messages look like.
    #[test]
    fn messages_name_their_cause() {
        let table = [
            // real: new mysqli() to a closed port
            (
                "PHP Fatal error:  Uncaught mysqli_sql_exception: Connection refused in /w/mysqli.php:2",
                Some("database"),
            ),
            // real: new PDO() to a closed port, and to a missing socket
            (
                "PHP Fatal error:  Uncaught PDOException: SQLSTATE[HY000] [2002] Connection refused in /w/pdo.php:2",
                Some("database"),
            ),
            (
                "PHP Fatal error:  Uncaught PDOException: SQLSTATE[HY000] [2002] No such file or directory in /w/pdo.php:2",
                Some("database"),
            ),
            (
                "PHP Fatal error:  Uncaught Illuminate\\Database\\QueryException: SQLSTATE[HY000] [1045] Access denied for user 'forge'@'localhost' (using password: NO) (Connection: mysql, SQL: select * from `users`)",
                Some("database"),
            ),
            (
                "PHP Fatal error:  Uncaught PDOException: SQLSTATE[08006] [7] connection to server at \"127.0.0.1\", port 5432 failed: Connection refused",
                Some("database"),
            ),
            (
                "PHP Fatal error:  Uncaught mysqli_sql_exception: Too many connections in /w/x.php:3",
                Some("database"),
            ),
            (
                "PHP Fatal error:  Uncaught RedisException: Connection refused in /w/cache.php:4",
                Some("database"),
            ),
            // A bad query is the app's bug, not a database that is down.
            (
                "PHP Fatal error:  Uncaught PDOException: SQLSTATE[42S02]: Base table or view not found: 1146 Table 'wp.x' doesn't exist in /w/q.php:3",
                Some("php_fatal"),
            ),
            (
                "PHP Fatal error:  Uncaught mysqli_sql_exception: You have an error in your SQL syntax; check the manual in /w/q.php:3",
                Some("php_fatal"),
            ),
            // real
            (
                "PHP Fatal error:  Allowed memory size of 4194304 bytes exhausted (tried to allocate 2097152 bytes) in /w/memory.php on line 4",
                Some("memory_exhausted"),
            ),
            (
                "PHP Fatal error:  Out of memory (allocated 2097152) (tried to allocate 8192 bytes) in /w/x.php on line 3",
                Some("memory_exhausted"),
            ),
            // real
            (
                "PHP Fatal error:  Maximum execution time of 1 second exceeded in /w/timeout.php on line 4",
                Some("execution_timeout"),
            ),
            // real
            (
                "PHP Fatal error:  Uncaught Error: Call to undefined function nope() in /w/fatal.php:2",
                Some("php_fatal"),
            ),
            (
                "PHP Parse error:  syntax error, unexpected end of file in /w/broken.php on line 3",
                Some("php_fatal"),
            ),
            // A stack trace naming a database class does not make a fatal a database one.
            (
                "PHP Fatal error:  Uncaught Error: Call to a member function query() on null in /w/x.php:9\\nStack trace:\\n#0 /w/x.php(3): Connection refused()",
                Some("php_fatal"),
            ),
            // real: WordPress 6.1 with WP_DEBUG, its database down (then its dead_db() page)
            (
                "PHP Warning:  mysqli_real_connect(): (HY000/2002): Connection refused in /usr/share/wordpress/wp-includes/class-wpdb.php on line 1775",
                Some("database"),
            ),
            // real: Symfony's ErrorHandler logging the uncaught PDOException
            (
                "2026-12-01T22:14:29+00:00 [critical] Uncaught Exception: SQLSTATE[HY000] [2002] Connection refused",
                Some("database"),
            ),
            // real, one nginx entry: the error page itself failed, after the database did
            (
                "PHP message: PHP Fatal error:  Uncaught Symfony\\Component\\ErrorHandler\\Error\\UndefinedFunctionError: Attempted to call function \"mb_strlen\" from the global namespace. in /usr/share/php/x.php:19; PHP message: 2026-12-01T22:10:40+00:00 [critical] Uncaught Exception: SQLSTATE[HY000] [2002] Connection refused",
                Some("database"),
            ),
            (
                "PHP Warning:  pg_connect(): Unable to connect to PostgreSQL server: connection to server at \"127.0.0.1\", port 5432 failed: Connection refused in /w/x.php on line 2",
                Some("database"),
            ),
            // Not a failed request: the request went on.
            (
                "PHP Warning:  Undefined variable $db in /w/x.php on line 2",
                None,
            ),
            ("PHP Deprecated:  Creation of dynamic property", None),
            ("PHP Notice:  Undefined index: x", None),
        ];
        for (message, want) in table {
            assert_eq!(
                request_cause(message.as_bytes()).map(AppCause::as_str),
                want,
                "{message}"
            );
        }
    }

    /// The error_log as PHP 8.2 wrote it for five requests (two with stack traces).
    const REAL_LOG: &str = "\
[01-Dec-2026 22:02:47 UTC] PHP Fatal error:  Uncaught mysqli_sql_exception: Connection refused in /tmp/appexp/mysqli.php:2
Stack trace:
#0 /tmp/appexp/mysqli.php(2): mysqli->__construct()
#1 {main}
  thrown in /tmp/appexp/mysqli.php on line 2
[01-Dec-2026 22:02:48 UTC] PHP Fatal error:  Allowed memory size of 4194304 bytes exhausted (tried to allocate 2097152 bytes) in /tmp/appexp/memory.php on line 4
[01-Dec-2026 22:02:52 UTC] PHP Fatal error:  Maximum execution time of 1 second exceeded in /tmp/appexp/timeout.php on line 4
[01-Dec-2026 22:02:52 UTC] PHP Fatal error:  Uncaught Error: Call to undefined function undefined_function_here() in /tmp/appexp/fatal.php:2
Stack trace:
#0 /tmp/appexp/fatal.php(3): f()
#1 {main}
  thrown in /tmp/appexp/fatal.php on line 2
[01-Dec-2026 22:02:53 UTC] PHP Warning:  just a warning in /tmp/appexp/warn.php on line 2
[01-Dec-2026 22:02:53 Europe/Paris] a message of the app's own error_log()
";

    #[test]
    fn one_count_per_entry_and_stack_traces_are_known() {
        let mut p = PhpError::default();
        let mut r = Recorder::default();
        for line in REAL_LOG.lines() {
            assert_eq!(p.parse(line.as_bytes(), &mut r), Verdict::Known, "{line}");
        }
        let causes: Vec<&str> = r.apps.iter().map(|(c, _)| c.as_str()).collect();
        assert_eq!(
            causes,
            [
                "database",
                "memory_exhausted",
                "execution_timeout",
                "php_fatal"
            ]
        );
        assert!(r.apps.iter().all(|(_, vhost)| vhost == "-"));
    }

    #[test]
    fn lines_before_any_entry_or_without_the_header_are_unrecognised() {
        let mut p = PhpError::default();
        let mut r = Recorder::default();
        for l in ["#0 /x.php(2): f()", "", "[x] nothing", "[01-Dec-2026"] {
            assert_eq!(p.parse(l.as_bytes(), &mut r), Verdict::Unrecognised, "{l}");
        }
        assert!(r.apps.is_empty());
    }
}
