//! `platform` as a user runs it after `convert -o`: the Sablier and Traefik jobs (with the routes
//! embedded) and their ACL policies, checked by the offline validator and by Nomad's own parser
//! (`jobspec2json` of Nomad 2.0, 1.10 and 1.8 from ../shared/tools, skipped with a notice where
//! absent), which must read our HCL as exactly the API JSON we meant. Every converted testdata
//! job goes through the same parsers. Route sets that cannot work in one Traefik are refused.

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn k2n() -> Command {
    Command::cargo_bin("knative2nomad").unwrap()
}

/// The three `jobspec2json` builds, or none (with a notice) when ../shared is not beside the
/// checkout.
fn jobspec2json() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/tools/nomad-jobspec2");
    let tools: Vec<PathBuf> = ["jobspec2json", "jobspec2json-1.10", "jobspec2json-1.8"]
        .iter()
        .map(|name| dir.join(name))
        .filter(|p| p.is_file())
        .collect();
    if tools.len() < 3 {
        eprintln!(
            "notice: {} not found; Nomad's own parser is not checked",
            dir.display()
        );
        return Vec::new();
    }
    tools
}

/// Differences where `want` (our API JSON) is not what `got` (Nomad's parse) holds: every field
/// we set must have the same value there; fields we leave unset may hold Nomad's zero values.
/// Inside a driver's free-form `Config`, jobspec2 keeps every block as a list of objects; a block
/// written as one object is the same block (HCL's JSON syntax reads both, and so does the driver).
fn not_contained(want: &Value, got: &Value, path: &str, out: &mut Vec<String>) {
    match (want, got) {
        (Value::Object(_), Value::Array(g)) if g.len() == 1 && path.contains(".Config.") => {
            not_contained(want, &g[0], path, out);
        }
        (Value::Object(w), Value::Object(g)) => {
            for (k, v) in w {
                not_contained(
                    v,
                    g.get(k).unwrap_or(&Value::Null),
                    &format!("{path}.{k}"),
                    out,
                );
            }
        }
        (Value::Array(w), Value::Array(g)) if w.len() == g.len() => {
            for (i, (a, b)) in w.iter().zip(g).enumerate() {
                not_contained(a, b, &format!("{path}[{i}]"), out);
            }
        }
        _ if want == got => {}
        _ => out.push(format!("{path}: we wrote {want}, Nomad reads {got}")),
    }
}

/// Parses `hcl` with each Nomad parser and compares with the API JSON `want` (`{"Job": …}`).
fn nomad_reads_as(tools: &[PathBuf], hcl: &Path, want: &Value) {
    for tool in tools {
        let out = std::process::Command::new(tool).arg(hcl).output().unwrap();
        assert!(
            out.status.success(),
            "{} refuses {}: {}",
            tool.display(),
            hcl.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let got: Value = serde_json::from_slice(&out.stdout).unwrap();
        let mut diffs = Vec::new();
        not_contained(want, &got, "", &mut diffs);
        assert!(
            diffs.is_empty(),
            "{} reads {} differently:\n{}",
            tool.display(),
            hcl.display(),
            diffs.join("\n")
        );
    }
}

/// Services of one namespace (`default`), as a team converts them: four scale to zero (one
/// cluster-local, one HTTP/2), one stays up.
fn sources() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for f in [
        "01-minimal.yaml",
        "03-port.yaml",
        "17-readiness-http.yaml",
        "29-cluster-local.yaml",
        "20-consul-probes.yaml",
        "39-progress-deadline.yaml",
    ] {
        std::fs::copy(Path::new("testdata/services").join(f), dir.path().join(f)).unwrap();
    }
    dir
}

#[test]
fn platform_jobs_validate_and_nomad_reads_them_as_written() {
    let src = sources();
    let out = tempfile::tempdir().unwrap();
    k2n()
        .arg("convert")
        .arg(src.path())
        .arg("-o")
        .arg(out.path())
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "6 service(s) converted: 5 scale to zero (Sablier), 1 always on;",
        ));
    let platform = tempfile::tempdir().unwrap();
    for format in ["hcl", "json"] {
        k2n()
            .args(["platform", "-o"])
            .arg(platform.path())
            .arg("--routes")
            .arg(out.path().join("traefik"))
            .args(["--format", format])
            .assert()
            .success()
            .stderr(predicate::str::contains(
                "5 route(s) embedded in the traefik job; Sablier and Traefik serve Nomad namespace default",
            ))
            .stderr(predicate::str::contains(
                "nomad acl policy apply -namespace default -job sablier k2n-sablier",
            ));
    }
    let mut names: Vec<String> = std::fs::read_dir(platform.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "sablier.nomad.hcl",
            "sablier.nomad.json",
            "sablier.policy.hcl",
            "traefik.nomad.hcl",
            "traefik.nomad.json",
            "traefik.policy.hcl"
        ]
    );
    let file = |name: &str| platform.path().join(name);
    k2n()
        .arg("validate")
        .args([file("sablier.nomad.hcl"), file("traefik.nomad.hcl")])
        .args([file("sablier.nomad.json"), file("traefik.nomad.json")])
        .assert()
        .success();

    let sablier: Value =
        serde_json::from_str(&std::fs::read_to_string(file("sablier.nomad.json")).unwrap())
            .unwrap();
    let task = &sablier["Job"]["TaskGroups"][0]["Tasks"][0];
    let args: Vec<&str> = task["Config"]["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(&args[..2], ["start", "--provider.name=nomad"]);
    assert!(args.contains(&"--provider.nomad.address=unix://${NOMAD_SECRETS_DIR}/api.sock"));
    assert!(args.contains(&"--strategy.blocking.default-refresh-frequency=250ms"));
    assert_eq!(
        task["Identity"]["Env"], true,
        "the token is the workload identity"
    );
    assert!(task.get("Env").is_none(), "no token in the job");

    let traefik: Value =
        serde_json::from_str(&std::fs::read_to_string(file("traefik.nomad.json")).unwrap())
            .unwrap();
    let templates = traefik["Job"]["TaskGroups"][0]["Tasks"][0]["Templates"]
        .as_array()
        .unwrap();
    let static_config = templates[0]["EmbeddedTmpl"].as_str().unwrap();
    for wanted in [
        "exposedByDefault: false",
        "watch: true",
        "directory: /local/dynamic",
        "moduleName: github.com/sablierapp/sablier-traefik-plugin",
        "address: 127.0.0.1:10080",
        "token: '{{ env \"NOMAD_TOKEN\" }}'",
    ] {
        assert!(static_config.contains(wanted), "{wanted}\n{static_config}");
    }
    // Each route is embedded byte for byte, where the file provider reads it.
    let mut embedded: Vec<(&str, &str)> = templates[1..]
        .iter()
        .map(|t| {
            (
                t["DestPath"].as_str().unwrap(),
                t["EmbeddedTmpl"].as_str().unwrap(),
            )
        })
        .collect();
    embedded.sort();
    assert_eq!(embedded.len(), 5);
    for (dest, text) in embedded {
        let name = dest.strip_prefix("local/dynamic/").unwrap();
        let written = std::fs::read_to_string(out.path().join("traefik").join(name)).unwrap();
        assert_eq!(text, written, "{dest}");
    }

    let tools = jobspec2json();
    for id in ["sablier", "traefik"] {
        let want: Value = serde_json::from_str(
            &std::fs::read_to_string(file(&format!("{id}.nomad.json"))).unwrap(),
        )
        .unwrap();
        nomad_reads_as(&tools, &file(&format!("{id}.nomad.hcl")), &want);
    }
}

/// Every job `convert` writes for the testdata, scale-to-zero or not, reads in Nomad's own parser
/// (all three versions) as the JSON `convert --format json` writes.
#[test]
fn nomad_reads_every_converted_job_as_written() {
    let tools = jobspec2json();
    if tools.is_empty() {
        return;
    }
    let hcl = tempfile::tempdir().unwrap();
    let json = tempfile::tempdir().unwrap();
    for (dir, format) in [(&hcl, "hcl"), (&json, "json")] {
        k2n()
            .args(["convert", "testdata/services", "-o"])
            .arg(dir.path())
            .args(["--format", format])
            .assert()
            .success();
    }
    let mut checked = 0;
    for entry in std::fs::read_dir(hcl.path()).unwrap() {
        let path = entry.unwrap().path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let Some(id) = name.strip_suffix(".nomad.hcl") else {
            continue;
        };
        let want: Value = serde_json::from_str(
            &std::fs::read_to_string(json.path().join(format!("{id}.nomad.json"))).unwrap(),
        )
        .unwrap();
        nomad_reads_as(&tools, &path, &want);
        checked += 1;
    }
    assert!(checked >= 40, "{checked} jobs");
}

#[test]
fn refuses_routes_that_would_not_work_in_one_traefik() {
    let src = sources();
    let out = tempfile::tempdir().unwrap();
    k2n()
        .arg("convert")
        .arg(src.path())
        .arg("-o")
        .arg(out.path())
        .assert()
        .success();
    let routes = out.path().join("traefik");
    let platform = tempfile::tempdir().unwrap();
    // One Sablier serves one namespace.
    k2n()
        .args(["platform", "-o"])
        .arg(platform.path())
        .arg("--routes")
        .arg(&routes)
        .args(["--nomad-namespace", "apps"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "is for Nomad namespace \"default\", but this platform serves \"apps\"",
        ));
    // Routes converted with other addresses than the platform's.
    let config = platform.path().join("k2n.yaml");
    std::fs::write(&config, "serverless:\n  hop-address: 127.0.0.1:18080\n").unwrap();
    k2n()
        .args(["platform", "-o"])
        .arg(platform.path().join("out"))
        .arg("--routes")
        .arg(&routes)
        .arg("--config")
        .arg(&config)
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "the platform's hop entry point is 127.0.0.1:18080",
        ));
    // The same router in two files: Traefik would drop both.
    std::fs::create_dir(routes.join("copy")).unwrap();
    std::fs::copy(routes.join("hello.yml"), routes.join("copy/hello.yml")).unwrap();
    k2n()
        .args(["platform", "-o"])
        .arg(platform.path().join("out"))
        .arg("--routes")
        .arg(&routes)
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "router \"hello\" is also defined by",
        ));
    assert!(!platform.path().join("out").exists(), "nothing written");
}
