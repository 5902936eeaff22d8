//! The floor for the batch benchmark: how long serde_yaml alone takes to read and parse every
//! YAML file under a directory (one thread per core, as the converter uses).
//! `cargo run --release --example parse_floor -- DIR`

use rayon::prelude::*;
use std::path::{Path, PathBuf};

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            walk(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "yaml") {
            out.push(path);
        }
    }
    Ok(())
}

fn main() -> std::io::Result<()> {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "target/bench-corpus".to_string()),
    );
    let mut files = Vec::new();
    walk(&dir, &mut files)?;
    let start = std::time::Instant::now();
    let documents: usize = files
        .par_iter()
        .map(|f| {
            let text = std::fs::read_to_string(f).unwrap_or_default();
            serde_yaml::Deserializer::from_str(&text)
                .filter_map(|d| serde::Deserialize::deserialize(d).ok())
                .filter(|v: &serde_yaml::Value| !v.is_null())
                .count()
        })
        .sum();
    let secs = start.elapsed().as_secs_f64();
    println!(
        "parsed {} files ({documents} documents) in {secs:.3} s: {:.0} files/s",
        files.len(),
        files.len() as f64 / secs
    );
    Ok(())
}
