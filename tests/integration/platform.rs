//! `platform` as a user runs it after `convert -o`: the Sablier and Traefik jobs (with the routes
//! embedded) and their ACL policies, checked by the offline validator and by Nomad's own parser
//! (`jobspec2json` of Nomad 2.0, 1.10 and 1.8 from ../shared/tools, skipped with a notice where
//! absent), which must read our HCL as exactly the API JSON we meant (converted jobs go through
//! the same parsers in nomad_oracle.rs). Route sets that cannot work in one Traefik are refused.

use crate::support::jobspec2;
use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value;
use std::path::Path;

fn k2n() -> Command {
    Command::cargo_bin("knative2nomad").unwrap()
}

/// Nomad's own parser (three versions, support/jobspec2.rs) reads `hcl` as the API JSON `want`
/// (`{"Job": …}`): every value both set is equal, and Nomad sets nothing else but its defaults.
fn nomad_reads_as(tools: &Path, hcl: &Path, want: &Value) {
    for parser in jobspec2::PARSERS {
        let nomad = jobspec2::decode(tools, parser, hcl)
            .unwrap_or_else(|e| panic!("{parser} refuses {}: {e}", hcl.display()));
        let c = jobspec2::compare_job(&want["Job"], &nomad);
        assert!(
            c.problems.is_empty(),
            "{parser} reads {} differently:\n{}",
            hcl.display(),
            c.problems.join("\n")
        );
        assert!(c.fields > 20, "{parser}: {} values compared", c.fields);
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

    let Some(tools) = jobspec2::tools_dir("platform_jobs_validate_and_nomad_reads_them_as_written")
    else {
        return;
    };
    for id in ["sablier", "traefik"] {
        let want: Value = serde_json::from_str(
            &std::fs::read_to_string(file(&format!("{id}.nomad.json"))).unwrap(),
        )
        .unwrap();
        nomad_reads_as(&tools, &file(&format!("{id}.nomad.hcl")), &want);
    }
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

/// `platform` run again with other settings replaces the files it wrote (jobs and policies),
/// as `convert -o` does, and still refuses a file it did not write.
#[test]
fn platform_again_replaces_its_own_files_only() {
    let src = sources();
    let out = tempfile::tempdir().unwrap();
    k2n()
        .arg("convert")
        .arg(src.path())
        .arg("-o")
        .arg(out.path())
        .assert()
        .success();
    let platform = tempfile::tempdir().unwrap();
    let run = |config: Option<&Path>| {
        let mut cmd = k2n();
        cmd.args(["platform", "-o"])
            .arg(platform.path())
            .arg("--routes")
            .arg(out.path().join("traefik"));
        if let Some(config) = config {
            cmd.arg("--config").arg(config);
        }
        cmd.assert()
    };
    run(None).success();
    let config = out.path().join("settings.yaml");
    std::fs::write(&config, "serverless:\n  web-port: 8088\n").unwrap();
    run(Some(&config))
        .success()
        .stderr(predicate::str::contains("not overwritten").not());
    let traefik = std::fs::read_to_string(platform.path().join("traefik.nomad.hcl")).unwrap();
    assert!(traefik.contains("8088"), "{traefik}");

    std::fs::write(platform.path().join("sablier.policy.hcl"), "# mine\n").unwrap();
    run(None).failure().stderr(predicate::str::contains(
        "sablier.policy.hcl exists and was not written by knative2nomad; not overwritten",
    ));
    assert_eq!(
        std::fs::read_to_string(platform.path().join("sablier.policy.hcl")).unwrap(),
        "# mine\n"
    );
}
