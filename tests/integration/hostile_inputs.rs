//! Issue 12's input and output promises against hostile inputs, one test per item: each builds
//! the hostile input in a temporary directory, runs the binary, and checks the promise (no
//! Secret value in any stream or written file, no write or read outside the tree, exit codes),
//! each run under a watchdog bound (assert_cmd kills it), never a timing assertion.
//! docs/security.md says how each promise is kept.

use assert_cmd::Command;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A run's exit code (None: killed by the watchdog) and its output.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

/// Runs the binary in `dir` with `args`; the watchdog kills it after `bound`.
fn run(dir: &Path, args: &[&str], bound: Duration) -> Run {
    let out = Command::cargo_bin("knative2nomad")
        .unwrap()
        .current_dir(dir)
        .args(args)
        .timeout(bound)
        .output()
        .unwrap();
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

const BOUND: Duration = Duration::from_secs(60);

/// Every regular file under `dir` (not following links), with its text.
fn written_files(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let kind = entry.file_type().unwrap();
            if kind.is_dir() {
                pending.push(entry.path());
            } else if kind.is_file() {
                let text = String::from_utf8_lossy(&std::fs::read(entry.path()).unwrap()).into();
                out.push((entry.path(), text));
            }
        }
    }
    out
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, text).unwrap();
    path
}

fn mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
}

const SERVICE: &str = "apiVersion: serving.knative.dev/v1
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
        - image: ghcr.io/example/hello:1
";

/// Item 1: a Secret's value never appears in any output of convert, check or deploy, whatever
/// the layout (one-line JSON, flow style beside a Service) or the error around it.
#[test]
fn item1_secret_values_never_reach_any_output() {
    let marker = "K2NMARKER7f3a9";
    let marker_b64 = "SzJOTUFSS0VSN2YzYTk="; // base64 of the marker
    let service_json = r#"{"apiVersion":"serving.knative.dev/v1","kind":"Service","metadata":{"name":"a"},"spec":{"template":{"spec":{"containers":[{"image":"x","env":[{"name":"T","valueFrom":{"secretKeyRef":{"name":"s","key":"K"}}}]}]}}}}"#;
    let cases: Vec<(&str, String)> = vec![
        (
            "one-line.json",
            format!(
                r#"{{"kind":"List","apiVersion":"v1","items":[{{"stringData":{{"K":"{marker}"}},"data":{{"B":"{marker_b64}"}},"kind":"Secret","apiVersion":"v1","metadata":{{"name":"s"}}}},{service_json}]}}"#
            ),
        ),
        (
            "flow.yaml",
            format!(
                "{{kind: List, apiVersion: v1, items: [{{stringData: {{K: {marker}}}, kind: Secret, apiVersion: v1, metadata: {{name: s}}}}, {service_json}]}}\n"
            ),
        ),
        (
            "duplicate-key.yaml",
            format!(
                "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\nstringData:\n  K: {marker}\n  K: {marker}2\n"
            ),
        ),
        (
            "colon.yaml",
            format!(
                "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\nstringData:\n  K: {marker}: x\n"
            ),
        ),
        (
            "escape.json",
            format!(r#"{{"stringData":{{"K":"{marker}\q"}},"kind":"Secret","apiVersion":"v1"}}"#),
        ),
        (
            "tab.yaml",
            format!("stringData:\n\tK: {marker}\nkind: Secret\napiVersion: v1\n"),
        ),
        (
            "alias.yaml",
            format!(
                "kind: Secret\napiVersion: v1\nstringData:\n  K: {marker} *nowhere\n  L: *nowhere\n"
            ),
        ),
        (
            "nested.yaml",
            format!(
                "kind: Secret\napiVersion: v1\nstringData:\n  K: {{deep: [{marker}, {{x: {marker}}}]}}\n  K: again\n"
            ),
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("against")).unwrap();
    for (name, text) in &cases {
        write(d, name, text);
        let out_dir = format!("out-{name}");
        let runs = [
            run(
                d,
                &[
                    "convert",
                    name,
                    "-o",
                    &out_dir,
                    "--report",
                    "report.md",
                    "--report",
                    "report.json",
                    "--junit",
                    "junit.xml",
                    "--secrets-manifest",
                    "secrets.md",
                ],
                BOUND,
            ),
            run(d, &["convert", name], BOUND),
            run(d, &["convert", name, "--message-format", "json"], BOUND),
            run(d, &["check", name, "--against", "against"], BOUND),
            // Port 1 on loopback: nothing listens; a conversion error stops before any request.
            run(
                d,
                &["deploy", "--address", "http://127.0.0.1:1", name],
                BOUND,
            ),
        ];
        for r in &runs {
            assert!(r.code.is_some(), "{name}: killed by the watchdog");
            for m in [marker, marker_b64] {
                assert!(!r.all().contains(m), "{name}: {m} shown:\n{}", r.all());
            }
        }
        // The snippet shows the key and the placeholder where the value was.
        assert!(
            runs[1].stderr.contains("<redacted: Secret value>"),
            "{name}: no placeholder:\n{}",
            runs[1].stderr
        );
    }
    for (path, text) in written_files(d) {
        if cases.iter().any(|(n, _)| path.ends_with(n)) {
            continue;
        }
        assert!(
            !text.contains(marker) && !text.contains(marker_b64),
            "{} holds the marker",
            path.display()
        );
    }
}

/// Item 2: nothing is written outside -o: a directory or file link inside the output tree is
/// refused (named), even with --force; the batch writes the other Services and exits 1.
#[test]
fn item2_writes_never_leave_the_output_directory() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "src/hello.yaml", SERVICE);
    write(
        d,
        "src/team/other.yaml",
        &SERVICE.replace("name: hello", "name: other"),
    );
    write(
        d,
        "src/fine/fine.yaml",
        &SERVICE.replace("name: hello", "name: fine"),
    );
    let outside = d.join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    write(d, "outside/victim", "precious");
    std::fs::create_dir_all(d.join("out")).unwrap();
    symlink(&outside, d.join("out/team")).unwrap();
    symlink(outside.join("victim"), d.join("out/hello.nomad.hcl")).unwrap();
    for force in [false, true] {
        let mut args = vec!["convert", "src", "-o", "out"];
        if force {
            args.push("--force");
        }
        let r = run(d, &args, BOUND);
        assert_eq!(r.code, Some(1), "{}", r.all());
        assert!(
            r.stderr.contains("out/team is a symbolic link")
                && r.stderr.contains("out/hello.nomad.hcl is a symbolic link"),
            "{}",
            r.stderr
        );
        assert_eq!(
            std::fs::read_to_string(outside.join("victim")).unwrap(),
            "precious"
        );
        assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 1);
        assert!(d.join("out/fine/fine.nomad.hcl").is_file(), "{}", r.stderr);
    }
    // No temporary file is left anywhere.
    let leftovers: Vec<_> = written_files(d)
        .into_iter()
        .filter(|(p, _)| p.to_string_lossy().ends_with(".k2n-tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// Item 3: check never reads through a link (a difference of its own, the target never shown);
/// a walk does not follow links out of the tree (K2N061), but does follow those inside it.
#[test]
fn item3_reads_never_leave_the_tree() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let secret = "OUTSIDE-FILE-CONTENT-k2n";
    write(d, "outside.txt", secret);
    write(d, "outside.yaml", &format!("kind: Service: {secret}\n"));
    write(d, "src/hello.yaml", SERVICE);
    std::fs::create_dir_all(d.join("against")).unwrap();
    symlink(d.join("outside.txt"), d.join("against/hello.nomad.hcl")).unwrap();
    let r = run(d, &["check", "src", "--against", "against"], BOUND);
    assert_eq!(r.code, Some(1), "{}", r.all());
    assert!(!r.all().contains(secret), "{}", r.all());
    assert!(
        r.stdout
            .contains("not a file: against/hello.nomad.hcl is a symbolic link"),
        "{}",
        r.stdout
    );

    write(d, "tree/base/real.yaml", SERVICE);
    symlink(d.join("outside.yaml"), d.join("tree/escape.yaml")).unwrap();
    symlink(d.join("nowhere.yaml"), d.join("tree/dangling.yaml")).unwrap();
    std::fs::write(d.join("tree/.k2nignore"), "base\n").unwrap();
    symlink(d.join("tree/base/real.yaml"), d.join("tree/inside.yaml")).unwrap();
    let r = run(d, &["convert", "tree"], BOUND);
    assert_eq!(r.code, Some(0), "{}", r.all());
    assert!(!r.all().contains(secret), "{}", r.all());
    assert!(
        r.stderr.contains(
            "warning[K2N061]: tree/escape.yaml is a symbolic link that leads outside the input tree"
        ) && r
            .stderr
            .contains("tree/dangling.yaml is a symbolic link to nothing"),
        "{}",
        r.stderr
    );
    // The link inside the tree is read (the real file is ignored, the link is not).
    assert!(r.stdout.contains("job \"hello\""), "{}", r.stdout);
    assert!(run(d, &["convert", "tree", "--strict"], BOUND).code == Some(1));
    // deploy walks its directories the same way: it stops, naming the link, before any request.
    let r = run(
        d,
        &["deploy", "--address", "http://127.0.0.1:1", "tree"],
        BOUND,
    );
    assert_eq!(r.code, Some(1), "{}", r.all());
    assert!(!r.all().contains(secret), "{}", r.all());
    assert!(
        r.stderr.contains("symbolic link that leads outside"),
        "{}",
        r.stderr
    );
}

/// Item 6: a namespace Kubernetes would refuse is an error, and every value in a generated
/// command reaches the command as one word: the manifest's lines, run by sh with a stand-in
/// `nomad` that prints its arguments, run nothing else.
#[test]
fn item6_namespaces_are_validated_and_commands_quoted() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let pwned = d.join("pwned");
    let with_secret = SERVICE.replace(
        "        - image: ghcr.io/example/hello:1\n",
        "        - image: ghcr.io/example/hello:1\n          env:\n            - name: T\n              valueFrom:\n                secretKeyRef: {name: api, key: token}\n",
    );
    let hostile = format!(
        "default $(touch {}) `touch {}`;x'\"",
        pwned.display(),
        pwned.display()
    );
    write(
        d,
        "ns.yaml",
        &with_secret.replace(
            "  name: hello\n",
            &format!(
                "  name: hello\n  namespace: {}\n",
                serde_json::json!(hostile)
            ),
        ),
    );
    let r = run(
        d,
        &["convert", "ns.yaml", "--secrets-manifest", "m.md"],
        BOUND,
    );
    assert_eq!(r.code, Some(1), "{}", r.all());
    assert!(r.stderr.contains("error[K2N062]"), "{}", r.stderr);
    assert!(
        !std::fs::read_to_string(d.join("m.md"))
            .unwrap()
            .contains("touch")
    );

    // A valid Service: its manifest line, pasted into sh, runs `nomad` alone, with its words.
    write(d, "ok.yaml", &with_secret);
    let r = run(
        d,
        &["convert", "ok.yaml", "--secrets-manifest", "ok.md"],
        BOUND,
    );
    assert_eq!(r.code, Some(0), "{}", r.all());
    let manifest = std::fs::read_to_string(d.join("ok.md")).unwrap();
    let line = manifest
        .lines()
        .find(|l| l.starts_with("nomad var put"))
        .unwrap();
    let bin = d.join("bin");
    write(
        d,
        "bin/nomad",
        "#!/bin/sh\nfor a in \"$@\"; do printf '[%s]' \"$a\"; done\n",
    );
    std::process::Command::new("chmod")
        .args(["+x"])
        .arg(bin.join("nomad"))
        .status()
        .unwrap();
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(line)
        .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "[var][put][-namespace][default][nomad/jobs/hello/hello/user-container][api_token=<api_token>]"
    );
    assert!(!pwned.exists());
}

/// Item 7: inputs that would hang or exhaust the tool are refused at once: a FIFO (explicit:
/// K2N060; in a walk: K2N061, the rest converted), a device, deep nesting (K2N006 at its
/// line), and many documents in one file finish within the watchdog.
#[test]
fn item7_hostile_inputs_do_not_hang() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    mkfifo(&d.join("fifo.yaml"));
    let r = run(d, &["convert", "fifo.yaml"], Duration::from_secs(20));
    assert_eq!(r.code, Some(1), "{}", r.all());
    assert!(
        r.stderr.contains("error[K2N060]: input is a FIFO"),
        "{}",
        r.stderr
    );

    write(d, "tree/ok.yaml", SERVICE);
    mkfifo(&d.join("tree/pipe.yaml"));
    let r = run(d, &["convert", "tree"], Duration::from_secs(20));
    assert_eq!(r.code, Some(0), "{}", r.all());
    assert!(
        r.stderr
            .contains("warning[K2N061]: tree/pipe.yaml is a FIFO, not a regular file"),
        "{}",
        r.stderr
    );
    assert!(r.stdout.contains("job \"hello\""));

    let r = run(
        d,
        &["deploy", "--address", "http://127.0.0.1:1", "tree"],
        Duration::from_secs(20),
    );
    assert_eq!(r.code, Some(1), "{}", r.all());
    assert!(
        r.stderr.contains("is a FIFO, not a regular file"),
        "{}",
        r.stderr
    );

    let r = run(d, &["convert", "/dev/zero"], Duration::from_secs(20));
    assert_eq!(r.code, Some(1), "{}", r.all());
    assert!(r.stderr.contains("input is a device"), "{}", r.stderr);

    // Deep flow nesting (quadratic in libyaml before the cap), on line 3.
    let depth = 200_000;
    write(
        d,
        "deep.yaml",
        &format!(
            "apiVersion: v1\nkind: ConfigMap\ndata: {}{}\n",
            "[".repeat(depth),
            "]".repeat(depth)
        ),
    );
    let r = run(d, &["convert", "deep.yaml"], Duration::from_secs(30));
    assert_eq!(r.code, Some(1), "{}", r.all());
    assert!(
        r.stderr.contains("error[K2N006]") && r.stderr.contains("--> deep.yaml:3:"),
        "{}",
        r.stderr
    );

    // Many documents in one file, each with a warning (human output draws each one's line).
    let count = 5_000;
    let many: String = (0..count)
        .map(|i| {
            SERVICE
                .replace("name: hello", &format!("name: s{i}"))
                .replace("\"1\"", "\"0\"")
        })
        .collect::<Vec<_>>()
        .join("---\n");
    write(d, "many.yaml", &many);
    let mut warnings = Vec::new();
    for (format, marker) in [("human", "warning["), ("json", "\"severity\":\"warning\"")] {
        let r = run(
            d,
            &["convert", "many.yaml", "--message-format", format],
            Duration::from_secs(120),
        );
        assert_eq!(r.code, Some(0), "{format}: killed or failed");
        warnings.push(r.stderr.matches(marker).count());
    }
    assert!(
        warnings[0] >= count && warnings[0] == warnings[1],
        "{warnings:?}"
    );
}

/// Item 9: a later run removes the temporary files its killed predecessors left (and check
/// mentions them), a hand-written file that only resembles a generated one is kept, and an
/// absurd GPU count is a conversion error.
#[test]
fn item9_leftovers_markers_and_counts() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "hello.yaml", SERVICE);
    // pid_max is at most 2^22: no process has this id.
    let stale = ".hello.nomad.hcl.99999999-00000000deadbeef.k2n-tmp";
    write(d, &format!("out/{stale}"), "half a file");
    let r = run(d, &["check", "hello.yaml", "--against", "out"], BOUND);
    assert!(
        r.stdout.contains(&format!("stray: out/{stale}")),
        "{}",
        r.all()
    );
    let r = run(d, &["convert", "hello.yaml", "-o", "out"], BOUND);
    assert_eq!(r.code, Some(0), "{}", r.all());
    assert!(!d.join("out").join(stale).exists());
    assert!(
        r.stderr
            .contains("a temporary file left by an interrupted run")
    );

    for (format, name, text) in [
        (
            "hcl",
            "hello.nomad.hcl",
            "# Generated by knative2nomadic, by hand\njob \"hello\" {}\n",
        ),
        (
            "json",
            "hello.nomad.json",
            "{\"note\": \"knative2nomad.version\", \"by\": \"hand\"}\n",
        ),
    ] {
        let out = format!("hand-{format}");
        write(d, &format!("{out}/{name}"), text);
        let r = run(
            d,
            &["convert", "hello.yaml", "-o", &out, "--format", format],
            BOUND,
        );
        assert_eq!(r.code, Some(1), "{}", r.all());
        assert!(r.stderr.contains("not written by knative2nomad"));
        assert_eq!(
            std::fs::read_to_string(d.join(&out).join(name)).unwrap(),
            text
        );
    }

    write(
        d,
        "gpu.yaml",
        &SERVICE.replace(
            "        - image: ghcr.io/example/hello:1\n",
            "        - image: x\n          resources:\n            limits:\n              nvidia.com/gpu: \"99999999999999999999Gi\"\n",
        ),
    );
    let r = run(d, &["convert", "gpu.yaml"], BOUND);
    assert_eq!(r.code, Some(1), "{}", r.all());
    assert!(r.stderr.contains("error[K2N012]") && !r.stdout.contains("18446744073709551615"));
}

/// Item 1, cluster import: a Secret the API server answers in a shape serde cannot read (its
/// `data` a string) gives an error that does not quote the Secret (serde_json's "invalid type:
/// string …" would).
#[tokio::test]
async fn item1_an_unreadable_secret_from_the_cluster_is_not_quoted() {
    use crate::support::fake_kube::{FakeCluster, FakeKube};
    use knative2nomad::knative::cluster::{ClusterQuery, NamespaceScope, fetch_services};
    let marker = "K2NCLUSTERMARKER42";
    let mut cluster = FakeCluster::with_fixtures();
    for secret in &mut cluster.secrets {
        secret["data"] = serde_json::json!(marker);
    }
    let api = FakeKube::start(cluster).await;
    let connection = api.connection(None);
    let query = ClusterQuery {
        scope: NamespaceScope::Namespace("payments".to_string()),
        selector: None,
        names: Vec::new(),
        page_size: 500,
        origin: connection.origin.clone(),
    };
    let error = tokio::time::timeout(BOUND, fetch_services(connection.client.clone(), &query))
        .await
        .expect("watchdog")
        .expect_err("an unreadable Secret is an error");
    let text = format!("{error} {error:?}");
    assert!(!text.contains(marker), "{text}");
    assert!(text.contains("not a readable Secret"), "{text}");
}

/// A `.k2nignore` is read like any input: a FIFO there does not block the walk, a link is not
/// followed out of the tree, and either stops that directory (converting what the user meant
/// to exclude would be worse) while the other inputs are still converted.
#[test]
fn an_ignore_list_that_is_a_fifo_or_a_link_stops_its_directory_only() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "good.yaml", SERVICE);
    write(
        d,
        "piped/svc.yaml",
        &SERVICE.replace("name: hello", "name: piped"),
    );
    mkfifo(&d.join("piped/.k2nignore"));
    write(d, "outside-patterns", "svc.yaml\n");
    write(
        d,
        "linked/svc.yaml",
        &SERVICE.replace("name: hello", "name: linked"),
    );
    std::os::unix::fs::symlink(d.join("outside-patterns"), d.join("linked/.k2nignore")).unwrap();

    for (tree, why) in [
        ("piped", "not a regular file (a FIFO)"),
        ("linked", "is a symbolic link"),
    ] {
        let r = run(d, &["convert", tree, "good.yaml"], Duration::from_secs(20));
        assert_eq!(r.code, Some(1), "{tree}: {}", r.all());
        assert!(
            r.stderr.contains("error[K2N110]")
                && r.stderr.contains(&format!("cannot read .k2nignore: {why}")),
            "{tree}: {}",
            r.stderr
        );
        assert!(r.stdout.contains("job \"hello\""), "{tree}: {}", r.stdout);
        assert!(
            !r.stdout.contains(&format!("job \"{tree}\"")),
            "{tree}: {}",
            r.stdout
        );
    }
}
