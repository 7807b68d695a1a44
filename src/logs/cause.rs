//! The one vocabulary of the `cause` and `event` labels, shared by every log format.

/// Why an upstream try or request failed, as far as the log can tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Cause {
    ConnectRefused,
    ConnectTimeout,
    SocketMissing,
    SocketPermission,
    BacklogFull,
    Timeout,
    Reset,
    PrematureClose,
    NoLiveUpstreams,
    HeaderTooBig,
    InvalidResponse,
    SslHandshake,
    Dns,
    RateLimited,
    QueueTimeout,
    /// The proxy's own circuit breaker refused the request (Envoy `UO`): the upstream's
    /// connection or pending-request limit is full.
    CircuitOpen,
}

impl Cause {
    pub const ALL: [Cause; 16] = [
        Cause::ConnectRefused,
        Cause::ConnectTimeout,
        Cause::SocketMissing,
        Cause::SocketPermission,
        Cause::BacklogFull,
        Cause::Timeout,
        Cause::Reset,
        Cause::PrematureClose,
        Cause::NoLiveUpstreams,
        Cause::HeaderTooBig,
        Cause::InvalidResponse,
        Cause::SslHandshake,
        Cause::Dns,
        Cause::RateLimited,
        Cause::QueueTimeout,
        Cause::CircuitOpen,
    ];

    /// The label value (docs/metrics.md, "Logs").
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::ConnectRefused => "connect_refused",
            Cause::ConnectTimeout => "connect_timeout",
            Cause::SocketMissing => "socket_missing",
            Cause::SocketPermission => "socket_permission",
            Cause::BacklogFull => "backlog_full",
            Cause::Timeout => "timeout",
            Cause::Reset => "reset",
            Cause::PrematureClose => "premature_close",
            Cause::NoLiveUpstreams => "no_live_upstreams",
            Cause::HeaderTooBig => "header_too_big",
            Cause::InvalidResponse => "invalid_response",
            Cause::SslHandshake => "ssl_handshake",
            Cause::Dns => "dns",
            Cause::RateLimited => "rate_limited",
            Cause::QueueTimeout => "queue_timeout",
            Cause::CircuitOpen => "circuit_open",
        }
    }

    /// The cause of a failed connect() from its errno, for the formats that print one.
    pub fn from_connect_errno(errno: u32) -> Cause {
        match errno {
            2 => Cause::SocketMissing,
            13 => Cause::SocketPermission,
            11 => Cause::BacklogFull,
            110 | 70007 => Cause::ConnectTimeout,
            _ => Cause::ConnectRefused,
        }
    }
}

/// What the app itself said went wrong with a request it failed (PHP's fatal errors, a
/// worker that died, a hosting limit): the `cause` of `gateway_app_errors_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AppCause {
    /// The app could not connect to (or lost) its database.
    Database,
    /// PHP's `memory_limit` (`Allowed memory size of N bytes exhausted`).
    MemoryExhausted,
    /// PHP's `max_execution_time`, or PHP-FPM's `request_terminate_timeout`.
    ExecutionTimeout,
    /// Any other fatal error.
    PhpFatal,
    /// A worker died on a crash signal (SIGSEGV, SIGBUS, SIGABRT, ...).
    WorkerCrash,
    /// A hosting limit refused the request (CloudLinux LVE: entry processes, memory).
    ResourceLimit,
}

impl AppCause {
    pub const ALL: [AppCause; 6] = [
        AppCause::Database,
        AppCause::MemoryExhausted,
        AppCause::ExecutionTimeout,
        AppCause::PhpFatal,
        AppCause::WorkerCrash,
        AppCause::ResourceLimit,
    ];

    /// The label value (docs/metrics.md, "Logs").
    pub fn as_str(self) -> &'static str {
        match self {
            AppCause::Database => "database",
            AppCause::MemoryExhausted => "memory_exhausted",
            AppCause::ExecutionTimeout => "execution_timeout",
            AppCause::PhpFatal => "php_fatal",
            AppCause::WorkerCrash => "worker_crash",
            AppCause::ResourceLimit => "resource_limit",
        }
    }
}

/// A server lifecycle event: "what changed just before" the errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Event {
    Reload,
    Restart,
    WorkerStart,
    WorkerExit,
    Shutdown,
    ServerDown,
    ServerUp,
    BackendDown,
    PoolRestart,
    MaxChildrenReached,
}

impl Event {
    pub const ALL: [Event; 10] = [
        Event::Reload,
        Event::Restart,
        Event::WorkerStart,
        Event::WorkerExit,
        Event::Shutdown,
        Event::ServerDown,
        Event::ServerUp,
        Event::BackendDown,
        Event::PoolRestart,
        Event::MaxChildrenReached,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Event::Reload => "reload",
            Event::Restart => "restart",
            Event::WorkerStart => "worker_start",
            Event::WorkerExit => "worker_exit",
            Event::Shutdown => "shutdown",
            Event::ServerDown => "server_down",
            Event::ServerUp => "server_up",
            Event::BackendDown => "backend_down",
            Event::PoolRestart => "pool_restart",
            Event::MaxChildrenReached => "max_children_reached",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_distinct_snake_case() {
        let mut seen = std::collections::HashSet::new();
        let causes = Cause::ALL.iter().map(|c| c.as_str());
        let app_causes = AppCause::ALL.iter().map(|c| c.as_str());
        for value in causes.chain(app_causes) {
            assert!(seen.insert(value), "{value} twice");
            assert!(value.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
        }
    }
}
