//! `mgmt-loadtest`: the load test of issue 19 (a benchmark, not a test; `just load` runs it against the
//! release build). It seeds customers and tenants straight into the management database, opens event
//! streams the way the CLI does, commits tenant changes at a fixed rate and measures, per scenario:
//! database transactions per second (from `pg_stat_database`), the server's RSS (`/proc/<pid>/status`),
//! the delivery latency of an event from the commit that wrote it to the client, exactly-once delivery
//! across two server processes, `GET /status` throughput next to pgbench running the same lookup, and
//! what one customer far beyond its limits does to the others. It prints one table.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use futures::StreamExt;
use tokio::sync::watch;
use tokio_postgres::{Client, NoTls};
use uuid::Uuid;

#[derive(Parser, Debug)]
#[command(about = "Load test of the event streams, limits and status reads (issue 19)")]
struct Args {
    /// Base URL of the first API process.
    #[arg(long)]
    api: String,
    /// Base URL of a second API process on the same database (scenario 2).
    #[arg(long)]
    api2: Option<String>,
    /// The management database both processes use (seeded by this tool).
    #[arg(long)]
    database_url: String,
    /// The servers' `JWT_SECRET` (HS256 user tokens).
    #[arg(long, env = "JWT_SECRET", hide_env_values = true)]
    jwt_secret: String,
    /// The first API process (RSS).
    #[arg(long)]
    server_pid: u32,
    #[arg(long)]
    server2_pid: Option<u32>,
    #[arg(long, default_value_t = 5000)]
    streams: usize,
    /// Customers owning the streams' tenants (streams per customer = streams / customers).
    #[arg(long, default_value_t = 500)]
    customers: usize,
    /// Tenant changes committed per second while measuring delivery.
    #[arg(long, default_value_t = 50)]
    changes_per_sec: u32,
    /// Length of each measuring window.
    #[arg(long, default_value_t = 15)]
    seconds: u64,
    /// Concurrent `GET /status` clients (and pgbench clients) in scenario 3.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// The per-customer stream limit the server runs with (the abuser tries ten times as many).
    #[arg(long, default_value_t = 20)]
    stream_limit: usize,
    /// Which scenarios to run.
    #[arg(long, default_value = "1,2,3,4")]
    scenarios: String,
    /// How the processes are pinned to cores (printed in the table; `scripts/load.sh` does the pinning).
    #[arg(long, default_value = "not pinned")]
    pinning: String,
    /// Scenario 4: the other customers' `GET /status` rate (fixed, so their latency is compared at the
    /// same offered load with and without the abuser).
    #[arg(long, default_value_t = 1000)]
    others_rps: u32,
    /// Scenario 4: the abuser's request rate (its limit is 50/s: the default is 100 times that).
    #[arg(long, default_value_t = 5000)]
    abuse_rps: u32,
}

/// One row of the final table.
struct Row {
    scenario: &'static str,
    figure: String,
    value: String,
    target: &'static str,
}

struct Seed {
    /// (tenant, owner's token)
    tenants: Vec<(Uuid, Arc<str>)>,
    /// The owner of `tenants[i]` is `customers[i % customers.len()]`.
    customers: Vec<Uuid>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let (pg, conn) = tokio_postgres::connect(&args.database_url, NoTls)
        .await
        .context("--database-url")?;
    tokio::spawn(conn);
    let pg = Arc::new(pg);
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .timeout(Duration::from_secs(120))
        .build()?;
    let cores = machine_cores();
    let own_cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let preload: String = pg
        .query_one("SHOW shared_preload_libraries", &[])
        .await?
        .get(0);
    let run = &Uuid::new_v4().simple().to_string()[..8];
    let seed = seed(&pg, &args, run).await?;
    eprintln!(
        "loadtest: seeded {} tenants of {} customers",
        seed.tenants.len(),
        args.customers
    );
    let want: Vec<&str> = args.scenarios.split(',').map(str::trim).collect();
    let mut rows = vec![Row {
        scenario: "-",
        figure: "machine cores".into(),
        value: cores.to_string(),
        target: "",
    }];
    rows.push(Row {
        scenario: "-",
        figure: format!("pinning (this generator and pgbench may use {own_cores} core(s))"),
        value: args.pinning.clone(),
        target: "",
    });
    rows.push(Row {
        scenario: "-",
        figure: "shared_preload_libraries (queries/s from pg_stat_database otherwise)".into(),
        value: if preload.is_empty() {
            "(none)".into()
        } else {
            preload.clone()
        },
        target: "",
    });

    if want.contains(&"1") {
        eprintln!("loadtest: scenario 1");
        let apis = vec![args.api.clone()];
        let streams = Streams::open(&http, &apis, &seed.tenants, args.streams).await;
        rows.push(Row {
            scenario: "1",
            figure: format!("streams open (of {})", args.streams),
            value: streams.open_count().to_string(),
            target: "all",
        });
        // Idle backends flush their statistics every 10 s: the opening burst must be in before `before`.
        tokio::time::sleep(SETTLE).await;
        let idle = commits_per_sec(&pg, Duration::from_secs(args.seconds)).await?;
        rows.push(Row {
            scenario: "1",
            figure: format!("DB transactions/s, {} idle streams", streams.open_count()),
            value: format!("{idle:.2}"),
            target: "<= 5",
        });
        rows.push(Row {
            scenario: "1",
            figure: "server RSS, MiB".into(),
            value: format!("{:.1}", rss_mib(args.server_pid)?),
            target: "<= 300",
        });
        let (delivery, busy) =
            changes_and_delivery(&pg, &args, &seed, &streams, args.changes_per_sec).await?;
        rows.push(Row {
            scenario: "1",
            figure: format!(
                "DB transactions/s at {} changes/s (minus the writer's own)",
                args.changes_per_sec
            ),
            value: format!("{busy:.1}"),
            target: "independent of streams",
        });
        rows.extend(delivery.rows("1"));
        rows.push(Row {
            scenario: "1",
            figure: "server RSS after the changes, MiB".into(),
            value: format!("{:.1}", rss_mib(args.server_pid)?),
            target: "<= 300",
        });
        streams.close().await;
    }

    if want.contains(&"2") {
        match (&args.api2, args.server2_pid) {
            (Some(api2), Some(pid2)) => {
                eprintln!("loadtest: scenario 2");
                let apis = vec![args.api.clone(), api2.clone()];
                let streams = Streams::open(&http, &apis, &seed.tenants, args.streams).await;
                rows.push(Row {
                    scenario: "2",
                    figure: format!("streams open on 2 processes (of {})", args.streams),
                    value: streams.open_count().to_string(),
                    target: "all",
                });
                // Idle backends flush their statistics every 10 s: the opening burst must be in before `before`.
                tokio::time::sleep(SETTLE).await;
                let idle = commits_per_sec(&pg, Duration::from_secs(args.seconds)).await?;
                rows.push(Row {
                    scenario: "2",
                    figure: "DB transactions/s, idle, 2 processes".into(),
                    value: format!("{idle:.2}"),
                    target: "<= 5",
                });
                let (delivery, _) =
                    changes_and_delivery(&pg, &args, &seed, &streams, args.changes_per_sec).await?;
                rows.extend(delivery.rows("2"));
                rows.push(Row {
                    scenario: "2",
                    figure: "RSS of each process, MiB".into(),
                    value: format!("{:.1} / {:.1}", rss_mib(args.server_pid)?, rss_mib(pid2)?),
                    target: "<= 300",
                });
                streams.close().await;
            }
            _ => eprintln!("loadtest: scenario 2 needs --api2 and --server2-pid; skipped"),
        }
    }

    if want.contains(&"3") {
        eprintln!("loadtest: scenario 3");
        let apis = vec![args.api.clone()];
        let streams = Streams::open(&http, &apis, &seed.tenants, args.streams).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        // Tenant writes alongside (the event/state writes a deploy or a secrets update makes).
        let writer = {
            let (pg, args2, seed2) = (pg.clone(), args.seconds, seed.tenants.clone());
            tokio::spawn(
                async move { write_changes(&pg, &seed2, 40, Duration::from_secs(args2)).await },
            )
        };
        let targets: Vec<(Uuid, Arc<str>)> =
            seed.tenants.iter().take(args.customers).cloned().collect();
        let cpu = CpuMeter::start(args.server_pid);
        let status = status_load(
            &http,
            &args.api,
            &targets,
            args.concurrency,
            None,
            Duration::from_secs(args.seconds),
        )
        .await;
        let cpu_status = cpu.stop();
        let _ = writer.await;
        let (tenant, customer) = (seed.tenants[0].0, seed.customers[0]);
        let pgbench = pgbench_lookup(&args, &status_queries(tenant, customer)).await;
        let pgbench_one = pgbench_lookup(&args, &status_queries(tenant, customer)[..1]).await;
        rows.push(Row {
            scenario: "3",
            figure: format!(
                "GET /status req/s, {} clients, {} streams open, 40 writes/s",
                args.concurrency,
                streams.open_count()
            ),
            value: format!(
                "{:.0} (p99 {:.1} ms, {} non-2xx)",
                status.rps, status.p99_ms, status.errors
            ),
            target: "",
        });
        rows.push(cpu_status.row("3", "during GET /status"));
        match (pgbench, pgbench_one) {
            (Ok(tps), Ok(tps_one)) => {
                rows.push(Row {
                    scenario: "3",
                    figure: format!(
                        "pgbench, /status's 2 queries (tenant, last deploy), {} clients, tps",
                        args.concurrency
                    ),
                    value: format!("{tps:.0}"),
                    target: "",
                });
                rows.push(Row {
                    scenario: "3",
                    figure: "ratio /status to pgbench (same 2 queries)".into(),
                    value: format!("{:.2}", status.rps / tps),
                    target: ">= 0.5",
                });
                rows.push(Row {
                    scenario: "3",
                    figure: format!(
                        "pgbench, the tenant query alone, {} clients, tps (ratio)",
                        args.concurrency
                    ),
                    value: format!("{tps_one:.0} ({:.2})", status.rps / tps_one),
                    target: "",
                });
            }
            (a, b) => eprintln!("loadtest: pgbench failed: {:?} {:?}", a.err(), b.err()),
        }
        streams.close().await;
    }

    if want.contains(&"4") {
        eprintln!("loadtest: scenario 4");
        let others: Vec<(Uuid, Arc<str>)> =
            seed.tenants.iter().take(args.customers).cloned().collect();
        let window = Duration::from_secs(args.seconds);
        let others_rate = Some(f64::from(args.others_rps));
        let cpu = CpuMeter::start(args.server_pid);
        let quiet = status_load(&http, &args.api, &others, 16, others_rate, window).await;
        let cpu_quiet = cpu.stop();
        // The abuser: one customer, ten times its stream limit plus a request loop.
        let abuser_sub = format!("load-{run}-abuser");
        let abuser_token: Arc<str> = token(&args.jwt_secret, &abuser_sub).into();
        let abuser_tenant = seed_abuser(&pg, &abuser_sub).await?;
        let abusive_streams = args.stream_limit * 10;
        let streams = Streams::open(
            &http,
            std::slice::from_ref(&args.api),
            &vec![(abuser_tenant, abuser_token.clone()); abusive_streams],
            abusive_streams,
        )
        .await;
        let hammer = {
            let api = args.api.clone();
            let path = format!("/api/v1/tenants/{abuser_tenant}/status");
            let rate = f64::from(args.abuse_rps);
            tokio::spawn(
                async move { raw_flood(&api, &path, &abuser_token, 64, rate, window).await },
            )
        };
        let cpu = CpuMeter::start(args.server_pid);
        let loud = status_load(&http, &args.api, &others, 16, others_rate, window).await;
        let cpu_loud = cpu.stop();
        let hammer = hammer.await??;
        // Quiet again: the spread between the two quiet windows is this machine's noise.
        let again = status_load(&http, &args.api, &others, 16, others_rate, window).await;
        rows.push(Row {
            scenario: "4",
            figure: format!(
                "others' GET /status p50/p99 ms, quiet ({} req/s offered, {} served)",
                args.others_rps, quiet.rps as u64
            ),
            value: format!("{:.2} / {:.2}", quiet.p50_ms, quiet.p99_ms),
            target: "",
        });
        rows.push(Row {
            scenario: "4",
            figure: format!(
                "others' GET /status p50/p99 ms, abuser active ({} req/s served)",
                loud.rps as u64
            ),
            value: format!("{:.2} / {:.2}", loud.p50_ms, loud.p99_ms),
            target: "p99 unchanged within noise",
        });
        rows.push(Row {
            scenario: "4",
            figure: format!(
                "others' GET /status p50/p99 ms, quiet again ({} req/s served; the noise)",
                again.rps as u64
            ),
            value: format!("{:.2} / {:.2}", again.p50_ms, again.p99_ms),
            target: "",
        });
        rows.push(cpu_quiet.row("4", "quiet"));
        rows.push(cpu_loud.row("4", "abuser active"));
        rows.push(Row {
            scenario: "4",
            figure: format!("abuser streams accepted / refused (of {abusive_streams})"),
            value: format!("{} / {}", streams.open_count(), streams.refused()),
            target: "limit / rest 429",
        });
        rows.push(Row {
            scenario: "4",
            figure: format!(
                "abuser requests 2xx / 429 / other, at {}/s offered (64 connections)",
                args.abuse_rps
            ),
            value: format!("{} / {} / {}", hammer.ok, hammer.limited, hammer.errors),
            target: "429s",
        });
        streams.close().await;
    }

    println!();
    println!("{:<3} {:<72} {:>28}  target", "sc", "figure", "value");
    for r in &rows {
        println!(
            "{:<3} {:<72} {:>28}  {}",
            r.scenario, r.figure, r.value, r.target
        );
    }
    Ok(())
}

/// An HS256 user token as the servers accept it (`JWT_SECRET`).
fn token(secret: &str, sub: &str) -> String {
    let now = chrono::Utc::now().timestamp();
    let claims = serde_json::json!({
        "sub": sub, "email": format!("{sub}@load.test"), "iat": now, "exp": now + 7200,
    });
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("HS256 signs")
}

fn tenant_values(id: Uuid, customer: Uuid, name: &str) -> String {
    let short = &id.simple().to_string()[..12];
    format!(
        "('{id}', '{customer}', '{name}', 'free', 'iad', 'provisioning', 'sp-{short}', '{short}.load.test', \
         'sp-{short}.internal', 'site_{short}', 'tenant_{short}')"
    )
}

const TENANT_COLUMNS: &str = "id, customer_id, name, plan_id, region, state, fly_app_name, hostname, \
    internal_hostname, database_name, database_role";

/// Customers and one tenant per stream (in provisioning: their streams stay open), straight in SQL.
async fn seed(pg: &Client, args: &Args, run: &str) -> anyhow::Result<Seed> {
    let mut customers = Vec::new();
    for i in 0..args.customers {
        let sub = format!("load-{run}-{i}");
        let id: String = pg
            .query_one(
                "INSERT INTO management.customers (subject, email) VALUES ($1, $2) RETURNING id::text",
                &[&sub, &format!("{sub}@load.test")],
            )
            .await?
            .get(0);
        let id: Uuid = id.parse()?;
        customers.push((id, Arc::<str>::from(token(&args.jwt_secret, &sub))));
    }
    let mut tenants = Vec::new();
    let mut values = Vec::new();
    for i in 0..args.streams {
        let (customer, token) = &customers[i % customers.len()];
        let id = Uuid::new_v4();
        values.push(tenant_values(id, *customer, &format!("load{i}")));
        tenants.push((id, token.clone()));
    }
    for chunk in values.chunks(1000) {
        pg.batch_execute(&format!(
            "INSERT INTO management.tenants ({TENANT_COLUMNS}) VALUES {}",
            chunk.join(",")
        ))
        .await?;
    }
    Ok(Seed {
        tenants,
        customers: customers.iter().map(|(id, _)| *id).collect(),
    })
}

async fn seed_abuser(pg: &Client, sub: &str) -> anyhow::Result<Uuid> {
    let customer: String = pg
        .query_one(
            "INSERT INTO management.customers (subject, email) VALUES ($1, $2) RETURNING id::text",
            &[&sub, &format!("{sub}@load.test")],
        )
        .await?
        .get(0);
    let customer: Uuid = customer.parse()?;
    let id = Uuid::new_v4();
    pg.batch_execute(&format!(
        "INSERT INTO management.tenants ({TENANT_COLUMNS}) VALUES {}",
        tenant_values(id, customer, "abuser")
    ))
    .await?;
    Ok(id)
}

/// Committed transactions (and rollbacks) per second in this database over `window`, without the
/// counter's own reads.
async fn commits_per_sec(pg: &Client, window: Duration) -> anyhow::Result<f64> {
    let (count, elapsed) = commits_during(pg, window).await?;
    Ok(count / elapsed)
}

/// Transactions committed in this database during `window` (and the seconds measured).
async fn commits_during(pg: &Client, window: Duration) -> anyhow::Result<(f64, f64)> {
    let sql = "SELECT (xact_commit + xact_rollback)::int8 FROM pg_stat_database WHERE datname = current_database()";
    // Statistics reach pg_stat_database when backends flush them (about every second, every 10 s when
    // idle); a 10 s settle and a window of that order keep the flush delay out of the figure.
    pg.batch_execute("SELECT pg_stat_clear_snapshot()").await?;
    let before: i64 = pg.query_one(sql, &[]).await?.get(0);
    let started = Instant::now();
    tokio::time::sleep(window).await;
    tokio::time::sleep(Duration::from_secs(11)).await;
    pg.batch_execute("SELECT pg_stat_clear_snapshot()").await?;
    let after: i64 = pg.query_one(sql, &[]).await?.get(0);
    let elapsed = started.elapsed().as_secs_f64();
    // Our own: two counter reads and two snapshot clears.
    Ok(((((after - before) as f64) - 4.0).max(0.0), elapsed))
}

fn rss_mib(pid: u32) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("/proc/{pid}/status"))?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .context("VmRSS")?;
    Ok(kb / 1024.0)
}

/// Open streams and what they received: (stream index, change sequence, when).
struct Streams {
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    open: Arc<AtomicUsize>,
    refused: Arc<AtomicUsize>,
    received: Arc<Mutex<Vec<(usize, u64, Instant)>>>,
    /// The tenant each stream follows.
    tenant_of: Vec<Uuid>,
}

impl Streams {
    /// Opens `n` streams, stream `i` on `tenants[i]` through `apis[i % apis.len()]`; returns once every
    /// one answered (or failed).
    async fn open(
        http: &reqwest::Client,
        apis: &[String],
        tenants: &[(Uuid, Arc<str>)],
        n: usize,
    ) -> Streams {
        let (stop, stop_rx) = watch::channel(false);
        let open = Arc::new(AtomicUsize::new(0));
        let refused = Arc::new(AtomicUsize::new(0));
        let answered = Arc::new(AtomicUsize::new(0));
        let received = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        let mut tenant_of = Vec::new();
        for i in 0..n {
            let (tenant, token) = tenants[i % tenants.len()].clone();
            tenant_of.push(tenant);
            let url = format!("{}/api/v1/tenants/{tenant}/events", apis[i % apis.len()]);
            let (http, open, refused, answered, received, mut stop_rx) = (
                http.clone(),
                open.clone(),
                refused.clone(),
                answered.clone(),
                received.clone(),
                stop_rx.clone(),
            );
            tasks.push(tokio::spawn(async move {
                let resp = http
                    .get(&url)
                    .bearer_auth(&*token)
                    .header("accept", "text/event-stream")
                    .send()
                    .await;
                answered.fetch_add(1, Ordering::Relaxed);
                let resp = match resp {
                    Ok(r) if r.status() == 200 => r,
                    Ok(_) => {
                        refused.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                    Err(e) => {
                        eprintln!("loadtest: stream {i}: {e}");
                        refused.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                };
                open.fetch_add(1, Ordering::Relaxed);
                let mut body = resp.bytes_stream();
                let mut buf = String::new();
                loop {
                    tokio::select! {
                        chunk = body.next() => match chunk {
                            Some(Ok(c)) => {
                                let now = Instant::now();
                                buf.push_str(&String::from_utf8_lossy(&c));
                                while let Some(end) = buf.find("\n\n") {
                                    let block: String = buf.drain(..end + 2).collect();
                                    if let Some(seq) = change_seq(&block) {
                                        received.lock().unwrap().push((i, seq, now));
                                    }
                                }
                            }
                            _ => break,
                        },
                        _ = stop_rx.changed() => break,
                    }
                }
                open.fetch_sub(1, Ordering::Relaxed);
            }));
        }
        let started = Instant::now();
        while answered.load(Ordering::Relaxed) < n && started.elapsed() < Duration::from_secs(120) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        eprintln!(
            "loadtest: {} streams open, {} refused, in {:.1}s",
            open.load(Ordering::Relaxed),
            refused.load(Ordering::Relaxed),
            started.elapsed().as_secs_f64()
        );
        Streams {
            stop,
            tasks,
            open,
            refused,
            received,
            tenant_of,
        }
    }

    fn open_count(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    fn refused(&self) -> usize {
        self.refused.load(Ordering::Relaxed)
    }

    async fn close(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

/// The change sequence in an SSE block whose message is `lt:<seq>`.
fn change_seq(block: &str) -> Option<u64> {
    let data = block.lines().find_map(|l| l.strip_prefix("data: "))?;
    let v: serde_json::Value = serde_json::from_str(data).ok()?;
    v["message"].as_str()?.strip_prefix("lt:")?.parse().ok()
}

/// Wait after the streams opened before measuring idle (the stream openings' own reads are done and
/// their statistics flushed).
const SETTLE: Duration = Duration::from_secs(12);

static SEQ: AtomicU64 = AtomicU64::new(1);

/// Commits `rate` tenant changes per second for `window` (an event and a state update in one
/// transaction, round-robin over the tenants); returns (sequence → tenant, commit acknowledged at).
async fn write_changes(
    pg: &Client,
    tenants: &[(Uuid, Arc<str>)],
    rate: u32,
    window: Duration,
) -> anyhow::Result<HashMap<u64, (Uuid, Instant)>> {
    let mut commits = HashMap::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1) / rate.max(1));
    let started = Instant::now();
    while started.elapsed() < window {
        tick.tick().await;
        let seq = SEQ.fetch_add(1, Ordering::Relaxed);
        let tenant = tenants[seq as usize % tenants.len()].0;
        pg.batch_execute(&format!(
            "BEGIN;
             INSERT INTO management.tenant_events (tenant_id, event_type, status, message)
                 VALUES ('{tenant}', 'vm_provisioning_progress', 'provisioning', 'lt:{seq}');
             UPDATE management.tenants SET status_message = 'lt:{seq}' WHERE id = '{tenant}';
             COMMIT;"
        ))
        .await?;
        commits.insert(seq, (tenant, Instant::now()));
    }
    Ok(commits)
}

struct Delivery {
    expected: usize,
    delivered: usize,
    duplicates: usize,
    missing: usize,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

impl Delivery {
    fn rows(&self, scenario: &'static str) -> Vec<Row> {
        vec![
            Row {
                scenario,
                figure: "event deliveries expected / delivered / duplicated / missing".into(),
                value: format!(
                    "{} / {} / {} / {}",
                    self.expected, self.delivered, self.duplicates, self.missing
                ),
                target: "exactly once",
            },
            Row {
                scenario,
                figure: "delivery latency commit -> client, p50 / p99 / max ms".into(),
                value: format!(
                    "{:.1} / {:.1} / {:.1}",
                    self.p50_ms, self.p99_ms, self.max_ms
                ),
                target: "p99 <= 250",
            },
        ]
    }
}

/// Commits changes for a window, waits for stragglers, and checks what every stream received; also the
/// database's transactions per second meanwhile, minus the writer's own.
async fn changes_and_delivery(
    pg: &Arc<Client>,
    args: &Args,
    seed: &Seed,
    streams: &Streams,
    rate: u32,
) -> anyhow::Result<(Delivery, f64)> {
    streams.received.lock().unwrap().clear();
    let window = Duration::from_secs(args.seconds);
    let writer = {
        let (pg, tenants) = (pg.clone(), seed.tenants.clone());
        tokio::spawn(async move { write_changes(&pg, &tenants, rate, window).await })
    };
    // Counted over the window and the settle after it; the writer's own transactions are taken out and
    // the rest spread over the window (the settle is idle).
    let (count, _) = commits_during(pg, window).await?;
    let commits = writer.await??;
    let busy = (count - commits.len() as f64).max(0.0) / window.as_secs_f64();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut streams_of: HashMap<Uuid, Vec<usize>> = HashMap::new();
    for (i, t) in streams.tenant_of.iter().enumerate() {
        streams_of.entry(*t).or_default().push(i);
    }
    let received = streams.received.lock().unwrap().clone();
    let mut seen: HashMap<(usize, u64), usize> = HashMap::new();
    let mut latencies = Vec::new();
    for (i, seq, at) in &received {
        *seen.entry((*i, *seq)).or_default() += 1;
        if let Some((_, committed)) = commits.get(seq) {
            latencies.push(at.saturating_duration_since(*committed).as_secs_f64() * 1000.0);
        }
    }
    let mut expected = 0;
    let mut missing = 0;
    for (seq, (tenant, _)) in &commits {
        for i in streams_of.get(tenant).into_iter().flatten() {
            expected += 1;
            if !seen.contains_key(&(*i, *seq)) {
                missing += 1;
            }
        }
    }
    let duplicates = seen.values().map(|n| n - 1).sum();
    latencies.sort_by(f64::total_cmp);
    if latencies.is_empty() {
        bail!("no event was delivered");
    }
    Ok((
        Delivery {
            expected,
            delivered: received.len(),
            duplicates,
            missing,
            p50_ms: pct(&latencies, 50.0),
            p99_ms: pct(&latencies, 99.0),
            max_ms: *latencies.last().unwrap(),
        },
        busy,
    ))
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 * p / 100.0).ceil() as usize).clamp(1, sorted.len());
    sorted[i - 1]
}

struct StatusFigures {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    errors: usize,
    ok: usize,
    limited: usize,
}

/// `clients` connections looping `GET /status` over `targets` for `window`: as fast as each answer
/// comes (`rate` None), or together at `rate` requests per second (ticks a client cannot keep up with
/// are skipped, so the figures say what was served).
async fn status_load(
    http: &reqwest::Client,
    api: &str,
    targets: &[(Uuid, Arc<str>)],
    clients: usize,
    rate: Option<f64>,
    window: Duration,
) -> StatusFigures {
    // Built once: the generator shares the machine with the server, so it spends as little as it can.
    let requests: Arc<Vec<(String, String)>> = Arc::new(
        targets
            .iter()
            .map(|(tenant, token)| {
                (
                    format!("{api}/api/v1/tenants/{tenant}/status"),
                    format!("Bearer {token}"),
                )
            })
            .collect(),
    );
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (http, requests) = (http.clone(), requests.clone());
        let mut tick = rate.map(|r| {
            let mut t = tokio::time::interval(Duration::from_secs_f64(clients as f64 / r));
            t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            t
        });
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let (mut errors, mut limited) = (0, 0);
            let mut n = c;
            while started.elapsed() < window {
                if let Some(t) = &mut tick {
                    t.tick().await;
                }
                let (url, auth) = &requests[n % requests.len()];
                n += clients;
                let t = Instant::now();
                match http
                    .get(url.as_str())
                    .header(reqwest::header::AUTHORIZATION, auth.as_str())
                    .send()
                    .await
                {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                        lat.push(t.elapsed().as_secs_f64() * 1000.0);
                    }
                    Ok(r) if r.status() == 429 => {
                        limited += 1;
                        let _ = r.bytes().await;
                    }
                    _ => errors += 1,
                }
            }
            (lat, errors, limited)
        }));
    }
    let mut lat = Vec::new();
    let (mut errors, mut limited) = (0, 0);
    for t in tasks {
        if let Ok((l, e, r)) = t.await {
            lat.extend(l);
            errors += e;
            limited += r;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    lat.sort_by(f64::total_cmp);
    let (p50, p99) = if lat.is_empty() {
        (0.0, 0.0)
    } else {
        (pct(&lat, 50.0), pct(&lat, 99.0))
    };
    StatusFigures {
        rps: lat.len() as f64 / elapsed,
        p50_ms: p50,
        p99_ms: p99,
        errors,
        ok: lat.len(),
        limited,
    }
}

/// The abuser's requests: `conns` keep-alive connections sending `GET path` together at `rate` per
/// second, written and read as raw HTTP/1.1 rather than through reqwest, because the generator runs
/// on the server's machine and a real abuser's client costs the server nothing: reqwest spent ~70 µs
/// of CPU per request here, more than the server spends refusing one. Returns its figures.
async fn raw_flood(
    api: &str,
    path: &str,
    token: &str,
    conns: usize,
    rate: f64,
    window: Duration,
) -> anyhow::Result<StatusFigures> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = api
        .strip_prefix("http://")
        .context("--api must be http://host:port")?
        .trim_end_matches('/')
        .to_owned();
    let request: Arc<[u8]> =
        format!("GET {path} HTTP/1.1\r\nhost: {host}\r\nauthorization: Bearer {token}\r\n\r\n")
            .into_bytes()
            .into();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let (host, request) = (host.clone(), request.clone());
        tasks.push(tokio::spawn(async move {
            let (mut ok, mut limited, mut errors) = (0usize, 0usize, 0usize);
            let mut tick = tokio::time::interval(Duration::from_secs_f64(conns as f64 / rate));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            let mut conn = None;
            let mut buf = Vec::with_capacity(4096);
            while started.elapsed() < window {
                tick.tick().await;
                if conn.is_none() {
                    conn = tokio::net::TcpStream::connect(&host).await.ok();
                }
                let Some(stream) = conn.as_mut() else {
                    errors += 1;
                    continue;
                };
                buf.clear();
                let status = async {
                    stream.write_all(&request).await?;
                    read_response(stream, &mut buf).await
                }
                .await;
                match status {
                    Ok(s) if (200..300).contains(&s) => ok += 1,
                    Ok(429) => limited += 1,
                    Ok(_) => errors += 1,
                    Err(_) => {
                        errors += 1;
                        conn = None;
                    }
                }
            }
            (ok, limited, errors)
        }));
    }
    let (mut ok, mut limited, mut errors) = (0, 0, 0);
    for t in tasks {
        let (o, l, e) = t.await?;
        (ok, limited, errors) = (ok + o, limited + l, errors + e);
    }
    return Ok(StatusFigures {
        rps: ok as f64 / started.elapsed().as_secs_f64(),
        p50_ms: 0.0,
        p99_ms: 0.0,
        errors,
        ok,
        limited,
    });

    /// Reads one response (headers and a `content-length` body); its status.
    async fn read_response(
        stream: &mut tokio::net::TcpStream,
        buf: &mut Vec<u8>,
    ) -> std::io::Result<u16> {
        let bad = || std::io::Error::other("malformed response");
        let mut chunk = [0u8; 4096];
        loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = std::str::from_utf8(&buf[..end]).map_err(|_| bad())?;
                let status: u16 = head
                    .get(9..12)
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(bad)?;
                let length: usize = head
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse().ok())?
                    })
                    .ok_or_else(bad)?;
                while buf.len() < end + 4 + length {
                    let n = stream.read(&mut chunk).await?;
                    if n == 0 {
                        return Err(bad());
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                return Ok(status);
            }
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Err(bad());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
    }
}

/// The two queries `GET /status` makes (the tenant, scoped to its customer; its latest deployment),
/// as diesel writes them.
fn status_queries(tenant: Uuid, customer: Uuid) -> [String; 2] {
    [
        format!(
            "SELECT id, customer_id, name, plan_id, region, state, status_message, fly_app_name, machine_id, \
             volume_id, hostname, internal_hostname, database_name, database_role, deployed_digest, row_version, \
             created_at, updated_at, deleted_at FROM management.tenants \
             WHERE id = '{tenant}' AND customer_id = '{customer}' LIMIT 1;"
        ),
        format!(
            "SELECT id, seq, tenant_id, image, digest, status, error, requested_at, started_at, finished_at \
             FROM management.deployments WHERE tenant_id = '{tenant}' ORDER BY seq DESC LIMIT 1;"
        ),
    ]
}

/// CPU time used over a window: the server process, this generator, and the whole machine (other
/// work on the machine shows as the difference), in cores.
struct CpuMeter {
    server_pid: u32,
    started: Instant,
    server: f64,
    own: f64,
    machine: (f64, f64),
}

struct CpuFigures {
    server: f64,
    own: f64,
    machine_busy: f64,
    machine_cores: f64,
}

impl CpuMeter {
    fn start(server_pid: u32) -> Self {
        Self {
            server_pid,
            started: Instant::now(),
            server: proc_cpu_secs(&server_pid.to_string()),
            own: proc_cpu_secs("self"),
            machine: machine_cpu_secs(),
        }
    }

    fn stop(self) -> CpuFigures {
        let elapsed = self.started.elapsed().as_secs_f64();
        let (busy, total) = machine_cpu_secs();
        CpuFigures {
            server: (proc_cpu_secs(&self.server_pid.to_string()) - self.server) / elapsed,
            own: (proc_cpu_secs("self") - self.own) / elapsed,
            machine_busy: (busy - self.machine.0) / elapsed,
            machine_cores: (total - self.machine.1) / elapsed,
        }
    }
}

impl CpuFigures {
    fn row(&self, scenario: &'static str, when: &str) -> Row {
        Row {
            scenario,
            figure: format!("CPU in cores {when}: server / generator / whole machine busy of"),
            value: format!(
                "{:.2} / {:.2} / {:.2} of {:.1}",
                self.server, self.own, self.machine_busy, self.machine_cores
            ),
            target: "",
        }
    }
}

/// utime + stime of a process, in seconds (`/proc/<pid>/stat`, clock ticks of 1/100 s).
fn proc_cpu_secs(pid: &str) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the command name (which may hold spaces) start at the state, field 3.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<f64> = rest
        .split_whitespace()
        .map(|v| v.parse().unwrap_or(0.0))
        .collect();
    (f.get(11).copied().unwrap_or(0.0) + f.get(12).copied().unwrap_or(0.0)) / 100.0
}

/// (busy, total) CPU seconds of the whole machine since boot (`/proc/stat`).
fn machine_cpu_secs() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let f: Vec<f64> = stat
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .map(|v| v.parse().unwrap_or(0.0))
        .collect();
    let total: f64 = f.iter().sum();
    // idle and iowait
    let idle = f.get(3).copied().unwrap_or(0.0) + f.get(4).copied().unwrap_or(0.0);
    ((total - idle) / 100.0, total / 100.0)
}

/// The machine's online cores (not this process's affinity, which `scripts/load.sh` may narrow).
fn machine_cores() -> usize {
    std::fs::read_to_string("/proc/cpuinfo")
        .map(|t| t.lines().filter(|l| l.starts_with("processor")).count())
        .ok()
        .filter(|n| *n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// pgbench running `queries` (one pgbench transaction = one `/status`) at the same concurrency; its
/// tps. It inherits this process's core affinity, so it has the same client-side cores as the HTTP load.
async fn pgbench_lookup(args: &Args, queries: &[String]) -> anyhow::Result<f64> {
    let dir = std::env::temp_dir().join(format!("loadtest-pgbench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let script = dir.join("lookup.sql");
    std::fs::write(&script, queries.join("\n") + "\n")?;
    let out = tokio::process::Command::new("pgbench")
        .args(["-n", "-M", "prepared", "-c"])
        .arg(args.concurrency.to_string())
        .args(["-j", "2", "-T"])
        .arg(args.seconds.to_string())
        .arg("-f")
        .arg(&script)
        .arg(&args.database_url)
        .output()
        .await
        .context("pgbench")?;
    let _ = std::fs::remove_dir_all(&dir);
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("tps = "))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .with_context(|| {
            format!(
                "no tps in pgbench's output: {text}{}",
                String::from_utf8_lossy(&out.stderr)
            )
        })
}
