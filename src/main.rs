use anyhow::{Context, Result};
use clap::Parser;
use gateway_exporter::base::exposition::Format;
use gateway_exporter::config::Config;
use gateway_exporter::registry::Registry;
use gateway_exporter::runtime::{self, Runtime};
use std::path::PathBuf;
use std::sync::Arc;

/// Prometheus exporter that tells which layer and which cause produced a 502, 503 or 504.
#[derive(Parser, Debug)]
#[command(name = "gateway-exporter", version, about)]
struct Args {
    /// Configuration file (YAML). Without it, an embedded default with auto-detection is used.
    #[arg(long = "config.file", env = "GATEWAY_EXPORTER_CONFIG")]
    config_file: Option<PathBuf>,
    /// Validate the configuration file and exit (non-zero with the error).
    #[arg(long = "config.check")]
    config_check: bool,
    /// Address to listen on for the web interface and telemetry.
    #[arg(long = "web.listen-address", default_value = ":10211")]
    listen_address: String,
    /// Path under which to expose metrics.
    #[arg(long = "web.telemetry-path", default_value = "/metrics")]
    telemetry_path: String,
    /// Only log messages with the given severity or above: debug, info, warn, error.
    #[arg(long = "log.level", default_value = "info")]
    log_level: String,
    /// Read every configured log from its start to EOF, print the metrics on stdout, exit.
    #[arg(long = "one-shot")]
    one_shot: bool,
}

fn main() {
    let args = Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_new(&args.log_level).unwrap_or_else(|_| {
        eprintln!("invalid --log.level {:?}; using info", args.log_level);
        tracing_subscriber::EnvFilter::new("info")
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    if let Err(e) = run(args) {
        eprintln!("gateway-exporter: {e:#}");
        std::process::exit(1);
    }
}

fn run(args: Args) -> Result<()> {
    if args.config_check {
        // Parse and validate only: detection probes the host, a check must not.
        let config = match &args.config_file {
            Some(path) => Config::load(path)?,
            None => Config::embedded_default(),
        };
        let detect = config.autodetect;
        println!(
            "config OK: {} probes, {} logs, {} worker pools, {} upstreams (auto-detection: probes {}, logs {}, workers {})",
            config.probes.len(),
            config.logs.len(),
            config.workers.len(),
            config.upstreams.len(),
            on_off(detect.probes),
            on_off(detect.logs),
            on_off(detect.workers),
        );
        return Ok(());
    }
    let config = runtime::load(args.config_file.as_deref())?;
    let registry = Arc::new(Registry::new());
    if args.one_shot {
        gateway_exporter::logs::one_shot(&config.logs, &config.log_settings, &registry.logs)?;
        print!("{}", registry.encode(Format::Text004));
        return Ok(());
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(serve(args, config, registry))
}

fn on_off(on: bool) -> &'static str {
    if on { "on" } else { "off" }
}

async fn serve(args: Args, config: Config, registry: Arc<Registry>) -> Result<()> {
    let listener = bind(&args.listen_address).await?;
    let runtime = Runtime::start(config, args.config_file.clone(), registry);
    tokio::spawn(reload_on_sighup(runtime.clone()));
    tracing::info!(address = %listener.local_addr()?, "listening");
    let app = gateway_exporter::server::router(runtime.clone(), &args.telemetry_path);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    tokio::task::spawn_blocking(move || runtime.shutdown()).await?;
    Ok(())
}

/// `:port` means every address, as in the Go exporters: IPv6 and IPv4 when the host has
/// IPv6, IPv4 alone when it does not.
async fn bind(text: &str) -> Result<tokio::net::TcpListener> {
    let candidates = match text.strip_prefix(':') {
        Some(port) => vec![format!("[::]:{port}"), format!("0.0.0.0:{port}")],
        None => vec![text.to_string()],
    };
    let mut last_error = None;
    for addr in &candidates {
        match tokio::net::TcpListener::bind(addr).await {
            Ok(listener) => return Ok(listener),
            Err(e) => last_error = Some(e),
        }
    }
    let e = last_error.expect("at least one candidate address");
    Err(e).with_context(|| format!("cannot listen on {text}"))
}

async fn reload_on_sighup(runtime: Arc<Runtime>) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        return;
    };
    while hup.recv().await.is_some() {
        let rt = runtime.clone();
        match tokio::task::spawn_blocking(move || rt.reload()).await {
            Ok(Err(e)) => tracing::error!("reload on SIGHUP refused: {e:#}"),
            Err(e) => tracing::error!("reload task failed: {e}"),
            Ok(Ok(())) => {}
        }
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {},
        _ = tokio::signal::ctrl_c() => {},
    }
}
