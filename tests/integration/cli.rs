//! The command line as a user meets it: stdout carries only jobs, stderr findings and errors,
//! exit codes follow the contract, and a batch with bad files still converts the good ones.

use assert_cmd::Command;
use predicates::prelude::*;

fn k2n() -> Command {
    Command::cargo_bin("knative2nomad").unwrap()
}

/// Knative's default (min-scale 0) scales to zero through Sablier; stdout stays a stream of
/// jobs, so the run says that the Traefik route needs -o. `--scale-to-zero none` keeps one
/// instance up, with K2N020. Either way the summary says which Services scale to zero.
#[test]
fn converts_a_file_to_hcl_on_stdout() {
    k2n()
        .args(["convert", "testdata/services/01-minimal.yaml"])
        .assert()
        .success()
        .stdout(predicate::str::contains("job \"hello\" {"))
        .stdout(predicate::str::contains("count          = 0"))
        .stdout(predicate::str::contains("K2N").not())
        .stdout(predicate::str::contains("sablierUrl").not())
        .stderr(predicate::str::contains("note[K2N090]"))
        .stderr(predicate::str::contains("K2N020").not())
        .stderr(predicate::str::contains(
            "1 service(s) scale to zero through Sablier and need their Traefik routes: convert with -o DIR",
        ))
        .stderr(predicate::str::contains(
            "1 service(s) converted: 1 scale to zero (Sablier), 0 always on;",
        ));
    k2n()
        .args([
            "convert",
            "testdata/services/01-minimal.yaml",
            "--scale-to-zero",
            "none",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("count          = 1"))
        .stderr(predicate::str::contains("warning[K2N020]"))
        .stderr(predicate::str::contains("Traefik routes").not())
        .stderr(predicate::str::contains(
            "1 service(s) converted: 0 scale to zero (Sablier), 1 always on;",
        ));
    // With --message-format json, stderr stays a stream of findings.
    let out = k2n()
        .args([
            "convert",
            "testdata/services/01-minimal.yaml",
            "--message-format",
            "json",
        ])
        .output()
        .unwrap();
    for line in String::from_utf8(out.stderr).unwrap().lines() {
        serde_json::from_str::<serde_json::Value>(line).unwrap_or_else(|e| panic!("{line}: {e}"));
    }
}

#[test]
fn json_is_a_stream_of_job_objects() {
    let out = k2n()
        .args([
            "convert",
            "testdata/services/32-list-kind.yaml",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let stream = serde_json::Deserializer::from_slice(&out.stdout).into_iter::<serde_json::Value>();
    let ids: Vec<String> = stream
        .map(|v| v.unwrap()["Job"]["ID"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, ["listed-one", "listed-two"]);
}

#[test]
fn reads_stdin() {
    k2n()
        .args(["convert", "-"])
        .write_stdin(std::fs::read("testdata/services/03-port.yaml").unwrap())
        .assert()
        .success()
        .stdout(predicate::str::contains("to = 9000"));
}

#[test]
fn strict_fails_on_warnings_unless_allowed() {
    k2n()
        .args(["convert", "testdata/services/01-minimal.yaml", "--strict"])
        .assert()
        .code(1);
    k2n()
        .args([
            "convert",
            "testdata/services/01-minimal.yaml",
            "--strict",
            "--allow",
            "K2N091",
        ])
        .assert()
        .success();
}

#[test]
fn bad_input_names_file_and_line_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("good.yaml"),
        std::fs::read("testdata/services/01-minimal.yaml").unwrap(),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("bad.yaml"),
        "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata:\n  name: bad\nspec:\n  template:\n    spec:\n      containers:\n      - image: x\n        resources:\n          requests:\n            cpu: lots\n",
    )
    .unwrap();
    let out = tempfile::tempdir().unwrap();
    k2n()
        .args(["convert"])
        .arg(dir.path())
        .arg("-o")
        .arg(out.path())
        .assert()
        .code(1)
        .stderr(predicate::str::contains("bad.yaml:12:"))
        .stderr(predicate::str::contains("error[K2N012]"))
        .stderr(predicate::str::contains("\"lots\""));
    assert!(out.path().join("hello.nomad.hcl").exists());
    assert!(!out.path().join("bad.nomad.hcl").exists());
}

#[test]
fn writes_tree_and_refuses_foreign_files() {
    let out = tempfile::tempdir().unwrap();
    std::fs::write(
        out.path().join("hello.nomad.hcl"),
        "job \"hand-written\" {}\n",
    )
    .unwrap();
    k2n()
        .args(["convert", "testdata/services/01-minimal.yaml", "-o"])
        .arg(out.path())
        .assert()
        .code(1)
        .stderr(predicate::str::contains("not written by knative2nomad"));
    k2n()
        .args([
            "convert",
            "testdata/services/01-minimal.yaml",
            "--force",
            "-o",
        ])
        .arg(out.path())
        .assert()
        .success();
    let text = std::fs::read_to_string(out.path().join("hello.nomad.hcl")).unwrap();
    assert!(text.starts_with("# Generated by knative2nomad"));
}

#[test]
fn check_reports_drift_and_orphans() {
    let src = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    std::fs::copy(
        "testdata/services/03-port.yaml",
        src.path().join("api.yaml"),
    )
    .unwrap();
    std::fs::copy(
        "testdata/services/01-minimal.yaml",
        src.path().join("hello.yaml"),
    )
    .unwrap();
    k2n()
        .arg("convert")
        .arg(src.path())
        .arg("-o")
        .arg(out.path())
        .assert()
        .success();
    k2n()
        .arg("check")
        .arg(src.path())
        .arg("--against")
        .arg(out.path())
        .assert()
        .success();

    let edited = std::fs::read_to_string(src.path().join("api.yaml"))
        .unwrap()
        .replace("9000", "9001");
    std::fs::write(src.path().join("api.yaml"), edited).unwrap();
    std::fs::remove_file(src.path().join("hello.yaml")).unwrap();
    k2n()
        .arg("check")
        .arg(src.path())
        .arg("--against")
        .arg(out.path())
        .assert()
        .code(1)
        .stdout(predicate::str::contains("-        to = 9000"))
        .stdout(predicate::str::contains("+        to = 9001"))
        .stdout(
            predicate::str::contains("orphaned:").and(predicate::str::contains("hello.nomad.hcl")),
        );
}

#[test]
fn validate_accepts_own_output_and_rejects_unknown_keys() {
    let dir = tempfile::tempdir().unwrap();
    k2n()
        .args(["convert", "testdata/services/15-resources.yaml", "-o"])
        .arg(dir.path())
        .assert()
        .success();
    k2n()
        .arg("validate")
        .arg(dir.path().join("sized.nomad.hcl"))
        .assert()
        .success();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"{"Job": {"ID": "x", "Ephemeral": {"Timeout": 300}, "TaskGroups": [{"Name": "g", "Tasks": [{"Name": "t", "Driver": "docker", "Config": {"image": "x"}}]}]}}"#).unwrap();
    k2n()
        .arg("validate")
        .arg(&bad)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("Job.Ephemeral: unknown field"));
}

#[test]
fn explain_prints_a_code() {
    k2n()
        .args(["explain", "k2n020"])
        .assert()
        .success()
        .stdout(predicate::str::contains("scale to zero"));
    k2n().args(["explain", "K2N999"]).assert().code(2);
}

#[test]
fn usage_error_is_exit_2() {
    k2n().args(["convert"]).assert().code(2);
    k2n()
        .args(["convert", "x.yaml", "--format", "xml"])
        .assert()
        .code(2);
}
