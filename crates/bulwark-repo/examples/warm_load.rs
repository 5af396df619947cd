//! Measures a first and then warm `load`s of the host's APT sources:
//! `cargo run --release -p bulwark-repo --example warm_load [SUITE…]`.
#![expect(clippy::print_stderr, reason = "a measuring tool")]

use std::time::{Duration, Instant};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let suites: Vec<String> = std::env::args().skip(1).collect();
    let sources: Vec<_> = bulwark_repo::host_sources(&bulwark_repo::apt_root())?
        .into_iter()
        .filter(|s| suites.is_empty() || suites.contains(&s.suite))
        .collect();
    let cache = bulwark_cache::Cache::open(&bulwark_cache::Cache::default_root())?;
    let mut times = Vec::new();
    for run in 0..6 {
        let start = Instant::now();
        let index = bulwark_repo::load(&sources, "amd64", &cache, &bulwark_repo::NoReporter)?;
        let elapsed = start.elapsed();
        eprintln!(
            "run {run}: {} packages from {} releases in {elapsed:?}",
            index.packages.len(),
            index.releases.len(),
        );
        if run > 0 {
            times.push(elapsed);
        }
    }
    times.sort();
    let median = times
        .get(times.len() / 2)
        .copied()
        .unwrap_or(Duration::ZERO);
    eprintln!("warm: best {:?}, median {median:?}", times[0]);
    Ok(())
}
