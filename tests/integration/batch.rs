//! A migration of a whole tree, as a platform team runs it: nested folders, bad files among
//! good ones, reports for people and CI, idempotent re-runs, and `check` catching drift.

use assert_cmd::Command;
use predicates::prelude::*;
use std::path::Path;

fn k2n() -> Command {
    Command::cargo_bin("knative2nomad").unwrap()
}

fn copy(name: &str, to: &Path) {
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    std::fs::copy(Path::new("testdata/services").join(name), to).unwrap();
}

/// teams/a/{hello,api}, teams/b/payments (secrets), teams/b/broken.yaml (invalid),
/// .hidden/skipped.yaml, vendor/ignored.yaml listed in .k2nignore.
fn tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    copy("01-minimal.yaml", &root.join("teams/a/hello.yaml"));
    copy("03-port.yaml", &root.join("teams/a/api.yaml"));
    copy(
        "09-secret-envfrom.yaml",
        &root.join("teams/b/notifier.yaml"),
    );
    copy(
        "08-secret-env.yaml",
        &root.join("teams/b/deep/payments.yaml"),
    );
    std::fs::write(root.join("teams/b/broken.yaml"), "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata:\n  name: broken\nspec:\n  template:\n    spec:\n      containers: []\n").unwrap();
    copy("15-resources.yaml", &root.join(".hidden/skipped.yaml"));
    copy("15-resources.yaml", &root.join("vendor/ignored.yaml"));
    std::fs::write(root.join(".k2nignore"), "# third-party manifests\nvendor\n").unwrap();
    dir
}

fn files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(root: &Path, d: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                out.push(p.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    walk(dir, dir, &mut out);
    out.sort();
    out
}

#[test]
fn migrates_a_tree_with_reports() {
    let src = tree();
    let out = tempfile::tempdir().unwrap();
    let reports = tempfile::tempdir().unwrap();
    k2n()
        .arg("convert")
        .arg(src.path())
        .arg("-o")
        .arg(out.path())
        .arg("--report")
        .arg(reports.path().join("report.md"))
        .arg("--report")
        .arg(reports.path().join("report.json"))
        .arg("--junit")
        .arg(reports.path().join("junit.xml"))
        .arg("--secrets-manifest")
        .arg(reports.path().join("secrets.md"))
        .env("GITHUB_ACTIONS", "true")
        .assert()
        .code(1)
        .stdout(predicate::str::is_empty())
        .stderr(predicate::str::contains("broken.yaml:8:"))
        .stderr(predicate::str::contains("::warning file="))
        .stderr(predicate::str::contains("::error file="));
    assert_eq!(
        files(out.path()),
        [
            "teams/a/api.nomad.hcl",
            "teams/a/hello.nomad.hcl",
            "teams/b/deep/payments.nomad.hcl",
            "teams/b/notifier.nomad.hcl",
            // Every Service scales to zero (Knative's default): one Traefik route each, in one
            // tree Traefik's file provider reads.
            "traefik/teams/a/api.yml",
            "traefik/teams/a/hello.yml",
            "traefik/teams/b/deep/payments.yml",
            "traefik/teams/b/notifier.yml",
        ]
    );
    let md = std::fs::read_to_string(reports.path().join("report.md")).unwrap();
    assert!(
        md.contains("| default/broken |") && md.contains("| — | failed |"),
        "{md}"
    );
    assert!(
        md.contains(
            "| teams/a/hello.nomad.hcl, traefik/teams/a/hello.yml | scale to zero (Sablier) |"
        ),
        "{md}"
    );
    assert!(
        md.contains("4 service(s) converted: 4 scale to zero (Sablier), 0 always on; 1 failed")
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(reports.path().join("report.json")).unwrap())
            .unwrap();
    assert_eq!(json["services"].as_array().unwrap().len(), 5);
    let hello = json["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["service"] == "default/hello")
        .unwrap();
    assert_eq!(hello["scaling"], "scale to zero (Sablier)");
    assert_eq!(hello["route"], "traefik/teams/a/hello.yml");
    let junit = std::fs::read_to_string(reports.path().join("junit.xml")).unwrap();
    assert_eq!(junit.matches("<testcase").count(), 5);
    assert_eq!(junit.matches("<failure").count(), 1);
    let secrets = std::fs::read_to_string(reports.path().join("secrets.md")).unwrap();
    assert!(
        secrets.contains(
            "nomad var put -namespace default nomad/jobs/payments/payments/user-container"
        )
    );
    assert!(secrets.contains("stripe_api_key='<stripe_api_key>'"));
    assert!(secrets.contains("api_tokens_GITHUB_TOKEN"));

    // No secret value anywhere: jobs, reports, manifest.
    for dir in [out.path(), reports.path()] {
        for f in files(dir) {
            let text = std::fs::read_to_string(dir.join(&f)).unwrap();
            assert!(
                !text.contains("ghp_this_value_must_never_be_printed"),
                "{f}"
            );
            assert!(
                !text.contains("c2VjcmV0LXZhbHVlLW5ldmVyLXByaW50ZWQ="),
                "{f}"
            );
        }
    }

    // A re-run changes nothing; check passes apart from the failing input.
    let before: Vec<String> = files(out.path())
        .iter()
        .map(|f| std::fs::read_to_string(out.path().join(f)).unwrap())
        .collect();
    k2n()
        .arg("convert")
        .arg(src.path())
        .arg("-o")
        .arg(out.path())
        .assert()
        .code(1)
        .stderr(predicate::str::contains("wrote 0 file(s), 8 unchanged"));
    let after: Vec<String> = files(out.path())
        .iter()
        .map(|f| std::fs::read_to_string(out.path().join(f)).unwrap())
        .collect();
    assert_eq!(before, after);
}

#[test]
fn check_in_ci_finds_drift_missing_and_orphans() {
    let src = tree();
    std::fs::remove_file(src.path().join("teams/b/broken.yaml")).unwrap();
    let out = tempfile::tempdir().unwrap();
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
        .success()
        .stderr(predicate::str::contains("in sync"));

    // Drift in one service, one removed, one added.
    let api = src.path().join("teams/a/api.yaml");
    let text = std::fs::read_to_string(&api)
        .unwrap()
        .replace("api:2.3.1", "api:2.4.0");
    std::fs::write(&api, text).unwrap();
    std::fs::remove_file(src.path().join("teams/a/hello.yaml")).unwrap();
    copy(
        "17-readiness-http.yaml",
        &src.path().join("teams/c/probed.yaml"),
    );
    k2n()
        .arg("check")
        .arg(src.path())
        .arg("--against")
        .arg(out.path())
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "-        image = \"ghcr.io/example/api:2.3.1\"",
        ))
        .stdout(predicate::str::contains(
            "+        image = \"ghcr.io/example/api:2.4.0\"",
        ))
        .stdout(
            predicate::str::contains("orphaned:")
                .and(predicate::str::contains("teams/a/hello.nomad.hcl"))
                .and(predicate::str::contains("traefik/teams/a/hello.yml")),
        )
        .stdout(
            predicate::str::contains("missing:")
                .and(predicate::str::contains("teams/c/probed.nomad.hcl"))
                .and(predicate::str::contains("traefik/teams/c/probed.yml")),
        )
        .stderr(predicate::str::contains("1 changed, 2 missing, 2 orphaned"));

    // A changed route is drift too; a hand-written Traefik file beside the routes is not ours.
    let route = out.path().join("traefik/teams/a/api.yml");
    let text = std::fs::read_to_string(&route).unwrap();
    std::fs::write(
        &route,
        text.replace("sessionDuration: 90s", "sessionDuration: 1h"),
    )
    .unwrap();
    std::fs::write(out.path().join("traefik/tls.yml"), "tls: {}\n").unwrap();
    k2n()
        .arg("check")
        .arg(src.path())
        .arg("--against")
        .arg(out.path())
        .assert()
        .code(1)
        .stdout(predicate::str::contains("-          sessionDuration: 1h"))
        .stdout(predicate::str::contains("tls.yml").not())
        .stderr(predicate::str::contains("2 changed, 2 missing, 2 orphaned"));
}

#[test]
fn duplicate_job_ids_are_reported_not_overwritten() {
    let src = tempfile::tempdir().unwrap();
    copy("01-minimal.yaml", &src.path().join("one.yaml"));
    copy("01-minimal.yaml", &src.path().join("two.yaml"));
    let out = tempfile::tempdir().unwrap();
    k2n()
        .arg("convert")
        .arg(src.path())
        .arg("-o")
        .arg(out.path())
        .assert()
        .success()
        .stderr(predicate::str::contains("warning[K2N049]"))
        .stderr(predicate::str::contains(
            "one.yaml; this one is not written",
        ));
    let text = std::fs::read_to_string(out.path().join("hello.nomad.hcl")).unwrap();
    assert!(text.contains("one.yaml"));
}

/// Two Services that differ only in namespace map to one job file in one folder: the first
/// keeps it, the second is an error (exit 1), and nothing is silently overwritten.
#[test]
fn same_name_in_two_namespaces_does_not_overwrite() {
    let src = tempfile::tempdir().unwrap();
    let service = |ns: &str, image: &str| {
        format!(
            "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata:\n  name: api\n  namespace: {ns}\nspec:\n  template:\n    spec:\n      containers:\n        - image: {image}\n"
        )
    };
    std::fs::write(src.path().join("a.yaml"), service("blue", "example/blue:1")).unwrap();
    std::fs::write(
        src.path().join("b.yaml"),
        service("green", "example/green:1"),
    )
    .unwrap();
    let out = tempfile::tempdir().unwrap();
    k2n()
        .arg("convert")
        .arg(src.path())
        .arg("-o")
        .arg(out.path())
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "a.yaml also produces this job file",
        ));
    let written = std::fs::read_to_string(out.path().join("api.nomad.hcl")).unwrap();
    assert!(written.contains("example/blue:1"), "{written}");
    assert_eq!(files(out.path()), vec!["api.nomad.hcl", "traefik/api.yml"]);
    let route = std::fs::read_to_string(out.path().join("traefik/api.yml")).unwrap();
    assert!(route.contains("Nomad namespace blue"), "{route}");
}
