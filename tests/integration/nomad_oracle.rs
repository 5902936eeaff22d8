//! Nomad's own parser as ground truth (issue 16): every job written from testdata/, in every
//! mapping mode, decoded by three builds of Nomad's `jobspec2` (2.0.6-dev, 1.8, 1.10) must be our
//! `--format json`, value for value; our `validate` must give Nomad's parser's verdict on a table
//! of hand-written job files; and, when `K2N_ORACLE_CORPUS` names a directory (`.ci/run` sets it
//! to the shared corpus), the same comparison runs over every job converted from it.
//!
//! Skips with a notice when ../shared/tools/nomad-jobspec2 is absent (a user's clone).

use crate::support::jobspec2::{Comparison, PARSERS, compare_job, decode, in_parallel, tools_dir};
use assert_cmd::Command;
use knative2nomad::nomad::{hcl, validate};
use std::path::{Path, PathBuf};

/// The mapping modes whose output is checked: each changes what the jobs contain.
const MODES: &[(&str, &[&str])] = &[
    ("plain", &[]),
    ("annotate", &["--annotate"]),
    ("traefik", &["--traefik"]),
    ("consul", &["--service-provider", "consul"]),
    // Both explicitly: the default for min-scale 0 may change.
    ("scale-to-zero none", &["--scale-to-zero", "none"]),
    ("scale-to-zero sablier", &["--scale-to-zero", "sablier"]),
];

/// Converts `inputs` twice (HCL with `flags`, JSON without `--annotate`, which is HCL only)
/// into `dir/hcl` and `dir/json`; returns the pairs (HCL file, JSON file).
fn convert_pairs(inputs: &[&Path], flags: &[&str], dir: &Path) -> Vec<(PathBuf, PathBuf)> {
    let json_flags: Vec<&str> = flags
        .iter()
        .copied()
        .filter(|f| *f != "--annotate")
        .collect();
    for (sub, extra, flags) in [
        ("hcl", &[][..], flags),
        ("json", &["--format", "json"][..], &json_flags[..]),
    ] {
        let out = Command::cargo_bin("knative2nomad")
            .unwrap()
            .arg("convert")
            .args(inputs)
            .arg("-o")
            .arg(dir.join(sub))
            .args(extra)
            .args(flags)
            .output()
            .unwrap();
        // 1: some input has error findings (corpus files Knative itself rejects); their good
        // services are still written.
        assert!(
            out.status.code().is_some_and(|c| c <= 1),
            "convert {inputs:?} {flags:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut pairs = Vec::new();
    collect_hcl(&dir.join("hcl"), &mut pairs);
    pairs.sort();
    pairs
        .into_iter()
        .map(|hcl_file| {
            let rel = hcl_file.strip_prefix(dir.join("hcl")).unwrap();
            let json_file = dir
                .join("json")
                .join(rel)
                .with_extension("")
                .with_extension("nomad.json");
            assert!(json_file.is_file(), "no JSON beside {}", hcl_file.display());
            (hcl_file, json_file)
        })
        .collect()
}

fn collect_hcl(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect_hcl(&path, out);
        } else if path.to_string_lossy().ends_with(".nomad.hcl") {
            out.push(path);
        }
    }
}

/// Decodes every pair's HCL with every parser, compares with the pair's JSON, and checks that
/// our own `validate` accepts the HCL as Nomad's parser did.
fn judge(tools: &Path, pairs: &[(PathBuf, PathBuf)]) -> Comparison {
    let work: Vec<(&str, &(PathBuf, PathBuf))> = PARSERS
        .iter()
        .flat_map(|p| pairs.iter().map(move |pair| (*p, pair)))
        .collect();
    let mut total = Comparison::default();
    for (parser, (hcl_file, json_file), outcome) in in_parallel(&work, |(parser, pair)| {
        (*parser, *pair, decode(tools, parser, &pair.0))
    })
    .into_iter()
    .map(|(p, pair, o)| (p, pair.clone(), o))
    {
        let name = hcl_file.display();
        let nomad = match outcome {
            Ok(job) => job,
            Err(e) => {
                total.problems.push(format!("{parser} refuses {name}: {e}"));
                continue;
            }
        };
        let text = std::fs::read_to_string(&json_file).unwrap();
        let ours: serde_json::Value = serde_json::from_str(&text).unwrap();
        let mut c = compare_job(&ours["Job"], &nomad);
        for p in &mut c.problems {
            *p = format!("{parser} {name}: {p}");
        }
        total.merge(c);
    }
    for (hcl_file, _) in pairs {
        let problems = validate::validate_file(hcl_file);
        if !problems.is_empty() {
            total.problems.push(format!(
                "Nomad's parser reads {}, our validate refuses it: {problems:?}",
                hcl_file.display()
            ));
        }
    }
    total
}

fn report(what: &str, files: usize, jobs: usize, c: &Comparison) {
    println!(
        "{what}: {files} input file(s), {jobs} job(s) × {} parsers, {} values compared, {} problem(s)",
        PARSERS.len(),
        c.fields,
        c.problems.len()
    );
    for (rule, n) in &c.nomad_only {
        println!("  set only by Nomad's parser, {n}×: {rule}");
    }
    assert!(
        c.problems.is_empty(),
        "{what}:\n{}",
        c.problems
            .iter()
            .take(40)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn testdata_jobs_decode_to_our_json_in_every_mode() {
    let Some(tools) = tools_dir("testdata_jobs_decode_to_our_json_in_every_mode") else {
        return;
    };
    let services = Path::new("testdata/services");
    let files = std::fs::read_dir(services).unwrap().count();
    let tmp = tempfile::tempdir().unwrap();
    for (i, (mode, flags)) in MODES.iter().enumerate() {
        let pairs = convert_pairs(&[services], flags, &tmp.path().join(i.to_string()));
        assert!(pairs.len() >= 40, "{mode}: only {} jobs", pairs.len());
        let c = judge(&tools, &pairs);
        report(&format!("testdata, {mode}"), files, pairs.len(), &c);
        assert!(c.fields > 1000, "{mode}: too few values compared");
    }
}

/// `.ci/run` sets `K2N_ORACLE_CORPUS` to the shared corpus; each file is converted on its own,
/// as the conformance loop does, plain and with `--annotate` (comments from hostile text).
#[test]
fn corpus_jobs_decode_to_our_json() {
    let Some(corpus) = std::env::var_os("K2N_ORACLE_CORPUS") else {
        println!("corpus_jobs_decode_to_our_json: skipped, K2N_ORACLE_CORPUS is not set");
        return;
    };
    let Some(tools) = tools_dir("corpus_jobs_decode_to_our_json") else {
        return;
    };
    let mut inputs: Vec<PathBuf> = std::fs::read_dir(&corpus)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.extension()
                .is_some_and(|e| e == "yaml" || e == "yml" || e == "json")
        })
        .collect();
    inputs.sort();
    assert!(!inputs.is_empty(), "no corpus files in {corpus:?}");
    let tmp = tempfile::tempdir().unwrap();
    for (mode, flags) in [("plain", &[][..]), ("annotate", &["--annotate"][..])] {
        let per_file: Vec<Vec<(PathBuf, PathBuf)>> = in_parallel(
            &inputs.iter().enumerate().collect::<Vec<_>>(),
            |(i, input)| {
                convert_pairs(
                    &[input.as_path()],
                    flags,
                    &tmp.path().join(format!("{mode}-{i}")),
                )
            },
        );
        let pairs: Vec<_> = per_file.into_iter().flatten().collect();
        let c = judge(&tools, &pairs);
        report(&format!("corpus, {mode}"), inputs.len(), pairs.len(), &c);
    }
}

/// What Nomad's parser says of a file, as the table records it (checked against all three
/// builds each run).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Nomad {
    Accepts,
    Refuses,
    /// Nomad evaluates something only it can (a function, an operator): our parser refuses with
    /// the hint to validate `nomad job run -output`'s JSON instead.
    AcceptsComputed,
}

/// A minimal valid job with `extra` inside the task.
fn task_job(extra: &str) -> String {
    format!(
        "job \"a\" {{\n  group \"g\" {{\n    task \"t\" {{\n      driver = \"docker\"\n      config {{\n        image = \"x\"\n      }}\n{extra}\n    }}\n  }}\n}}\n"
    )
}

/// Hand-written job files: the verdict of Nomad's parser (jobspec2json) and ours must agree.
const VERDICTS: &[(&str, &str, Nomad)] = &[
    (
        "unknown attribute",
        "      drivr = \"docker\"",
        Nomad::Refuses,
    ),
    (
        "unknown block",
        "      resourcez {\n      }",
        Nomad::Refuses,
    ),
    (
        "attribute written as a block",
        "      user {\n      }",
        Nomad::Refuses,
    ),
    (
        "block written as an attribute",
        "      resources = { cpu = 100 }",
        Nomad::Refuses,
    ),
    (
        "attribute set twice",
        "      user = \"a\"\n      user = \"b\"",
        Nomad::Refuses,
    ),
    (
        "single block twice",
        "      resources {\n        cpu = 100\n      }\n      resources {\n        cpu = 200\n      }",
        Nomad::Refuses,
    ),
    (
        "label on a block that takes none",
        "      resources \"x\" {\n        cpu = 100\n      }",
        Nomad::Refuses,
    ),
    (
        "bad duration",
        "      kill_timeout = \"5 s\"",
        Nomad::Refuses,
    ),
    (
        "duration as nanoseconds",
        "      kill_timeout = 5000000000",
        Nomad::Accepts,
    ),
    (
        "null for a plain field",
        "      user = null",
        Nomad::Refuses,
    ),
    (
        "null for a duration",
        "      kill_timeout = null",
        Nomad::Refuses,
    ),
    (
        "null inside meta",
        "      meta = { a = null }",
        Nomad::Refuses,
    ),
    ("list for a string", "      user = [\"a\"]", Nomad::Refuses),
    (
        "string for a number",
        "      resources {\n        cpu = \"100\"\n      }",
        Nomad::Accepts,
    ),
    (
        "exponent string for a number",
        "      resources {\n        cpu = \"1e2\"\n      }",
        Nomad::Accepts,
    ),
    (
        "whole float for an int",
        "      resources {\n        cpu = 100.0\n      }",
        Nomad::Accepts,
    ),
    (
        "fraction for an int",
        "      resources {\n        cpu = 100.5\n      }",
        Nomad::Refuses,
    ),
    (
        "padded string for a number",
        "      resources {\n        cpu = \" 100\"\n      }",
        Nomad::Refuses,
    ),
    ("number for a string", "      user = 5", Nomad::Accepts),
    (
        "string for a bool",
        "      leader = \"true\"",
        Nomad::Accepts,
    ),
    ("word for a bool", "      leader = \"yes\"", Nomad::Refuses),
    ("numbers in meta", "      meta = { a = 1 }", Nomad::Accepts),
    (
        "env as an attribute with dotted keys",
        "      env = { \"A.B\" = \"c\" }",
        Nomad::Accepts,
    ),
    (
        "runtime interpolation",
        "      user = \"a-${NOMAD_ALLOC_INDEX}-b\"",
        Nomad::Accepts,
    ),
    (
        "node attribute interpolation",
        "      user = \"${attr.kernel.name}\"",
        Nomad::Accepts,
    ),
    (
        "indexed interpolation",
        "      user = \"${meta.x[0]}\"",
        Nomad::Accepts,
    ),
    (
        "escaped interpolation",
        "      user = \"$${x}\"",
        Nomad::Accepts,
    ),
    (
        "heredoc",
        "      user = <<EOF\nhello ${NOMAD_TASK_NAME}\nEOF",
        Nomad::Accepts,
    ),
    (
        "undefined var.x",
        "      user = \"${var.x}\"",
        Nomad::Refuses,
    ),
    (
        "undefined local.x",
        "      user = \"${local.x}\"",
        Nomad::Refuses,
    ),
    (
        "function call",
        "      user = upper(\"x\")",
        Nomad::AcceptsComputed,
    ),
    (
        "function in a string",
        "      user = \"${upper(\"x\")}\"",
        Nomad::AcceptsComputed,
    ),
    (
        "arithmetic",
        "      kill_timeout = 1 + 2",
        Nomad::AcceptsComputed,
    ),
    (
        "directive",
        "      user = \"%{ if true }a%{ endif }\"",
        Nomad::AcceptsComputed,
    ),
    (
        "config block twice",
        "      config {\n        image = \"y\"\n      }",
        Nomad::Refuses,
    ),
];

/// Whole files, beside the task-level snippets above.
const FILE_VERDICTS: &[(&str, &str, Nomad)] = &[
    (
        "syntax error",
        "job \"a\" {\n  group \"g\" {\n",
        Nomad::Refuses,
    ),
    (
        "two job blocks",
        "job \"a\" {\n}\njob \"b\" {\n}\n",
        Nomad::Refuses,
    ),
    ("job without a label", "job {\n}\n", Nomad::Refuses),
    (
        "group without a label",
        "job \"a\" {\n  group {\n    task \"t\" {\n      driver = \"docker\"\n    }\n  }\n}\n",
        Nomad::Refuses,
    ),
    (
        "scaling without max",
        "job \"a\" {\n  group \"g\" {\n    scaling {\n      min = 1\n    }\n    task \"t\" {\n      driver = \"docker\"\n      config {\n        image = \"x\"\n      }\n    }\n  }\n}\n",
        Nomad::Refuses,
    ),
    (
        "service meta as an attribute",
        "job \"a\" {\n  group \"g\" {\n    service {\n      name = \"s\"\n      provider = \"nomad\"\n      meta = { a = \"b\" }\n    }\n    task \"t\" {\n      driver = \"docker\"\n      config {\n        image = \"x\"\n      }\n    }\n  }\n}\n",
        Nomad::Refuses,
    ),
    (
        "job meta as an attribute",
        "job \"a\" {\n  meta = { \"app.kubernetes.io/name\" = \"b\" }\n  group \"g\" {\n    task \"t\" {\n      driver = \"docker\"\n      config {\n        image = \"x\"\n      }\n    }\n  }\n}\n",
        Nomad::Accepts,
    ),
    (
        "free-form config with labelled and nested blocks",
        "job \"a\" {\n  group \"g\" {\n    task \"t\" {\n      driver = \"docker\"\n      config {\n        image = \"x\"\n        labels = { a = \"b\" }\n        mount {\n          type = \"tmpfs\"\n          target = \"/x\"\n          tmpfs_options {\n            size = 10\n          }\n        }\n        logging {\n          type = \"json-file\"\n          config {\n            max-size = \"1m\"\n          }\n        }\n      }\n    }\n  }\n}\n",
        Nomad::Accepts,
    ),
];

#[test]
fn validate_gives_nomads_parser_verdict() {
    let Some(tools) = tools_dir("validate_gives_nomads_parser_verdict") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let cases: Vec<(&str, String, Nomad)> = VERDICTS
        .iter()
        .map(|(name, extra, nomad)| (*name, task_job(extra), *nomad))
        .chain(
            FILE_VERDICTS
                .iter()
                .map(|(name, text, nomad)| (*name, text.to_string(), *nomad)),
        )
        .collect();
    let mut mismatches = Vec::new();
    let mut compared = Comparison::default();
    for (i, (name, text, expected)) in cases.iter().enumerate() {
        let file = tmp.path().join(format!("case{i}.nomad.hcl"));
        std::fs::write(&file, text).unwrap();
        for parser in PARSERS {
            let decoded = decode(&tools, parser, &file);
            let accepted = decoded.is_ok();
            if accepted != (*expected != Nomad::Refuses) {
                mismatches.push(format!(
                    "{name}: the table says Nomad {expected:?}, {parser} says {}",
                    decoded.err().unwrap_or_else(|| "it accepts".into())
                ));
                continue;
            }
            if let (Ok(nomad), Nomad::Accepts) = (decoded, expected) {
                // Both read it: they must read the same job.
                let ours = hcl::parse_job(text).unwrap_or_default();
                let mut c = compare_job(&ours, &nomad);
                c.problems
                    .iter_mut()
                    .for_each(|p| *p = format!("{name} ({parser}): {p}"));
                compared.merge(c);
            }
        }
        let problems = validate::validate_file(&file);
        let verdict_ok = match expected {
            Nomad::Accepts => problems.is_empty(),
            Nomad::Refuses => !problems.is_empty(),
            Nomad::AcceptsComputed => {
                problems.len() == 1 && problems[0].contains("nomad job run -output")
            }
        };
        if !verdict_ok {
            mismatches.push(format!(
                "{name}: Nomad {expected:?}, our validate: {problems:?}"
            ));
        }
    }
    println!(
        "verdict table: {} cases × {} parsers; {} values compared where both accept",
        cases.len(),
        PARSERS.len(),
        compared.fields
    );
    mismatches.extend(compared.problems);
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

/// The comparison itself: A/A (a job against itself) finds nothing; the old `tmpfs_options`
/// object, a value only we set, and a pointer value only Nomad set are each found; Go's zero
/// value of a plain field and jobspec2's template defaults are not differences.
#[test]
fn comparison_finds_what_differs() {
    let ours = serde_json::json!({"ID": "a", "TaskGroups": [{"Name": "g", "Tasks": [{
        "Name": "t", "Driver": "docker",
        "Config": {"mount": [{"type": "tmpfs", "tmpfs_options": {"size": 1}}]},
        "Templates": [{"DestPath": "local/x", "EmbeddedTmpl": "x"}]
    }]}]});
    assert!(compare_job(&ours, &ours).problems.is_empty());

    let mut nomad = ours.clone();
    let task = &mut nomad["TaskGroups"][0]["Tasks"][0];
    task["Config"]["mount"][0]["tmpfs_options"] = serde_json::json!([{"size": 1}]);
    task["User"] = "".into(); // plain string: Go prints "" when unset
    task["Templates"][0]["Splay"] = 5_000_000_000_i64.into(); // normalizeTemplates
    let c = compare_job(&ours, &nomad);
    assert_eq!(c.problems.len(), 1, "{:?}", c.problems);
    assert!(c.problems[0].contains("tmpfs_options"));
    assert_eq!(c.nomad_only.values().sum::<usize>(), 2);

    let mut nomad = ours.clone();
    nomad["TaskGroups"][0]["Count"] = 0.into(); // *int: 0 is a value, not "unset"
    nomad["TaskGroups"][0]["Tasks"][0]["Templates"][0]["Splay"] = 1.into();
    let c = compare_job(&ours, &nomad);
    assert_eq!(c.problems.len(), 2, "{:?}", c.problems);

    let mut ours_more = ours.clone();
    ours_more["Priority"] = 70.into();
    assert_eq!(compare_job(&ours_more, &ours).problems.len(), 1);
}
