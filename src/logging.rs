//! Log lines on stderr the way Prometheus' Go exporters write them (exporter-toolkit's
//! `--log.format logfmt|json` and `--log.level`): `time`, `level`, `source`, `msg`, then the
//! event's fields. Colour only when stderr is a terminal, so files and journald get no ESC codes.

use serde_json::Value;
use std::fmt::Write as _;
use std::io::IsTerminal;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Logfmt,
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

impl From<LogLevel> for Level {
    fn from(level: LogLevel) -> Level {
        match level {
            LogLevel::Debug => Level::DEBUG,
            LogLevel::Info => Level::INFO,
            LogLevel::Warn => Level::WARN,
            LogLevel::Error => Level::ERROR,
        }
    }
}

/// The logging flags, flattened into the command line.
#[derive(clap::Args, Debug, Clone)]
pub struct LogArgs {
    /// Only log messages with the given severity or above.
    #[arg(long = "log.level", value_enum, default_value = "info")]
    pub level: LogLevel,
    /// Output format of log messages.
    #[arg(long = "log.format", value_enum, default_value = "logfmt")]
    pub format: LogFormat,
}

impl LogArgs {
    /// Install the global subscriber writing to stderr.
    pub fn init(&self) {
        let ansi = std::io::stderr().is_terminal();
        tracing_subscriber::fmt()
            .with_max_level(Level::from(self.level))
            .with_writer(std::io::stderr)
            .with_ansi(ansi)
            .event_format(LineFormat {
                format: self.format,
                colour: ansi,
            })
            .init();
    }
}

/// One event, one line, in logfmt or JSON.
pub struct LineFormat {
    pub format: LogFormat,
    /// Colour the level (logfmt only; JSON stays plain).
    pub colour: bool,
}

impl<S, N> FormatEvent<S, N> for LineFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let mut time = String::new();
        SystemTime.format_time(&mut Writer::new(&mut time))?;
        let mut fields = Fields::default();
        event.record(&mut fields);
        let level = *event.metadata().level();
        let source = fields
            .log_target
            .take()
            .unwrap_or_else(|| event.metadata().target().to_string());
        let mut pairs = vec![
            ("time".to_string(), Value::String(time)),
            ("level".to_string(), Value::String(level.to_string())),
            ("source".to_string(), Value::String(source)),
            ("msg".to_string(), Value::String(fields.message)),
        ];
        pairs.extend(fields.others);
        let line = match self.format {
            LogFormat::Json => json_line(&pairs),
            LogFormat::Logfmt => logfmt_line(&pairs, self.colour.then(|| level_colour(level))),
        };
        writeln!(writer, "{line}")
    }
}

fn level_colour(level: Level) -> &'static str {
    match level {
        Level::ERROR => "\x1b[31m",
        Level::WARN => "\x1b[33m",
        Level::INFO => "\x1b[32m",
        _ => "\x1b[34m",
    }
}

fn json_line(pairs: &[(String, Value)]) -> String {
    let mut line = String::from("{");
    for (i, (key, value)) in pairs.iter().enumerate() {
        if i > 0 {
            line.push(',');
        }
        line.push_str(&Value::String(key.clone()).to_string());
        line.push(':');
        line.push_str(&value.to_string());
    }
    line.push('}');
    line
}

fn logfmt_line(pairs: &[(String, Value)], level_colour: Option<&str>) -> String {
    let mut line = String::new();
    for (key, value) in pairs {
        if !line.is_empty() {
            line.push(' ');
        }
        let text = match value {
            Value::String(s) => logfmt_value(s),
            other => other.to_string(),
        };
        match level_colour {
            Some(colour) if key == "level" => {
                let _ = write!(line, "{key}={colour}{text}\x1b[0m");
            }
            _ => {
                let _ = write!(line, "{key}={text}");
            }
        }
    }
    line
}

/// Quoted (Go `%q` style escapes) when it is empty or holds a space, `=`, a quote or a
/// control character, bare otherwise: one event stays on one line whatever it carries.
fn logfmt_value(text: &str) -> String {
    let needs_quotes = text.is_empty()
        || text
            .chars()
            .any(|c| c == ' ' || c == '=' || c == '"' || c.is_control());
    if !needs_quotes {
        return text.to_string();
    }
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for c in text.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\n' => quoted.push_str("\\n"),
            '\r' => quoted.push_str("\\r"),
            '\t' => quoted.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(quoted, "\\u{:04x}", c as u32);
            }
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

/// An event's fields: `message` apart, numbers and booleans kept as such for JSON.
#[derive(Default)]
struct Fields {
    message: String,
    /// Events bridged from the `log` crate name their origin in a `log.target` field.
    log_target: Option<String>,
    others: Vec<(String, Value)>,
}

impl Fields {
    fn add(&mut self, field: &Field, value: Value) {
        match (field.name(), value) {
            ("message", Value::String(s)) => self.message = s,
            ("log.target", Value::String(s)) => self.log_target = Some(s),
            (name, _) if name.starts_with("log.") => {} // module path, file, line of `log` records
            (name, value) => self.others.push((name.to_string(), value)),
        }
    }
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.add(field, Value::String(format!("{value:?}")));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.add(field, Value::String(value.to_string()));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.add(field, Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.add(field, Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.add(field, Value::from(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        // NaN and infinities have no JSON number: keep them as text.
        let json = serde_json::Number::from_f64(value)
            .map(Value::Number)
            .unwrap_or_else(|| Value::String(value.to_string()));
        self.add(field, json);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// Log with `format` into a buffer and return what was written.
    fn capture(format: LogFormat, colour: bool, emit: impl FnOnce()) -> String {
        let buffer = Arc::new(Mutex::new(Vec::<u8>::new()));
        let sink = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(Level::INFO)
            .with_writer(move || SinkWriter(sink.clone()))
            .event_format(LineFormat { format, colour })
            .finish();
        tracing::subscriber::with_default(subscriber, emit);
        String::from_utf8(buffer.lock().unwrap().clone()).unwrap()
    }

    struct SinkWriter(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for SinkWriter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn logfmt_quotes_what_would_break_the_line() {
        let out = capture(LogFormat::Logfmt, false, || {
            tracing::warn!(
                collector = "phpfpm",
                attempts = 3,
                "collector failed: say \"hi\"\nnext"
            );
            tracing::debug!("below the level: not written");
        });
        assert_eq!(out.lines().count(), 1, "{out}");
        let line = out.lines().next().unwrap();
        assert!(line.starts_with("time=20"), "{line}");
        assert!(
            line.contains(" level=WARN source=gateway_exporter::logging::tests "),
            "{line}"
        );
        assert!(
            line.ends_with(
                r#"msg="collector failed: say \"hi\"\nnext" collector=phpfpm attempts=3"#
            ),
            "{line}"
        );
        assert!(!line.contains('\x1b'), "{line:?}");
    }

    #[test]
    fn json_lines_parse_with_typed_fields() {
        let out = capture(LogFormat::Json, true, || {
            tracing::info!(address = %"127.0.0.1:10211", ok = true, took = 0.5, "listening");
        });
        let v: Value = serde_json::from_str(out.trim_end()).unwrap();
        assert_eq!(v["level"], "INFO");
        assert_eq!(v["msg"], "listening");
        assert_eq!(v["address"], "127.0.0.1:10211");
        assert_eq!(v["ok"], true);
        assert_eq!(v["took"], 0.5);
        assert!(v["time"].as_str().unwrap().ends_with('Z'), "{v}");
        assert!(!out.contains('\x1b'), "JSON is never coloured: {out:?}");
    }

    #[test]
    fn colour_only_wraps_the_level_when_asked() {
        let out = capture(LogFormat::Logfmt, true, || tracing::error!("boom"));
        assert!(out.contains("level=\x1b[31mERROR\x1b[0m "), "{out:?}");
        assert_eq!(out.matches('\x1b').count(), 2, "{out:?}");
    }

    #[test]
    fn bare_values_stay_bare() {
        assert_eq!(
            logfmt_value("unix:/run/php/fpm.sock"),
            "unix:/run/php/fpm.sock"
        );
        assert_eq!(logfmt_value(""), r#""""#);
        assert_eq!(logfmt_value("a=b"), r#""a=b""#);
        assert_eq!(logfmt_value("bell\u{7}"), r#""bell\u0007""#);
    }
}
