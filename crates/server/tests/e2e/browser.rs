//! A real browser for the signup pages: Debian's headless Chromium driven over WebDriver (its
//! `chromedriver`, both installed by `scripts/ensure-test-services.sh`) with `fantoccini`, and a
//! loopback callback server standing in for the CLI's `127.0.0.1:8766/callback` (on a port of its own:
//! the API accepts any loopback port). The browser follows the pages' forms and redirects itself, so a
//! page that only works for an HTTP client (no real form, a redirect a browser refuses) fails here.

use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use anyhow::{Context as _, bail, ensure};
use fantoccini::{Client, ClientBuilder, Locator};
use mgmt_test_support::process::LoggedProcess;
use tokio::sync::mpsc;

/// Where Debian's package puts the browser.
const CHROMIUM: &str = "/usr/bin/chromium";
/// How long the browser and its driver may take to start, and a page to load (a loaded CI machine).
const BROWSER_TIMEOUT: Duration = Duration::from_secs(60);

/// The CLI's callback server: records the query of every `GET /callback`.
pub struct CallbackServer {
    pub redirect_uri: String,
    received: mpsc::UnboundedReceiver<Vec<(String, String)>>,
    handle: actix_web::dev::ServerHandle,
}

impl CallbackServer {
    /// Listens on `127.0.0.1:0`.
    pub fn start() -> anyhow::Result<Self> {
        let (tx, received) = mpsc::unbounded_channel();
        let tx = web::Data::new(tx);
        let server = HttpServer::new(move || {
            App::new().app_data(tx.clone()).route(
                "/callback",
                web::get().to(
                    |req: HttpRequest,
                     tx: web::Data<mpsc::UnboundedSender<Vec<(String, String)>>>| async move {
                        let query = url::form_urlencoded::parse(req.query_string().as_bytes())
                            .map(|(k, v)| (k.into_owned(), v.into_owned()))
                            .collect();
                        // The receiver may be gone once the test has what it waited for.
                        let _ = tx.send(query);
                        HttpResponse::Ok()
                            .content_type("text/html; charset=utf-8")
                            .body("<p>Checkout complete. You can close this window.</p>")
                    },
                ),
            )
        })
        .workers(1)
        .disable_signals()
        .shutdown_timeout(1)
        .bind("127.0.0.1:0")?;
        let addr = *server.addrs().first().context("no address bound")?;
        let running = server.run();
        let handle = running.handle();
        tokio::spawn(running);
        Ok(Self {
            redirect_uri: format!("http://{addr}/callback"),
            received,
            handle,
        })
    }

    /// The query of the next callback, within the CLI's 300 s (bounded lower here: nothing should
    /// take that long).
    pub async fn next(&mut self, within: Duration) -> anyhow::Result<Vec<(String, String)>> {
        tokio::time::timeout(within, self.received.recv())
            .await
            .context("the browser never reached the callback")?
            .context("the callback server stopped")
    }
}

impl Drop for CallbackServer {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

/// Headless Chromium under its WebDriver; [`Browser::close`] ends the session (and the browser),
/// dropping stops the driver.
pub struct Browser {
    pub client: Client,
    _driver: LoggedProcess,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts `chromedriver` on a free port (logging to `log`) and opens a headless Chromium session.
    pub async fn start(log: &Path) -> anyhow::Result<Self> {
        ensure!(
            Path::new(CHROMIUM).exists(),
            "{CHROMIUM} is missing: run ./scripts/ensure-test-services.sh (it installs chromium and chromium-driver)"
        );
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let mut command = Command::new("chromedriver");
        command.arg(format!("--port={port}"));
        let driver = LoggedProcess::spawn("chromedriver", command, log)?;
        driver
            .wait_for_line(BROWSER_TIMEOUT, |l| l.contains("started successfully"))
            .await?;
        let profile = tempfile::tempdir()?;
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), "chrome".into());
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": CHROMIUM,
                // Root on CI: Chromium's sandbox needs an unprivileged user; /dev/shm is small in
                // containers.
                "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                         "--disable-gpu", format!("--user-data-dir={}", profile.path().display())],
            }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = tokio::time::timeout(
            BROWSER_TIMEOUT,
            ClientBuilder::new(connector)
                .capabilities(caps)
                .connect(&format!("http://127.0.0.1:{port}")),
        )
        .await
        .context("Chromium did not start in time")?
        .context("opening a WebDriver session in Chromium")?;
        Ok(Self {
            client,
            _driver: driver,
            _profile: profile,
        })
    }

    /// Opens `url` and checks the page is HTML with a `button#{button}` whose form the test is
    /// about to submit; returns the page's text.
    pub async fn open(&self, url: &str, button: &str) -> anyhow::Result<String> {
        self.client
            .goto(url)
            .await
            .with_context(|| format!("opening {url}"))?;
        let found = self
            .client
            .wait()
            .at_most(BROWSER_TIMEOUT)
            .for_element(Locator::Id(button))
            .await
            .with_context(|| format!("no button #{button} on {url}"))?;
        ensure!(
            found.is_displayed().await? && found.is_enabled().await?,
            "the button #{button} cannot be clicked"
        );
        Ok(self.client.find(Locator::Css("body")).await?.text().await?)
    }

    /// Clicks `button#{id}` as a person would.
    pub async fn click(&self, id: &str) -> anyhow::Result<()> {
        self.client.find(Locator::Id(id)).await?.click().await?;
        Ok(())
    }

    /// Waits until the browser's address starts with `prefix`; returns the address.
    pub async fn landed_on(&self, prefix: &str) -> anyhow::Result<String> {
        let deadline = tokio::time::Instant::now() + BROWSER_TIMEOUT;
        loop {
            let url = self.client.current_url().await?.to_string();
            if url.starts_with(prefix) {
                return Ok(url);
            }
            if tokio::time::Instant::now() > deadline {
                bail!("the browser stayed on {url}, never reached {prefix}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Ends the WebDriver session (Chromium exits).
    pub async fn close(self) -> anyhow::Result<()> {
        self.client.close().await?;
        Ok(())
    }
}
