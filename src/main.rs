use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use gateway_exporter::base::exposition::Format;
use gateway_exporter::config::Config;
use gateway_exporter::registry::Registry;
use gateway_exporter::runtime::{self, Runtime};
use gateway_exporter::web::WebState;
use gateway_exporter::web::flags::WebFlags;
use std::path::PathBuf;
use std::sync::Arc;

/// Prometheus exporter that tells which layer and which cause produced a 502, 503 or 504.
#[derive(Parser, Debug)]
#[command(name = "gateway-exporter", version, about)]
struct Args {
    /// Configuration file (YAML). Without it, an embedded default with auto-detection is used.
    #[arg(long = "config.file", env = "GATEWAY_EXPORTER_CONFIG", global = true)]
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
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    web: WebFlags,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Walk the URLs (default: every configured or detected probe) and the host's logs,
    /// pools and flags, and say what is broken, where, and what to do. Exit 0 healthy,
    /// 1 fault found, 2 usage or config error.
    Diagnose(DiagnoseArgs),
}

#[derive(clap::Args, Debug)]
struct DiagnoseArgs {
    /// URLs to walk, e.g. https://shop.example.com/ (default: every configured or detected probe).
    urls: Vec<String>,
    /// text for people, json for scripts.
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
    /// The whole walk ends within this time.
    #[arg(long, default_value = "10s", value_parser = gateway_exporter::base::duration::parse)]
    timeout: std::time::Duration,
    /// How far back the logs are read (by their timestamps).
    #[arg(long = "log.window", default_value = "15m", value_parser = gateway_exporter::base::duration::parse)]
    log_window: std::time::Duration,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum Output {
    Text,
    Json,
}

fn main() {
    let args = Args::parse();
    args.log.init();
    if let Some(Command::Diagnose(d)) = &args.command {
        std::process::exit(diagnose(args.config_file.as_deref(), d));
    }
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
        if let Some(web_config) = &args.web.web_config_file {
            gateway_exporter::web::config::WebConfig::load(web_config)?;
        }
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

/// `diagnose`: 0 healthy, 1 a fault found, 2 a usage or config error.
fn diagnose(config_file: Option<&std::path::Path>, d: &DiagnoseArgs) -> i32 {
    use gateway_exporter::diagnose::{self, Settings, render};
    let config = match runtime::load(config_file) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("gateway-exporter diagnose: {e:#}");
            return 2;
        }
    };
    for url in &d.urls {
        let valid = url::Url::parse(url)
            .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some());
        if !valid {
            eprintln!("gateway-exporter diagnose: {url:?} is not an http:// or https:// URL");
            return 2;
        }
    }
    let mut settings = Settings {
        deadline: d.timeout,
        ..Settings::default()
    };
    settings.limits.window = d.log_window;
    let targets = diagnose::targets(&config, &d.urls);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("gateway-exporter diagnose: {e}");
            return 2;
        }
    };
    let report = rt.block_on(diagnose::diagnose(
        &config,
        &targets,
        d.urls.is_empty(),
        &settings,
    ));
    match d.output {
        Output::Text => print!("{}", render::text(&report)),
        Output::Json => print!("{}", render::json(&report)),
    }
    i32::from(!report.healthy)
}

fn on_off(on: bool) -> &'static str {
    if on { "on" } else { "off" }
}

async fn serve(args: Args, config: Config, registry: Arc<Registry>) -> Result<()> {
    let web = WebState::load(args.web.web_config_file.clone())?;
    match gateway_exporter::web::limits::raise_fd_limit() {
        Ok(limit) => tracing::debug!(limit, "open files limit"),
        Err(e) => tracing::warn!("cannot raise the open files limit: {e}"),
    }
    let listener = bind(&args.listen_address).await?;
    let runtime = Runtime::start(config, args.config_file.clone(), registry);
    let app = gateway_exporter::server::router(
        runtime.clone(),
        web.clone(),
        &args.telemetry_path,
        args.web.max_requests,
    )
    .map_err(anyhow::Error::msg)?;
    tokio::spawn(reload_on_sighup(runtime.clone(), web.clone()));
    tracing::info!(address = %listener.local_addr()?, tls = web.active().tls.is_some(), "listening");
    gateway_exporter::web::listener::serve(listener, app, web, &args.web, shutdown_signal()).await;
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

async fn reload_on_sighup(runtime: Arc<Runtime>, web: Arc<WebState>) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        return;
    };
    while hup.recv().await.is_some() {
        if let Err(e) = gateway_exporter::server::reload_all(runtime.clone(), web.clone()).await {
            tracing::error!("reload on SIGHUP refused: {e:#}");
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
