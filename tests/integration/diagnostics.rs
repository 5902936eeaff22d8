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

/// The human rendering of the issue's example shows the key's own line, not `spec:`.
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

// ---- Item 4: the webhook's defaults are not findings ----------------------------------------

/// `hello` of the fixtures as Knative's webhook stores it (timeoutSeconds 300,
/// containerConcurrency 0, the defaulted readiness probe, `resources: {}`, enableServiceLinks
/// false, traffic 100 % latest), on a cluster with `secure-pod-defaults: AllowRootBounded`
/// (revision_defaults.go `defaultSecurityContext`), and with min-scale 1: scale to zero is a
/// real difference (K2N020), not a default.
fn stored_hello() -> Value {
    let mut hello = fixture_service("hello");
    hello["spec"]["template"]["metadata"]["annotations"] =
        json!({"autoscaling.knative.dev/min-scale": "1", "autoscaling.knative.dev/max-scale": "3"});
    hello["spec"]["template"]["spec"]["containers"][0]["securityContext"] = json!({
        "allowPrivilegeEscalation": false,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"}
    });
    let spec = &hello["spec"]["template"]["spec"];
    assert_eq!(
        spec["timeoutSeconds"], 300,
        "the fixture is as the webhook stores it"
    );
    assert_eq!(spec["containerConcurrency"], 0);
    assert_eq!(spec["enableServiceLinks"], false);
    hello
}

fn fixture_service(name: &str) -> Value {
    crate::support::fake_kube::fixture("services.json")["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("fixture service {name}"))
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_imported_service_with_only_webhook_defaults_passes_strict() {
    let api = FakeKube::start(FakeCluster {
        services: vec![stored_hello()],
        ..FakeCluster::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let config = kubeconfig(dir.path(), &api);
    let out = run_async(vec![
        "convert".into(),
        "--from-cluster".into(),
        "--kubeconfig".into(),
        config.display().to_string(),
        "-A".into(),
        "--strict".into(),
    ])
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(!out.stderr.contains("warning["), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("1 service(s) converted: 0 scale to zero (Sablier), 1 always on; 0 failed, from 1 file(s); 0 error(s), 0 warning(s)"),
        "{}",
        out.stderr
    );
    // What the defaults mean is kept: allowPrivilegeEscalation false is docker's
    // no-new-privileges, capabilities dropped.
    let config_line = |key: &str| {
        out.stdout
            .lines()
            .find(|l| l.trim_start().starts_with(key))
            .map(|l| l.split_once('=').map_or("", |(_, v)| v.trim()).to_string())
    };
    assert_eq!(
        config_line("security_opt").as_deref(),
        Some(r#"["no-new-privileges"]"#)
    );
    assert_eq!(config_line("cap_drop").as_deref(), Some(r#"["all"]"#));
}

/// The same Service as `kubectl get ksvc hello -o yaml` prints it, status and server metadata
/// included, converted from the file.
#[test]
fn a_kubectl_dump_with_only_webhook_defaults_passes_strict() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hello.yaml");
    std::fs::write(&file, serde_yaml::to_string(&stored_hello()).unwrap()).unwrap();
    let out = run(&["convert", "--strict", file.to_str().unwrap()], None);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(!out.stderr.contains("warning["), "{}", out.stderr);
}

/// The Service as its author applied it and as the webhook stored it give the same job: the
/// defaults are absence, in the job as in the findings.
#[test]
fn the_stored_form_gives_the_same_job_as_the_applied_form() {
    let mut stored = fixture_service("hello");
    stored["spec"]["template"]["metadata"]["annotations"] =
        json!({"autoscaling.knative.dev/min-scale": "1"});
    let applied = "apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: hello
  namespace: default
spec:
  template:
    metadata:
      annotations:
        autoscaling.knative.dev/min-scale: \"1\"
    spec:
      containers:
      - image: ghcr.io/knative/helloworld-go:latest
        env:
        - name: TARGET
          value: World
";
    let job = |yaml: &str| -> Value {
        let out = run(&["convert", "--format", "json", "-"], Some(yaml));
        assert_eq!(out.code, 0, "{}", out.stderr);
        serde_json::from_str(&out.stdout).unwrap()
    };
    assert_eq!(job(&serde_yaml::to_string(&stored).unwrap()), job(applied));
}

/// Every default that is no longer reported, next to a value that is not the default and still
/// is: the rule is "equal to Knative's default", not "never".
#[test]
fn values_other_than_the_defaults_are_still_reported() {
    let service = |spec: &str, annotations: &str| {
        format!(
            "apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: d
spec:
  template:
    metadata:
      annotations:
        autoscaling.knative.dev/min-scale: \"1\"
        autoscaling.knative.dev/max-scale: \"3\"
{annotations}
    spec:
{spec}
      containers:
      - image: ghcr.io/x/d@sha256:3c1f9a7e2b4d6f8a0c2e4b6d8f0a2c4e6b8d0f2a4c6e8b0d2f4a6c8e0b2d4f6a
        securityContext:
          seccompProfile:
            type: {{seccomp}}
          runAsNonRoot: {{non_root}}
          allowPrivilegeEscalation: true
        terminationMessagePath: {{message_path}}
        terminationMessagePolicy: {{message_policy}}
"
        )
    };
    let defaults = service(
        "      timeoutSeconds: 300\n      containerConcurrency: 0\n      idleTimeoutSeconds: 0\n      responseStartTimeoutSeconds: 0\n      serviceAccountName: default\n      securityContext: {}",
        "        autoscaling.knative.dev/panic-window-percentage: \"10\"\n        autoscaling.knative.dev/panic-threshold-percentage: \"200.0\"\n        autoscaling.knative.dev/target-burst-capacity: \"211\"\n        autoscaling.knative.dev/scale-to-zero-pod-retention-period: \"0s\"\n        autoscaling.knative.dev/metric-aggregation-algorithm: linear",
    )
    .replace("{seccomp}", "RuntimeDefault")
    .replace("{non_root}", "false")
    .replace("{message_path}", "/dev/termination-log")
    .replace("{message_policy}", "File");
    let others = service(
        "      timeoutSeconds: 301\n      containerConcurrency: 4\n      idleTimeoutSeconds: 10\n      responseStartTimeoutSeconds: 20\n      serviceAccountName: builder\n      securityContext:\n        runAsUser: 1000",
        "        autoscaling.knative.dev/panic-window-percentage: \"20\"\n        autoscaling.knative.dev/panic-threshold-percentage: \"300\"\n        autoscaling.knative.dev/target-burst-capacity: \"-1\"\n        autoscaling.knative.dev/scale-to-zero-pod-retention-period: \"1m\"\n        autoscaling.knative.dev/metric-aggregation-algorithm: weighted-exponential",
    )
    .replace("{seccomp}", "Unconfined")
    .replace("{non_root}", "true")
    .replace("{message_path}", "/tmp/log")
    .replace("{message_policy}", "FallbackToLogsOnError");

    let warnings = |text: &str| -> Vec<String> {
        let out = run(&["convert", "--message-format", "json", "-"], Some(text));
        json_findings(&out.stderr)
            .into_iter()
            .filter(|f| f["severity"] == "warning")
            .map(|f| {
                format!(
                    "{} {}",
                    f["code"].as_str().unwrap(),
                    f["message"].as_str().unwrap()
                )
            })
            .collect()
    };
    assert_eq!(warnings(&defaults), Vec::<String>::new());
    let mut reported = warnings(&others);
    reported.sort();
    assert_eq!(
        reported,
        [
            "K2N022 containerConcurrency 4 (a hard in-flight limit per instance) is not enforced by Nomad",
            "K2N023 idleTimeoutSeconds bounds requests in Knative; Nomad does not see requests",
            "K2N023 responseStartTimeoutSeconds bounds requests in Knative; Nomad does not see requests",
            "K2N023 timeoutSeconds 301 limits each request in Knative; Nomad does not enforce it (kill_timeout is 30s)",
            "K2N026 autoscaling.knative.dev/metric-aggregation-algorithm: weighted-exponential has no Nomad Autoscaler equivalent",
            "K2N026 autoscaling.knative.dev/panic-threshold-percentage: 300 has no Nomad Autoscaler equivalent",
            "K2N026 autoscaling.knative.dev/panic-window-percentage: 20 has no Nomad Autoscaler equivalent",
            "K2N026 autoscaling.knative.dev/scale-to-zero-pod-retention-period: 1m has no Nomad Autoscaler equivalent",
            "K2N026 autoscaling.knative.dev/target-burst-capacity: -1 has no Nomad Autoscaler equivalent",
            "K2N032 pod field securityContext is not converted",
            "K2N032 pod field serviceAccountName is not converted",
            "K2N033 container field securityContext.runAsNonRoot has no Nomad docker equivalent and is not converted",
            "K2N033 container field securityContext.seccompProfile has no Nomad docker equivalent and is not converted",
            "K2N033 container field terminationMessagePath has no Nomad docker equivalent and is not converted",
            "K2N033 container field terminationMessagePolicy has no Nomad docker equivalent and is not converted",
        ]
    );
}

// ---- Item 5: messages that say what is wrong ------------------------------------------------

const MINIMAL: &str = "apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: hello
spec:
  template:
    metadata:
      annotations:
        autoscaling.knative.dev/min-scale: \"1\"
    spec:
      containers:
      - image: ghcr.io/x/hello:1
";

#[test]
fn a_missing_input_says_so_without_a_yaml_hint() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.yaml");
    let out = run(&["convert", missing.to_str().unwrap()], None);
    assert_eq!(out.code, 1);
    assert_eq!(out.stdout, "");
    assert_eq!(
        out.stderr,
        format!(
            "error[K2N110]: input does not exist
  --> {}
  = hint: check the path (a directory is searched for *.yaml, *.yml and *.json; `-` reads stdin) and that the file is YAML or JSON text in UTF-8

0 service(s) converted: 0 scale to zero (Sablier), 0 always on; 0 failed, from 1 file(s); 1 error(s), 0 warning(s), 0 note(s)
",
            missing.display()
        )
    );
}

#[test]
fn an_input_without_a_knative_service_warns_and_fails_strict() {
    let expected = "warning[K2N111]: no Knative Service (serving.knative.dev/v1 Service) in this input; it holds a document without apiVersion and kind
  --> <stdin>:1:1
  |
1 | {}
  | ^^
  = hint: pass the file that holds the Knative Service (kind: Service, apiVersion: serving.knative.dev/v1), or drop this input

0 service(s) converted: 0 scale to zero (Sablier), 0 always on; 0 failed, from 1 file(s); 0 error(s), 1 warning(s), 0 note(s)
";
    let out = run(&["convert", "-"], Some("{}\n"));
    assert_eq!((out.code, out.stderr.as_str()), (0, expected));
    let strict = run(&["convert", "--strict", "-"], Some("{}\n"));
    assert_eq!((strict.code, strict.stderr.as_str()), (1, expected));

    // Other kinds are named; a ConfigMap file beside the Service's file is no mistake.
    let dir = tempfile::tempdir().unwrap();
    let core = dir.path().join("core.yaml");
    std::fs::write(
        &core,
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n",
    )
    .unwrap();
    let config_map = dir.path().join("cm.yaml");
    std::fs::write(
        &config_map,
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  a: b\n",
    )
    .unwrap();
    let service = dir.path().join("svc.yaml");
    std::fs::write(&service, MINIMAL).unwrap();
    let out = run(
        &[
            "convert",
            "--message-format",
            "json",
            core.to_str().unwrap(),
            config_map.to_str().unwrap(),
            service.to_str().unwrap(),
        ],
        None,
    );
    let empty: Vec<(String, String)> = json_findings(&out.stderr)
        .into_iter()
        .filter(|f| f["code"] == "K2N111")
        .map(|f| {
            (
                f["location"]["file"].as_str().unwrap().to_string(),
                f["message"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        empty,
        [(
            core.display().to_string(),
            "no Knative Service (serving.knative.dev/v1 Service) in this input; it holds v1 Service \"web\", apps/v1 Deployment \"web\"".to_string()
        )]
    );

    // A directory is judged as a whole.
    let empty_dir = dir.path().join("nothing");
    std::fs::create_dir(&empty_dir).unwrap();
    let out = run(&["convert", "--strict", empty_dir.to_str().unwrap()], None);
    assert_eq!(out.code, 1);
    assert!(out.stderr.starts_with(&format!(
        "warning[K2N111]: no Knative Service in this directory: it has no *.yaml, *.yml or *.json file\n  --> {}\n",
        empty_dir.display()
    )), "{}", out.stderr);
}

#[test]
fn an_unclosed_quote_shows_where_it_opened_and_where_the_file_ended() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("quote.yaml");
    std::fs::write(
        &file,
        "apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: q
spec:
  template:
    spec:
      containers:
      - image: \"ghcr.io/x
        name: a
        ports:
        - containerPort: 8080
",
    )
    .unwrap();
    let out = run(&["convert", file.to_str().unwrap()], None);
    assert_eq!(out.code, 1);
    let name = file.display();
    assert_eq!(
        out.stderr,
        format!(
            "error[K2N001]: YAML syntax error: the quoted scalar opened at line 9 column 16 is never closed (found unexpected end of stream)
  --> {name}:13:1
  ::: {name}:9:16
   |
 9 |       - image: \"ghcr.io/x
   |                - the quoted scalar starts here
  = hint: fix the YAML syntax at the marked position (a linter such as yamllint shows the same place)

0 service(s) converted: 0 scale to zero (Sablier), 0 always on; 0 failed, from 1 file(s); 1 error(s), 0 warning(s), 0 note(s)
"
        )
    );
}

#[test]
fn a_byte_order_mark_is_accepted_in_files_stdin_and_later_documents() {
    let bom = "\u{feff}";
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bom.yaml");
    std::fs::write(&file, format!("{bom}{MINIMAL}")).unwrap();
    let out = run(&["convert", "--strict", file.to_str().unwrap()], None);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("job \"hello\" {"));

    // `cat a.yaml b.yaml` of two files saved with a BOM, on stdin.
    let second = MINIMAL.replace("name: hello", "name: second");
    let stream = format!("{bom}{MINIMAL}---\n{bom}{second}");
    let out = run(&["convert", "--strict", "-"], Some(&stream));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("job \"hello\" {") && out.stdout.contains("job \"second\" {"));
    assert!(
        out.stderr
            .contains("2 service(s) converted: 0 scale to zero (Sablier), 2 always on; 0 failed, from 1 file(s); 0 error(s), 0 warning(s)"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_ko_image_reference_is_an_error_that_says_to_build_it_first() {
    let text = MINIMAL.replace(
        "ghcr.io/x/hello:1",
        "ko://github.com/example/app/cmd/server",
    );
    let out = run(&["convert", "-"], Some(&text));
    assert_eq!(out.code, 1);
    assert_eq!(out.stdout, "");
    assert_eq!(
        out.stderr,
        "error[K2N112]: image \"ko://github.com/example/app/cmd/server\" is a ko build reference, not an image Nomad can pull
  --> <stdin>:12:9  (spec.template.spec.containers[0].image)
   |
12 |       - image: ko://github.com/example/app/cmd/server
   |         ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
  = hint: build and push the image first: run `ko resolve -f FILE > resolved.yaml` and convert the resolved YAML, or replace the ko:// reference with a pushed image

0 service(s) converted: 0 scale to zero (Sablier), 0 always on; 1 failed, from 1 file(s); 1 error(s), 0 warning(s), 0 note(s)
"
    );
}

#[test]
fn the_new_codes_are_explained() {
    for code in ["K2N110", "K2N111", "K2N112"] {
        let out = run(&["explain", code], None);
        assert_eq!(out.code, 0);
        assert!(
            out.stdout.starts_with(&format!("## {code} — ")),
            "{}",
            out.stdout
        );
    }
}
