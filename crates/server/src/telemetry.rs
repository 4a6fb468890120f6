//! Logging: a tracing subscriber writing JSON or human-readable lines. Spans are included in each
//! line, so the request id of tracing-actix-web's root span is on every line logged during a request.

use std::io::IsTerminal;

use tracing::Subscriber;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::{EnvFilter, Registry};

use crate::settings::LogFormat;

/// A subscriber writing to `writer`; `RUST_LOG` overrides `default_filter`. `ansi`: whether the pretty
/// format may colour its output (only when `writer` is a terminal: escape codes garble files and
/// log collectors).
pub fn subscriber<W>(
    format: LogFormat,
    default_filter: &str,
    writer: W,
    ansi: bool,
) -> Box<dyn Subscriber + Send + Sync>
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let base = Registry::default().with(filter);
    match format {
        LogFormat::Json => Box::new(
            base.with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_current_span(true)
                    .with_span_list(true)
                    .with_writer(writer),
            ),
        ),
        LogFormat::Pretty => Box::new(
            base.with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(ansi)
                    .with_writer(writer),
            ),
        ),
    }
}

/// Installs the subscriber for the whole process (once, at start).
pub fn init(format: LogFormat) {
    let ansi = std::io::stdout().is_terminal();
    let sub = subscriber(format, "info,actix_server=warn", std::io::stdout, ansi);
    // A second call (tests) keeps the first subscriber.
    let _ = tracing::subscriber::set_global_default(sub);
}
