//! Diagnostics as a user reads them (issue 16): findings point at the key they are about in the
//! layout kubectl and `--export-dir` write, a Service as the cluster stores it converts without
//! noise under `--strict`, and the messages for a wrong input say what is wrong.

use crate::support::fake_kube::{FakeCluster, FakeKube};
use assert_cmd::Command;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(args: &[&str], stdin: Option<&str>) -> Run {
    let mut command = Command::cargo_bin("knative2nomad").unwrap();
    command.args(args);
    for var in ["KUBECONFIG", "GITHUB_ACTIONS"] {
        command.env_remove(var);
    }
    if let Some(text) = stdin {
        command.write_stdin(text.to_string());
    }
    let output = command.output().unwrap();
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// The binary, off the async runtime so that the fake API keeps answering.
async fn run_async(args: Vec<String>) -> Run {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(&args, None)
    })
    .await
    .unwrap()
}

/// Findings of a `--message-format json` run, one JSON object a line on stderr.
fn json_findings(stderr: &str) -> Vec<Value> {
    stderr
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).expect("a finding is JSON"))
        .collect()
}

/// A kubeconfig whose current context talks to the fake API.
fn kubeconfig(dir: &Path, api: &FakeKube) -> PathBuf {
    let path = dir.join("kubeconfig");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1
kind: Config
current-context: fake
clusters:
- name: fake
  cluster:
    server: {}
contexts:
- name: fake
  context:
    cluster: fake
    user: reader
users:
- name: reader
  user:
    token: not-a-real-token
",
            api.url
        ),
    )
    .unwrap();
    path
}

/// The 1-based line of the first line of `text` that starts (after indentation) with `start`.
fn line_of(text: &str, start: &str) -> usize {
    text.lines()
        .position(|l| l.trim_start().starts_with(start))
        .unwrap_or_else(|| panic!("no line starts with {start:?} in:\n{text}"))
        + 1
}

// ---- Item 3: locations after a compact list -------------------------------------------------

/// `--export-dir` writes lists at their key's column (as kubectl does); a finding about the key
/// after such a list points at that key's own line in the exported file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finding_in_an_exported_file_points_at_its_key() {
    let api = FakeKube::start(FakeCluster::with_fixtures()).await;
    let dir = tempfile::tempdir().unwrap();
    let config = kubeconfig(dir.path(), &api);
    let export = dir.path().join("export");
    let import = run_async(vec![
        "convert".into(),
        "--from-cluster".into(),
        "--kubeconfig".into(),
        config.display().to_string(),
        "-n".into(),
        "payments".into(),
        "--export-dir".into(),
        export.display().to_string(),
    ])
    .await;
    assert!(
        import.stderr.contains("exported 3 Service manifest(s)"),
        "{}",
        import.stderr
    );

    let ledger = export.join("payments/ledger.yaml");
    let text = std::fs::read_to_string(&ledger).unwrap();
    // The layout this is about: a compact list, then the key whose finding is checked.
    assert!(
        text.contains("\n      containers:\n      - image: "),
        "{text}"
    );
    let key_line = line_of(&text, "timeoutSeconds: 60");
    assert!(key_line > line_of(&text, "containers:"));

    let convert = run_async(vec![
        "convert".into(),
        "--message-format".into(),
        "json".into(),
        ledger.display().to_string(),
    ])
    .await;
    let timeout = json_findings(&convert.stderr)
        .into_iter()
        .find(|f| f["code"] == "K2N023")
        .unwrap_or_else(|| panic!("K2N023 for timeoutSeconds 60: {}", convert.stderr));
    assert_eq!(timeout["path"], "spec.template.spec.timeoutSeconds");
    assert_eq!(
        (&timeout["location"]["line"], &timeout["location"]["column"]),
        (&json!(key_line), &json!(7)),
        "timeoutSeconds is at {key_line}:7 in\n{text}"
    );
    // The exported file, fixed once: the key is line 31 (a change to the export layout shows
    // here, and the line above must then still agree).
    assert_eq!(key_line, 31, "{text}");
}

/// The human rendering of the example shows the key's own line, not `spec:`.
#[test]
fn the_snippet_after_a_compact_list_is_the_keys_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("svc.yaml");
    std::fs::write(
        &file,
        "apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: hello
spec:
  template:
    spec:
      containers:
      - image: ghcr.io/x/hello
        ports:
        - containerPort: 8080
        name: user-container
      timeoutSeconds: 900
",
    )
    .unwrap();
    let out = run(&["convert", file.to_str().unwrap()], None);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let expected = format!(
        "warning[K2N023]: timeoutSeconds 900 limits each request in Knative; Nomad does not enforce it (kill_timeout is 30s)
  --> {}:13:7  (spec.template.spec.timeoutSeconds)
   |
13 |       timeoutSeconds: 900
   |       ^^^^^^^^^^^^^^^^^^^
",
        file.display()
    );
    assert!(out.stderr.contains(&expected), "{}", out.stderr);
}
