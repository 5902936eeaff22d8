//! Which ConfigMap or Secret a Service gets when a tree defines the same name more than once
//! (issue 17): a user with `prod/` and `staging/` side by side runs convert, check, deploy and
//! cluster import over it, and each Service gets the nearest definition — its own file, then
//! its folder, then the closest parent folder — or an error naming both files when two
//! different definitions are equally near. Never one environment's values in another's job.

use crate::support::fake_kube::{FakeCluster, FakeKube};
use assert_cmd::Command;
use knative2nomad::batch;
use knative2nomad::config::ConvertOptions;
use knative2nomad::knative::cluster::{
    ClusterQuery, ImportedService, NamespaceScope, export, fetch_services,
};
use serde_json::{Value, json};
use std::path::Path;

fn k2n_in(dir: &Path) -> Command {
    let mut command = Command::cargo_bin("knative2nomad").unwrap();
    command.current_dir(dir);
    command
}

fn write(root: &Path, relative: &str, text: &str) {
    let path = root.join(relative);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn config_map(name: &str, db_host: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  DB_HOST: {db_host}\n"
    )
}

/// A Service reading `DB_HOST` from ConfigMap `app-config` with `configMapKeyRef`.
fn service_reading_db_host(name: &str) -> String {
    format!(
        "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata:\n  name: {name}\nspec:\n  template:\n    spec:\n      containers:\n        - image: ghcr.io/example/app:1\n          env:\n            - name: DB_HOST\n              valueFrom:\n                configMapKeyRef:\n                  name: app-config\n                  key: DB_HOST\n"
    )
}

/// A Service with all of a ConfigMap's keys (`envFrom`) and, as files, a projected volume.
fn service_with_env_from_and_volume(name: &str, config_map: &str) -> String {
    format!(
        "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata:\n  name: {name}\nspec:\n  template:\n    spec:\n      containers:\n        - image: ghcr.io/example/app:1\n          envFrom:\n            - configMapRef:\n                name: {config_map}\n          volumeMounts:\n            - name: conf\n              mountPath: /etc/app\n      volumes:\n        - name: conf\n          projected:\n            sources:\n              - configMap:\n                  name: {config_map}\n"
    )
}

/// The tree: `envs/prod/app.yaml` and `envs/staging/app.yaml`, each with its own
/// `app-config` (same name, no namespace) and a Service reading `DB_HOST` from it.
fn prod_and_staging(root: &Path) {
    for env in ["prod", "staging"] {
        write(
            root,
            &format!("envs/{env}/app.yaml"),
            &format!(
                "{}---\n{}",
                config_map("app-config", &format!("db.{env}.internal")),
                service_reading_db_host(&format!("app-{env}"))
            ),
        );
    }
}

/// Job ID → the value of env `key` of its first task, from a `--format json` stream.
fn env_by_job(stdout: &[u8], key: &str) -> Vec<(String, Option<String>)> {
    serde_json::Deserializer::from_slice(stdout)
        .into_iter::<Value>()
        .map(|job| {
            let job = &job.unwrap()["Job"];
            (
                job["ID"].as_str().unwrap().to_string(),
                job["TaskGroups"][0]["Tasks"][0]["Env"][key]
                    .as_str()
                    .map(str::to_string),
            )
        })
        .collect()
}

fn pair(id: &str, value: &str) -> (String, Option<String>) {
    (id.to_string(), Some(value.to_string()))
}

#[test]
fn prod_and_staging_each_get_their_own_value() {
    let dir = tempfile::tempdir().unwrap();
    prod_and_staging(dir.path());
    let out = k2n_in(dir.path())
        .args(["convert", "envs", "--format", "json"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(
        env_by_job(&out.stdout, "DB_HOST"),
        [
            pair("app-prod", "db.prod.internal"),
            pair("app-staging", "db.staging.internal")
        ]
    );
    assert!(!stderr.contains("K2N080"), "{stderr}");

    // The same when the two folders are two PATH arguments, or the two files are named alone.
    for args in [
        &["envs/prod", "envs/staging"][..],
        &["envs/prod/app.yaml", "envs/staging/app.yaml"][..],
    ] {
        let out = k2n_in(dir.path())
            .arg("convert")
            .args(args)
            .args(["--format", "json"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        assert_eq!(
            env_by_job(&out.stdout, "DB_HOST"),
            [
                pair("app-prod", "db.prod.internal"),
                pair("app-staging", "db.staging.internal")
            ],
            "{args:?}"
        );
    }
}

#[test]
fn a_parent_folder_config_map_is_shared_by_child_folders_and_a_nearer_one_wins() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        root,
        "envs/shared.yaml",
        &config_map("app-config", "db.shared.internal"),
    );
    write(root, "envs/a/svc.yaml", &service_reading_db_host("svc-a"));
    write(root, "envs/b/svc.yaml", &service_reading_db_host("svc-b"));
    write(
        root,
        "envs/c/deep/svc.yaml",
        &service_reading_db_host("svc-c"),
    );
    write(
        root,
        "envs/c/override.yaml",
        &config_map("app-config", "db.c.internal"),
    );
    let out = k2n_in(root)
        .args(["convert", "envs", "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        env_by_job(&out.stdout, "DB_HOST"),
        [
            pair("svc-a", "db.shared.internal"),
            pair("svc-b", "db.shared.internal"),
            // c/deep/ has none; c/ is nearer than envs/.
            pair("svc-c", "db.c.internal"),
        ]
    );
}

#[test]
fn different_definitions_in_one_folder_fail_only_their_users() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "conf/one.yaml", &config_map("app-config", "db-1"));
    write(root, "conf/two.yaml", &config_map("app-config", "db-2"));
    write(root, "conf/reader.yaml", &service_reading_db_host("reader"));
    write(
        root,
        "conf/files.yaml",
        &service_with_env_from_and_volume("files", "app-config"),
    );
    // In the same folder but using nothing ambiguous: still converted.
    write(
        root,
        "conf/bystander.yaml",
        &service_with_env_from_and_volume("bystander", "other-config"),
    );
    write(
        root,
        "conf/other.yaml",
        &config_map("other-config", "db-other"),
    );
    let out = k2n_in(root)
        .args(["convert", "conf", "-o", "jobs"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("error[K2N080]"))
        .collect();
    // reader (configMapKeyRef), files (its projected volume; conversion stops at the first
    // error stage, before the envFrom).
    assert_eq!(errors.len(), 2, "{stderr}");
    for error in &errors {
        assert!(
            error.contains("conf/one.yaml:4") && error.contains("conf/two.yaml:4"),
            "{error}"
        );
    }
    for (file, line) in [("conf/reader.yaml", 13), ("conf/files.yaml", 20)] {
        assert!(
            stderr.contains(&format!("--> {file}:{line}:")),
            "{file}:{line}\n{stderr}"
        );
    }
    let summary = stderr
        .lines()
        .find(|l| l.contains("service(s) converted"))
        .unwrap_or_default();
    assert!(
        summary.starts_with("1 service(s) converted") && summary.contains("; 2 failed"),
        "{stderr}"
    );
    let jobs: Vec<String> = std::fs::read_dir(root.join("jobs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|name| name.ends_with(".nomad.hcl"))
        .collect();
    assert_eq!(jobs, ["bystander.nomad.hcl"]);
}

#[test]
fn identical_definitions_at_the_same_distance_are_one() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    // The same data, written differently (key order, quoting), in two files of one folder.
    write(
        root,
        "conf/one.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-config\n  labels: {copy: one}\ndata:\n  DB_HOST: db.internal\n  PORT: \"5432\"\n",
    );
    write(
        root,
        "conf/two.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-config\ndata:\n  PORT: \"5432\"\n  DB_HOST: 'db.internal'\n",
    );
    write(root, "conf/reader.yaml", &service_reading_db_host("reader"));
    let out = k2n_in(root)
        .args(["convert", "conf", "--format", "json"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("K2N080"), "{stderr}");
    assert_eq!(
        env_by_job(&out.stdout, "DB_HOST"),
        [pair("reader", "db.internal")]
    );
}

/// A Secret with these key names; the value is one no output may contain.
fn secret(keys: &[&str]) -> String {
    let data: String = keys
        .iter()
        .map(|k| format!("  {k}: value-of-{k}-never-printed\n"))
        .collect();
    format!("apiVersion: v1\nkind: Secret\nmetadata:\n  name: api\nstringData:\n{data}")
}

fn service_with_secret_env_from(name: &str) -> String {
    format!(
        "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata:\n  name: {name}\nspec:\n  template:\n    spec:\n      containers:\n        - image: ghcr.io/example/app:1\n          envFrom:\n            - secretRef:\n                name: api\n"
    )
}

#[test]
fn secret_key_names_from_env_from_are_scoped_the_same_way() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "envs/prod/secret.yaml", &secret(&["TOKEN"]));
    write(
        root,
        "envs/staging/secret.yaml",
        &secret(&["TOKEN", "DEBUG_TOKEN"]),
    );
    write(
        root,
        "envs/prod/app.yaml",
        &service_with_secret_env_from("app-prod"),
    );
    write(
        root,
        "envs/staging/app.yaml",
        &service_with_secret_env_from("app-staging"),
    );
    // Same key names, different values: identical as far as the converter knows.
    write(root, "same/one.yaml", &secret(&["TOKEN"]));
    write(
        root,
        "same/two.yaml",
        &secret(&["TOKEN"]).replace("never", "also-never"),
    );
    write(
        root,
        "same/app.yaml",
        &service_with_secret_env_from("app-same"),
    );
    // Different key names at the same distance: an error.
    write(root, "clash/one.yaml", &secret(&["TOKEN"]));
    write(root, "clash/two.yaml", &secret(&["PASSWORD"]));
    write(
        root,
        "clash/app.yaml",
        &service_with_secret_env_from("app-clash"),
    );
    let out = k2n_in(root)
        .args(["convert", ".", "--format", "json"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(!stdout.contains("never-printed") && !stderr.contains("never-printed"));
    let templates: Vec<(String, String)> = serde_json::Deserializer::from_slice(&out.stdout)
        .into_iter::<Value>()
        .map(|job| {
            let job = &job.unwrap()["Job"];
            (
                job["ID"].as_str().unwrap().to_string(),
                job["TaskGroups"][0]["Tasks"][0]["Templates"][0]["EmbeddedTmpl"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            )
        })
        .collect();
    let ids: Vec<&str> = templates.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, ["app-prod", "app-staging", "app-same"]);
    let prod = &templates[0].1;
    assert!(prod.contains("TOKEN={{ .api_TOKEN }}"), "{prod}");
    assert!(!prod.contains("DEBUG_TOKEN"), "{prod}");
    let staging = &templates[1].1;
    assert!(
        staging.contains("DEBUG_TOKEN={{ .api_DEBUG_TOKEN }}"),
        "{staging}"
    );
    let clash: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("error[K2N080]"))
        .collect();
    assert_eq!(clash.len(), 1, "{stderr}");
    assert!(
        clash[0].contains("Secret default/api")
            && clash[0].contains("different key names")
            && clash[0].contains("clash/one.yaml:4")
            && clash[0].contains("clash/two.yaml:4"),
        "{}",
        clash[0]
    );
}

#[test]
fn check_agrees_with_convert_on_the_scoped_tree() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    prod_and_staging(root);
    write(root, "envs/shared.yaml", &config_map("shared", "x"));
    write(
        root,
        "envs/qa/app.yaml",
        &service_with_env_from_and_volume("app-qa", "shared"),
    );
    k2n_in(root)
        .args(["convert", "envs", "-o", "jobs"])
        .assert()
        .success();
    let prod_job = std::fs::read_to_string(root.join("jobs/prod/app-prod.nomad.hcl")).unwrap();
    assert!(prod_job.contains("db.prod.internal") && !prod_job.contains("db.staging"));
    k2n_in(root)
        .args(["check", "envs", "--against", "jobs"])
        .assert()
        .success();
    // And check is not blind to the scope: staging's value changing is drift in staging only.
    write(
        root,
        "envs/staging/app.yaml",
        &format!(
            "{}---\n{}",
            config_map("app-config", "db.staging-2.internal"),
            service_reading_db_host("app-staging")
        ),
    );
    let out = k2n_in(root)
        .args(["check", "envs", "--against", "jobs"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("staging/app-staging.nomad.hcl"), "{stdout}");
    assert!(!stdout.contains("prod/app-prod.nomad.hcl"), "{stdout}");
}

#[test]
fn reports_and_annotations_say_where_each_definition_came_from() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    prod_and_staging(root);
    write(root, "envs/qa/cm.yaml", &config_map("shared", "x"));
    write(
        root,
        "envs/qa/app.yaml",
        &service_with_env_from_and_volume("app-qa", "shared"),
    );
    let out = k2n_in(root)
        .args([
            "convert",
            "envs",
            "--annotate",
            "--report",
            "report.json",
            "--report",
            "report.md",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let hcl = String::from_utf8_lossy(&out.stdout);
    assert!(
        hcl.lines().any(|l| l.contains("\"db.prod.internal\"")
            && l.contains("# containers[0].env[0]: ConfigMap app-config key DB_HOST, from envs/prod/app.yaml:4")),
        "{hcl}"
    );
    assert!(
        hcl.lines()
            .any(|l| l.contains("DB_HOST") && l.contains("from envs/qa/cm.yaml:4")),
        "{hcl}"
    );
    assert!(
        hcl.lines().any(|l| l.trim_start().starts_with("template {")
            && l.contains("ConfigMap shared key DB_HOST from envs/qa/cm.yaml:4")),
        "{hcl}"
    );

    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("report.json")).unwrap()).unwrap();
    let resolved: Vec<(String, Value)> = report["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["service"].as_str().unwrap().to_string(),
                s["resolved"].clone(),
            )
        })
        .collect();
    let from = |file: &str, name: &str| json!([{"kind": "ConfigMap", "name": name, "file": file, "line": 4}]);
    assert_eq!(
        resolved,
        [
            (
                "default/app-prod".to_string(),
                from("envs/prod/app.yaml", "app-config")
            ),
            (
                "default/app-qa".to_string(),
                from("envs/qa/cm.yaml", "shared")
            ),
            (
                "default/app-staging".to_string(),
                from("envs/staging/app.yaml", "app-config")
            ),
        ]
    );
    let markdown = std::fs::read_to_string(root.join("report.md")).unwrap();
    assert!(
        markdown
            .contains("| default/app-staging | ConfigMap app-config | envs/staging/app.yaml:4 |"),
        "{markdown}"
    );
}

#[test]
fn a_definition_only_in_a_sibling_folder_is_not_used_and_says_where_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        root,
        "envs/staging/cm.yaml",
        &config_map("app-config", "db.staging.internal"),
    );
    write(
        root,
        "envs/prod/app.yaml",
        &service_reading_db_host("app-prod"),
    );
    let out = k2n_in(root)
        .args(["convert", "envs", "--format", "json"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stdout.contains("db.staging.internal"), "{stdout}");
    assert!(
        stderr.contains("note[K2N081]: ConfigMap default/app-config is defined at envs/staging/cm.yaml:4, which is outside this Service's scope"),
        "{stderr}"
    );
    assert!(stderr.contains("warning[K2N028]"), "{stderr}");
}

#[test]
fn a_single_file_or_stdin_resolves_as_before() {
    let text = format!(
        "{}---\n{}",
        config_map("app-config", "db.one.internal"),
        service_reading_db_host("one")
    );
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "one.yaml", &text);
    let from_file = k2n_in(dir.path())
        .args(["convert", "one.yaml", "--format", "json"])
        .output()
        .unwrap();
    let from_stdin = k2n_in(dir.path())
        .args(["convert", "-", "--format", "json"])
        .write_stdin(text)
        .output()
        .unwrap();
    for out in [&from_file, &from_stdin] {
        assert_eq!(out.status.code(), Some(0));
        assert_eq!(
            env_by_job(&out.stdout, "DB_HOST"),
            [pair("one", "db.one.internal")]
        );
    }
}

#[test]
fn deploy_converts_knative_sources_with_the_same_scopes() {
    let dir = tempfile::tempdir().unwrap();
    prod_and_staging(dir.path());
    let opts = ConvertOptions::default();
    let jobs = knative2nomad::deploy::load_jobs(&[dir.path().join("envs")], &opts).unwrap();
    let db_hosts: Vec<(String, String)> = jobs
        .iter()
        .map(|loaded| {
            let knative2nomad::deploy::load::Loaded::Ready { job, .. } = loaded else {
                panic!("a Knative source is converted, not handed to Nomad's parser");
            };
            let value = serde_json::to_value(job).unwrap();
            (
                value["ID"].as_str().unwrap().to_string(),
                value["TaskGroups"][0]["Tasks"][0]["Env"]["DB_HOST"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            )
        })
        .collect();
    let mut db_hosts = db_hosts;
    db_hosts.sort();
    assert_eq!(
        db_hosts,
        [
            ("app-prod".to_string(), "db.prod.internal".to_string()),
            ("app-staging".to_string(), "db.staging.internal".to_string())
        ]
    );
    // A Service of prod/ in a file of its own sees both of prod/'s definitions: when they
    // differ, nothing is deployed and the error says why.
    write(
        dir.path(),
        "envs/prod/again.yaml",
        &config_map("app-config", "db.other.internal"),
    );
    write(
        dir.path(),
        "envs/prod/worker.yaml",
        &service_reading_db_host("worker"),
    );
    let error = knative2nomad::deploy::load_jobs(&[dir.path().join("envs")], &opts)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("K2N080") && error.contains("again.yaml:4"),
        "{error}"
    );
}

/// Two namespaces of a cluster, each with its own `app-config` and a Service reading it.
fn two_namespace_cluster() -> FakeCluster {
    let mut cluster = FakeCluster::default();
    for namespace in ["prod", "staging"] {
        cluster.config_maps.push(json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "app-config", "namespace": namespace, "uid": "u", "resourceVersion": "1"},
            "data": {"DB_HOST": format!("db.{namespace}.internal")}
        }));
        let service: Value =
            serde_yaml::from_str(&service_reading_db_host(&format!("app-{namespace}"))).unwrap();
        let mut service = service;
        service["metadata"]["namespace"] = json!(namespace);
        cluster.services.push(service);
    }
    cluster
}

#[tokio::test]
async fn a_cluster_namespace_is_one_scope_and_its_export_converts_the_same() {
    let api = FakeKube::start(two_namespace_cluster()).await;
    let connection = api.connection(None);
    let query = ClusterQuery {
        scope: NamespaceScope::All,
        selector: None,
        names: Vec::new(),
        page_size: 500,
        origin: connection.origin.clone(),
    };
    let services = fetch_services(connection.client.clone(), &query)
        .await
        .unwrap();
    let export_dir = tempfile::tempdir().unwrap();
    export(export_dir.path(), &services).unwrap();
    let opts = ConvertOptions::default();
    let from_cluster = batch::run_inputs(
        services
            .into_iter()
            .map(ImportedService::into_input)
            .collect(),
        &opts,
    );
    let from_export = batch::run(&[export_dir.path().to_path_buf()], &opts);
    let db_hosts = |batch: &batch::Batch| -> Vec<(String, String)> {
        batch
            .services
            .iter()
            .map(|s| {
                let job = serde_json::to_value(s.job().expect("converted")).unwrap();
                (
                    job["ID"].as_str().unwrap().to_string(),
                    job["TaskGroups"][0]["Tasks"][0]["Env"]["DB_HOST"]
                        .as_str()
                        .unwrap()
                        .to_string(),
                )
            })
            .collect()
    };
    let want = [
        ("app-prod".to_string(), "db.prod.internal".to_string()),
        ("app-staging".to_string(), "db.staging.internal".to_string()),
    ];
    assert_eq!(db_hosts(&from_cluster), want);
    assert_eq!(db_hosts(&from_export), want);
    assert!(from_cluster.all_findings().all(|f| f.code != "K2N080"));
    assert!(from_export.all_findings().all(|f| f.code != "K2N080"));
}
