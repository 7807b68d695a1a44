use anyhow::{Context, Result};
use clap::Parser;
use gateway_exporter::config::Config;
use gateway_exporter::metrics::{Format, Metrics};
use gateway_exporter::runtime::Runtime;
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
    #[command(flatten)]
    log: gateway_exporter::logging::LogArgs,
    /// Read every configured log from its start to EOF, print the metrics on stdout, exit.
    #[arg(long = "one-shot")]
    one_shot: bool,
}

fn main() {
    let args = Args::parse();
    args.log.init();
    if let Err(e) = run(args) {
        eprintln!("gateway-exporter: {e:#}");
        std::process::exit(1);
    }
}

fn load_config(args: &Args) -> Result<Config> {
    match &args.config_file {
        Some(path) => Config::load(path),
        None => Ok(Config::embedded_default()),
    }
}

fn run(args: Args) -> Result<()> {
    let config = load_config(&args)?;
    if args.config_check {
        println!(
            "config OK: {} probes, {} logs, {} worker pools, {} upstreams",
            config.probes.len(),
            config.logs.len(),
            config.workers.len(),
            config.upstreams.len()
        );
        return Ok(());
    }
    let metrics = Arc::new(Metrics::new());
    if args.one_shot {
        gateway_exporter::logs::one_shot(&config, &metrics)?;
        print!("{}", metrics.encode(Format::Text004));
        return Ok(());
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(serve(args, config, metrics))
}

async fn serve(args: Args, config: Config, metrics: Arc<Metrics>) -> Result<()> {
    let listener = bind(&args.listen_address).await?;
    let runtime = Runtime::start(config, args.config_file.clone(), metrics);
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
