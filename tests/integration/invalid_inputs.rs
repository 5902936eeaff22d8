//! Table of malformed inputs: each must give one error with the expected code at the expected
//! line, exit 1, print nothing on stdout, and write no file.

use assert_cmd::Command;
use knative2nomad::batch;
use knative2nomad::config::ConvertOptions;
use knative2nomad::findings::Severity;
use std::path::PathBuf;

/// (file in testdata/invalid, code, line; 0 = the file as a whole)
const CASES: &[(&str, &str, usize)] = &[
    ("yaml-syntax.yaml", "K2N001", 6),
    ("tab-indent.yaml", "K2N001", 4),
    ("duplicate-key.yaml", "K2N001", 5),
    ("binary.yaml", "K2N110", 0),
    ("not-a-mapping.yaml", "K2N002", 1),
    ("containers-string.yaml", "K2N002", 8),
    ("ports-string.yaml", "K2N002", 10),
    ("negative-timeout.yaml", "K2N002", 8),
    ("no-containers.yaml", "K2N003", 8),
    ("no-image.yaml", "K2N003", 9),
    ("no-name.yaml", "K2N003", 3),
    ("bad-name.yaml", "K2N004", 4),
    ("long-name.yaml", "K2N004", 4),
    ("duplicate-container.yaml", "K2N004", 13),
    ("v1alpha1.yaml", "K2N005", 1),
    ("alias-bomb.yaml", "K2N006", 0),
    ("deep-nesting.yaml", "K2N006", 0),
    ("two-ports.yaml", "K2N010", 12),
    ("two-containers-ports.yaml", "K2N010", 15),
    ("no-port-multi.yaml", "K2N010", 8),
    ("port-name.yaml", "K2N010", 11),
    ("port-protocol.yaml", "K2N010", 12),
    ("reserved-port.yaml", "K2N011", 11),
    ("bad-cpu.yaml", "K2N012", 12),
    ("bad-memory.yaml", "K2N012", 12),
    ("negative-memory.yaml", "K2N012", 12),
    ("memory-out-of-range.yaml", "K2N012", 12),
    ("min-scale-word.yaml", "K2N013", 9),
    ("min-above-max.yaml", "K2N013", 10),
    ("bad-target.yaml", "K2N013", 9),
    ("reserved-env.yaml", "K2N014", 11),
    ("missing-volume.yaml", "K2N015", 11),
    ("relative-mount.yaml", "K2N015", 12),
];

#[test]
fn every_malformed_input_is_located_and_writes_nothing() {
    let mut failures = Vec::new();
    for (file, code, line) in CASES {
        let path = PathBuf::from("testdata/invalid").join(file);
        let batch = batch::run(std::slice::from_ref(&path), &ConvertOptions::default());
        let errors: Vec<_> = batch
            .all_findings()
            .filter(|f| f.severity == Severity::Error)
            .collect();
        let found = errors.iter().find(|f| f.code == *code);
        match found {
            None => failures.push(format!(
                "{file}: expected {code}, got {:?}",
                errors
                    .iter()
                    .map(|f| (f.code, f.location.line, &f.message))
                    .collect::<Vec<_>>()
            )),
            Some(f) if *line != 0 && f.location.line != *line => failures.push(format!(
                "{file}: {code} at line {}, expected {line}: {}",
                f.location.line, f.message
            )),
            Some(_) => {}
        }
        assert!(
            batch.services.iter().all(|s| s.job().is_none()),
            "{file}: a job was produced"
        );

        let out = tempfile::tempdir().unwrap();
        let result = Command::cargo_bin("knative2nomad")
            .unwrap()
            .arg("convert")
            .arg(&path)
            .arg("-o")
            .arg(out.path())
            .output()
            .unwrap();
        assert_eq!(result.status.code(), Some(1), "{file}");
        assert!(result.stdout.is_empty(), "{file}: stdout not empty");
        let stderr = String::from_utf8_lossy(&result.stderr);
        assert!(
            stderr.contains(&format!("error[{code}]")),
            "{file}: {stderr}"
        );
        assert!(
            stderr.contains(file),
            "{file}: message does not name the file"
        );
        assert_eq!(
            std::fs::read_dir(out.path()).unwrap().count(),
            0,
            "{file}: something was written"
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(CASES.len() >= 25);
}

#[test]
fn oversized_input_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.yaml");
    let line = "# padding padding padding padding padding padding padding padding padding\n";
    let text = line.repeat(17 * 1024 * 1024 / line.len() + 1);
    std::fs::write(&path, text).unwrap();
    let batch = batch::run(std::slice::from_ref(&path), &ConvertOptions::default());
    assert!(batch.all_findings().any(|f| f.code == "K2N006"));
}
