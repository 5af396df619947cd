//! Opens a target and prints what it holds and how long that took:
//! `cargo run --release -p bulwark-image --example open -- TARGET [PLATFORM]`.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let reference = args.next().ok_or("usage: open TARGET [PLATFORM]")?;
    let platform = args.next();
    let start = Instant::now();
    let (target, detected) = bulwark_image::parse_target(&reference)?;
    if let Some(kind) = detected {
        eprintln!("detected {kind}");
    }
    let images = bulwark_image::open(&target, platform.as_deref())?;
    let elapsed = start.elapsed();
    for image in &images {
        println!(
            "{} {} {:?} {:?}: {} packages, os {:?}",
            image.target,
            image.kind,
            image.platform,
            image.manifest_digest,
            image.packages.len(),
            image.os.as_ref().map(|o| &o.pretty_name),
        );
    }
    println!("opened in {elapsed:?}");
    Ok(())
}
