//! `deploy` and `validate` of hand-written HCL job files, read by Nomad's own parser through
//! `POST /v1/jobs/parse` on the double (which runs Nomad's `jobspec2` as the agent does): input
//! variables from `--var`, `--var-file` and `NOMAD_VAR_*`, diagnostics at the user's file and
//! line, `file()` refused, and files this tool wrote kept on the local parser (that Nomad's
//! parser reads those files as convert's JSON is `nomad_oracle`'s check). Every test skips with
//! a notice when `../shared/tools/nomad-jobspec2/jobspec2json` is absent.

use crate::support::binary;
use crate::support::nomad_double::parse::jobspec2json;
use crate::support::nomad_double::{DoubleConfig, NomadDouble, RequestRecord, TokenPolicy};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// A job file as a team writes it by hand: variables with and without defaults and types, a
/// local, string templates and a function call.
const HAND_WRITTEN: &str = r#"variable "image" {
  type        = string
  description = "Container image"
}

variable "replicas" {
  type    = number
  default = 1
}

variable "tags" {
  type    = list(string)
  default = []
}

locals {
  port = 8080
}

job "hello" {
  datacenters = ["*"]

  group "web" {
    count = var.replicas

    network {
      port "http" {
        to = local.port
      }
    }

    task "app" {
      driver = "docker"

      config {
        image = var.image
        ports = ["http"]
      }

      meta {
        tags = join(",", var.tags)
      }

      resources {
        cpu    = 100
        memory = 64
      }
    }
  }
}
"#;

fn parser_present(test: &str) -> bool {
    if jobspec2json().is_none() {
        eprintln!(
            "skipped {test}: ../shared/tools/nomad-jobspec2/jobspec2json (Nomad's own parser) \
             is not beside the checkout"
        );
        return false;
    }
    true
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs the binary off the async runtime with no Nomad variables but `env`.
async fn run(args: Vec<String>, env: Vec<(&'static str, String)>) -> Run {
    let mut command = binary::knative2nomad();
    command.args(&args);
    for (key, value) in env {
        command.env(key, value);
    }
    let output = binary::output(command, std::time::Duration::from_secs(120)).await;
    Run {
        code: output.code.unwrap_or(-1),
        stdout: output.stdout,
        stderr: output.stderr,
    }
}

fn deploy_args(double: &NomadDouble, file: &Path, extra: &[&str]) -> Vec<String> {
    let mut args = vec![
        "deploy".to_string(),
        file.display().to_string(),
        "--address".to_string(),
        double.address(),
        "--retry-base-delay".to_string(),
        "5ms".to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

fn parse_requests(double: &NomadDouble) -> Vec<RequestRecord> {
    double
        .requests()
        .into_iter()
        .filter(|r| r.path == "/v1/jobs/parse")
        .collect()
}

/// The request log as the closing note shows it: method, path with query, status.
fn request_log(double: &NomadDouble) -> String {
    double
        .requests()
        .iter()
        .map(|r| {
            let query: Vec<String> = r.query.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let query = if query.is_empty() {
                String::new()
            } else {
                format!("?{}", query.join("&"))
            };
            format!("{} {}{query} -> {}", r.method, r.path, r.status)
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hand_written_job_with_variables_deploys_through_nomads_parser() {
    if !parser_present("a_hand_written_job_with_variables_deploys_through_nomads_parser") {
        return;
    }
    let double = NomadDouble::start(DoubleConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "hello.nomad.hcl", HAND_WRITTEN);
    let vars = write(dir.path(), "prod.vars.hcl", "replicas = 3\n");

    let run = run(
        deploy_args(
            &double,
            &file,
            &[
                "--var",
                "image=ghcr.io/example/hello:1.2",
                "--var",
                r#"tags=["blue", "prod"]"#,
                "--var-file",
                &vars.display().to_string(),
            ],
        ),
        vec![],
    )
    .await;
    // Shown with --nocapture: the closing note's end-to-end session.
    eprintln!(
        "deploy stderr:\n{}\ndeploy stdout:\n{}\nrequest log of the end-to-end deploy:\n{}",
        run.stderr,
        run.stdout,
        request_log(&double)
    );

    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!(
            "[hello] {}: HCL read by Nomad's parser (POST /v1/jobs/parse)",
            file.display()
        )),
        "{}",
        run.stderr
    );
    let parses = parse_requests(&double);
    assert_eq!(parses.len(), 1);
    let body: Value = serde_json::from_str(&parses[0].body).unwrap();
    assert_eq!(body["JobHCL"], HAND_WRITTEN);
    assert_eq!(body["Canonicalize"], false);
    assert_eq!(
        body["Variables"],
        "image = \"ghcr.io/example/hello:1.2\"\nreplicas = 3\ntags = [\"blue\", \"prod\"]\n"
    );
    let job = double.job("default", "hello").expect("registered");
    let group = &job["TaskGroups"][0];
    assert_eq!(group["Count"], 3, "the variables file's value");
    assert_eq!(
        group["Tasks"][0]["Config"]["image"],
        "ghcr.io/example/hello:1.2"
    );
    assert_eq!(group["Tasks"][0]["Meta"]["tags"], "blue,prod");
    assert_eq!(group["Networks"][0]["DynamicPorts"][0]["To"], 8080);
    assert!(run.stdout.contains("hello") && run.stdout.contains("deployed"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nomad_var_from_the_environment_is_used_and_a_flag_wins_over_it() {
    if !parser_present("nomad_var_from_the_environment_is_used_and_a_flag_wins_over_it") {
        return;
    }
    let double = NomadDouble::start(DoubleConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "hello.nomad.hcl", HAND_WRITTEN);

    let env = vec![
        ("NOMAD_VAR_image", "ghcr.io/example/hello:env".to_string()),
        ("NOMAD_VAR_replicas", "2".to_string()),
        (
            "NOMAD_VAR_undeclared",
            "ignored, as Nomad ignores it".to_string(),
        ),
    ];
    let run = run(deploy_args(&double, &file, &["--var", "replicas=4"]), env).await;

    assert_eq!(run.code, 0, "{}", run.stderr);
    let job = double.job("default", "hello").expect("registered");
    assert_eq!(
        job["TaskGroups"][0]["Tasks"][0]["Config"]["image"],
        "ghcr.io/example/hello:env"
    );
    assert_eq!(
        job["TaskGroups"][0]["Count"], 4,
        "--var wins over NOMAD_VAR_"
    );
    let body: Value = serde_json::from_str(&parse_requests(&double)[0].body).unwrap();
    assert!(
        !body["Variables"].as_str().unwrap().contains("undeclared"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_syntax_error_is_shown_at_the_users_file_and_line_and_nothing_is_deployed() {
    if !parser_present("a_syntax_error_is_shown_at_the_users_file_and_line") {
        return;
    }
    let double = NomadDouble::start(DoubleConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let broken = HAND_WRITTEN.replace("count = var.replicas", "count = ");
    let file = write(dir.path(), "broken.nomad.hcl", &broken);
    let good = write(dir.path(), "good.nomad.hcl", HAND_WRITTEN);

    let run = run(
        vec![
            "deploy".into(),
            good.display().to_string(),
            file.display().to_string(),
            "--address".into(),
            double.address(),
            "--var".into(),
            "image=x".into(),
        ],
        vec![],
    )
    .await;

    assert_eq!(run.code, 1, "{}", run.stderr);
    // Line 24 is `count = ` (the expression starts on the next line).
    assert!(
        run.stderr.contains(&format!(
            "{}:24,13-25,1: Invalid expression",
            file.display()
        )),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("input.hcl"), "{}", run.stderr);
    assert!(
        run.stderr.contains("nothing was deployed"),
        "{}",
        run.stderr
    );
    assert_eq!(double.count("PUT", "/v1/jobs"), 0, "not even the good file");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_functions_are_refused_with_the_position_and_what_to_do() {
    if !parser_present("file_functions_are_refused_with_the_position_and_what_to_do") {
        return;
    }
    let double = NomadDouble::start(DoubleConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "motd.txt", "hello\n");
    let text = HAND_WRITTEN.replace("tags = join(\",\", var.tags)", "motd = file(\"motd.txt\")");
    let file = write(dir.path(), "files.nomad.hcl", &text);

    let run = run(deploy_args(&double, &file, &["--var", "image=x"]), vec![]).await;

    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!("{}:41,", file.display()))
            && run.stderr.contains("filesystem function disabled")
            && run.stderr.contains("nomad job run -output"),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_var_no_file_declares_is_refused_before_anything_is_sent() {
    if !parser_present("a_var_no_file_declares_is_refused_before_anything_is_sent") {
        return;
    }
    let double = NomadDouble::start(DoubleConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "hello.nomad.hcl", HAND_WRITTEN);

    let run = run(
        deploy_args(&double, &file, &["--var", "image=x", "--var", "imgae=y"]),
        vec![],
    )
    .await;

    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("-var imgae") && run.stderr.contains("nothing was deployed"),
        "{}",
        run.stderr
    );
    assert!(double.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_this_tool_wrote_stay_local_and_plan_says_which_way_each_file_went() {
    if !parser_present("files_this_tool_wrote_stay_local") {
        return;
    }
    let double = NomadDouble::start(DoubleConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_knative2nomad"))
        .args(["convert", "testdata/services/03-port.yaml", "-o"])
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(status.success());
    let ours = dir.path().join("api.nomad.hcl");
    let hand = write(dir.path(), "hello.nomad.hcl", HAND_WRITTEN);

    let run = run(
        vec![
            "deploy".into(),
            ours.display().to_string(),
            hand.display().to_string(),
            "--plan".into(),
            "--address".into(),
            double.address(),
            "--var".into(),
            "image=x".into(),
        ],
        vec![],
    )
    .await;

    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!(
            "[api] {}: HCL written by knative2nomad, read locally",
            ours.display()
        )) && run.stderr.contains(&format!(
            "[hello] {}: HCL read by Nomad's parser",
            hand.display()
        )),
        "{}",
        run.stderr
    );
    assert_eq!(
        parse_requests(&double).len(),
        1,
        "only the hand-written file"
    );
    assert_eq!(
        double.count("PUT", "/v1/jobs"),
        0,
        "--plan registers nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_with_an_address_reads_hand_written_hcl_through_the_cluster() {
    if !parser_present("validate_with_an_address_reads_hand_written_hcl_through_the_cluster") {
        return;
    }
    let double = NomadDouble::start(DoubleConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "hello.nomad.hcl", HAND_WRITTEN);

    let offline = run(vec!["validate".into(), file.display().to_string()], vec![]).await;
    assert_eq!(offline.code, 1, "our parser does not read variables");

    let run = run(
        vec![
            "validate".into(),
            file.display().to_string(),
            "--address".into(),
            double.address(),
            "--var".into(),
            "image=nginx:1".into(),
        ],
        vec![],
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("valid"), "{}", run.stdout);
    assert_eq!(parse_requests(&double).len(), 1);
    assert_eq!(double.count("PUT", "/v1/validate/job"), 1);

    let unset = run_validate_without_image(&double, &file).await;
    assert_eq!(unset.code, 1);
    assert!(
        unset.stderr.contains("Unset variable \"image\""),
        "{}",
        unset.stderr
    );
}

async fn run_validate_without_image(double: &NomadDouble, file: &Path) -> Run {
    run(
        vec![
            "validate".into(),
            file.display().to_string(),
            "--address".into(),
            double.address(),
        ],
        vec![],
    )
    .await
}

/// The double's `/v1/jobs/parse` refuses what Nomad refuses, with Nomad's statuses and words.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_doubles_parse_endpoint_speaks_nomads_dialect() {
    if !parser_present("the_doubles_parse_endpoint_speaks_nomads_dialect") {
        return;
    }
    knative2nomad::crypto::install_crypto_provider();
    let config = DoubleConfig {
        acl: Some(HashMap::from([
            ("reader".to_string(), TokenPolicy::read_only()),
            (
                "elsewhere".to_string(),
                TokenPolicy {
                    namespaces: vec!["prod".into()],
                    write: true,
                },
            ),
        ])),
        ..DoubleConfig::default()
    };
    let double = NomadDouble::start(config).await;
    let http = reqwest::Client::new();
    let url = format!("{}/v1/jobs/parse", double.address());
    let send = |token: &str, body: Option<Value>| {
        let mut request = http.post(&url).header("X-Nomad-Token", token);
        if let Some(body) = body {
            request = request.body(body.to_string());
        }
        request.send()
    };
    let answer = |response: reqwest::Response| async move {
        (
            response.status().as_u16(),
            response.text().await.unwrap_or_default(),
        )
    };

    let hcl = json!({"JobHCL": "job \"a\" {\n  datacenters = [\"*\"]\n}\n"});
    assert_eq!(
        answer(send("nobody", Some(hcl.clone())).await.unwrap()).await,
        (403, "ACL token not found".to_string())
    );
    assert_eq!(
        answer(send("elsewhere", Some(hcl.clone())).await.unwrap()).await,
        (403, "Permission denied".to_string()),
        "no capability in namespace default"
    );
    assert_eq!(
        answer(send("reader", None).await.unwrap()).await,
        (400, "Request body is empty".to_string())
    );
    assert_eq!(
        answer(send("reader", Some(json!({"JobHCL": ""}))).await.unwrap()).await,
        (400, "Job spec is empty".to_string())
    );
    let (status, body) = answer(
        send(
            "reader",
            Some(json!({"jobhcl": "job \"a\" {\n  count = \n}\n"})),
        )
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        body.starts_with("Failed to parse job: input.hcl:2,"),
        "{body}"
    );
    let (status, body) = answer(send("reader", Some(hcl)).await.unwrap()).await;
    assert_eq!(status, 200, "{body}");
    let job: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(job["ID"], "a", "the job itself, not wrapped: {body}");
    let get = http
        .get(&url)
        .header("X-Nomad-Token", "reader")
        .send()
        .await
        .unwrap();
    assert_eq!(answer(get).await, (405, "Invalid method".to_string()));
}
