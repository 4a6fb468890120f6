//! Push benchmark: a 256 MiB image of random (incompressible) layers pushed with skopeo directly to
//! Debian's docker-registry and through the gateway, alternating, several runs each in one sitting.
//! Prints throughput (MiB/s of compressed layer bytes) per run and the gateway's peak resident memory
//! during each gateway push.
//!
//! The gateway runs in this process; skopeo and docker-registry are separate processes, so this
//! process's peak RSS (`VmHWM`, reset before each push through `/proc/self/clear_refs`) is the gateway's.
//! Every run gets a fresh registry (and a fresh tenant), so no layer is ever skipped as already present.
//!
//! Then the fairness scenario: `BENCH_TENANTS` tenants (default 8) push `BENCH_TENANT_MIB` MiB each
//! (default 64) at the same time, through one gateway and directly, for the aggregate throughput of
//! each and the gateway's peak RSS.
//!
//! `cargo bench -p mgmt-registry-gateway --bench push` (env `BENCH_RUNS`, default 3; `BENCH_MIB`, default 256;
//! `BENCH_TENANTS`; `BENCH_TENANT_MIB`).

#[path = "../tests/it/common.rs"]
mod common;

use std::time::{Duration, Instant};

use common::*;
use mgmt_test_support::oci::{OciImage, skopeo_push};
use mgmt_test_support::registry::{RegistryOptions, RegistryServer};
use secrecy::ExposeSecret;

const LAYERS: u64 = 4;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn proc_status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| {
            l.strip_prefix(field)?
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

/// Resets this process's peak RSS to its current RSS (Linux ≥ 4.0).
fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

async fn direct(image: &OciImage) -> Duration {
    let reg = RegistryServer::start(RegistryOptions::default());
    let dest = format!("{}/{REPO}:direct", reg.host());
    let start = Instant::now();
    skopeo_push(image, &dest, Some((reg.username(), reg.password())), &[])
        .await
        .expect("direct push");
    start.elapsed()
}

async fn via_gateway(image: &OciImage) -> (Duration, u64, u64) {
    let reg = RegistryServer::start(RegistryOptions::default());
    let up = Upstream {
        url: reg.url(),
        username: reg.username().into(),
        password: reg.password().into(),
    };
    let gw = start_gateway(up.config()).await;
    let (_t, cred) = gw.tenant("bench").await;
    let creds = (cred.username.as_str(), cred.token.expose_secret());
    let dest = gw.image_ref(&cred.tag);
    // Let the server's worker threads settle before measuring.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = proc_status_kib("VmRSS:");
    reset_peak_rss();
    let start = Instant::now();
    skopeo_push(image, &dest, Some(creds), &[])
        .await
        .expect("push through the gateway");
    let elapsed = start.elapsed();
    let peak = proc_status_kib("VmHWM:");
    assert_eq!(
        up.digest(&cred.tag).await.as_deref(),
        Some(image.top_digest()),
        "image landed upstream"
    );
    (elapsed, before, peak)
}

/// One image per tenant, each of `mib` MiB in two random layers.
async fn tenant_images(dir: &std::path::Path, tenants: usize, mib: u64) -> Vec<OciImage> {
    let layer = mib * 1024 * 1024 / 2;
    let dir = dir.to_owned();
    tokio::task::spawn_blocking(move || {
        (0..tenants)
            .map(|i| {
                let sub = dir.join(format!("t{i}"));
                std::fs::create_dir_all(&sub).expect("dir");
                mgmt_test_support::oci::build_random_image(&sub, "t", &[layer, layer], false)
                    .expect("image")
            })
            .collect()
    })
    .await
    .expect("join")
}

/// All images pushed at once straight to a fresh registry, each to its own tag: the wall time.
async fn concurrent_direct(images: &[OciImage]) -> Duration {
    let reg = RegistryServer::start(RegistryOptions::default());
    let start = Instant::now();
    let pushes = images.iter().enumerate().map(|(i, image)| {
        let dest = format!("{}/{REPO}:direct-{i}", reg.host());
        let creds = (reg.username().to_owned(), reg.password().to_owned());
        async move {
            skopeo_push(image, &dest, Some((&creds.0, &creds.1)), &[])
                .await
                .expect("direct push")
        }
    });
    futures::future::join_all(pushes).await;
    start.elapsed()
}

/// All images pushed at once through one gateway, one tenant each: the wall time and peak RSS (KiB).
async fn concurrent_gateway(images: &[OciImage]) -> (Duration, u64) {
    let reg = RegistryServer::start(RegistryOptions::default());
    let up = Upstream {
        url: reg.url(),
        username: reg.username().into(),
        password: reg.password().into(),
    };
    let gw = start_gateway(up.config()).await;
    let mut creds = Vec::new();
    for i in 0..images.len() {
        creds.push(gw.tenant(&format!("t{i}")).await.1);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    reset_peak_rss();
    let start = Instant::now();
    let pushes = images.iter().zip(&creds).map(|(image, cred)| {
        let dest = gw.image_ref(&cred.tag);
        async move {
            let c = (cred.username.as_str(), cred.token.expose_secret());
            skopeo_push(image, &dest, Some(c), &[])
                .await
                .expect("push through the gateway")
        }
    });
    futures::future::join_all(pushes).await;
    let elapsed = start.elapsed();
    let peak = proc_status_kib("VmHWM:");
    for (image, cred) in images.iter().zip(&creds) {
        assert_eq!(
            up.digest(&cred.tag).await.as_deref(),
            Some(image.top_digest())
        );
    }
    (elapsed, peak)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // Only the bench's own `--bench` flag is passed by cargo; nothing to parse.
    let runs = env_u64("BENCH_RUNS", 3);
    let total_mib = env_u64("BENCH_MIB", 256);
    let dir = tempfile::tempdir().expect("temp dir");
    let layer = total_mib * 1024 * 1024 / LAYERS;
    println!("building a {total_mib} MiB image ({LAYERS} random layers) ...");
    let path = dir.path().to_owned();
    let image = tokio::task::spawn_blocking(move || {
        mgmt_test_support::oci::build_random_image(
            &path,
            "bench",
            &vec![layer; LAYERS as usize],
            false,
        )
    })
    .await
    .expect("join")
    .expect("image");
    let bytes: u64 = image.layer_sizes.iter().sum();
    println!(
        "image: {:.1} MiB compressed; peak-RSS reset supported: {}",
        mib(bytes),
        reset_peak_rss()
    );

    let (mut direct_rates, mut gateway_rates, mut peaks) = (Vec::new(), Vec::new(), Vec::new());
    for run in 1..=runs {
        let d = direct(&image).await;
        let rate = mib(bytes) / d.as_secs_f64();
        println!(
            "run {run}: direct   {:6.2} s  {rate:7.1} MiB/s",
            d.as_secs_f64()
        );
        direct_rates.push(rate);
        let (g, before, peak) = via_gateway(&image).await;
        let rate = mib(bytes) / g.as_secs_f64();
        println!(
            "run {run}: gateway  {:6.2} s  {rate:7.1} MiB/s  RSS before {:.1} MiB, peak {:.1} MiB",
            g.as_secs_f64(),
            before as f64 / 1024.0,
            peak as f64 / 1024.0
        );
        gateway_rates.push(rate);
        peaks.push(peak);
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (d, g) = (mean(&direct_rates), mean(&gateway_rates));
    let peak = peaks.iter().max().copied().unwrap_or(0) as f64 / 1024.0;
    println!(
        "mean: direct {d:.1} MiB/s, gateway {g:.1} MiB/s, ratio {:.2} (target >= 0.90)",
        g / d
    );
    println!("gateway peak RSS: {peak:.1} MiB (target < 100 MiB)");

    let tenants = env_u64("BENCH_TENANTS", 8) as usize;
    let tenant_mib = env_u64("BENCH_TENANT_MIB", 64);
    println!("building {tenants} images of {tenant_mib} MiB ...");
    let images = tenant_images(dir.path(), tenants, tenant_mib).await;
    let total: u64 = images.iter().flat_map(|i| &i.layer_sizes).sum();
    let d = concurrent_direct(&images).await;
    let (g, peak) = concurrent_gateway(&images).await;
    let (dr, gr) = (mib(total) / d.as_secs_f64(), mib(total) / g.as_secs_f64());
    println!(
        "{tenants} tenants x {tenant_mib} MiB at once: direct {:.2} s {dr:.1} MiB/s, gateway {:.2} s {gr:.1} MiB/s, ratio {:.2}",
        d.as_secs_f64(),
        g.as_secs_f64(),
        gr / dr
    );
    println!(
        "gateway peak RSS with {tenants} concurrent pushes: {:.1} MiB",
        peak as f64 / 1024.0
    );
}
