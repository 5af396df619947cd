//! Imports feeds into a database file and prints the import statistics and
//! the database info as JSON: `import INPUT... OUT`.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

fn main() -> ExitCode {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let Some((out, inputs)) = args.split_last().filter(|(_, inputs)| !inputs.is_empty()) else {
        eprintln!("usage: import INPUT... OUT");
        return ExitCode::from(2);
    };
    let inputs: Vec<&Path> = inputs.iter().map(PathBuf::as_path).collect();
    let start = Instant::now();
    let (db, stats) = match bulwark_vuln::Database::import(&inputs) {
        Ok(result) => result,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::FAILURE;
        }
    };
    let imported = start.elapsed();
    if let Err(err) = db.save(out) {
        eprintln!("error: {err}");
        return ExitCode::FAILURE;
    }
    let saved = start.elapsed();
    let size = std::fs::metadata(out).map(|m| m.len()).unwrap_or(0);
    println!(
        "{}",
        serde_json::json!({
            "stats": stats,
            "info": db.info(),
            "import_seconds": imported.as_secs_f64(),
            "import_and_save_seconds": saved.as_secs_f64(),
            "database_bytes": size,
        })
    );
    ExitCode::SUCCESS
}
