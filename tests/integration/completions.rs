//! `knative2nomad completions SHELL` and `knative2nomad man [SUBCOMMAND]`: the scripts and pages
//! are valid for the programs that read them (bash, man) and cover every subcommand.

use assert_cmd::Command;
use knative2nomad::cli::subcommand_names;
use std::path::Path;

fn stdout_of(args: &[&str]) -> String {
    let output = Command::cargo_bin("knative2nomad")
        .unwrap()
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Whether `program` can be run (a shell or man may be missing on a user's machine).
fn available(program: &str) -> bool {
    std::process::Command::new(program)
        .arg("--version")
        .output()
        .is_ok()
}

#[test]
fn the_subcommand_list_is_the_one_users_see() {
    let names = subcommand_names();
    for expected in [
        "convert",
        "check",
        "validate",
        "explain",
        "deploy",
        "verify",
        "completions",
        "man",
        "platform",
    ] {
        assert!(names.iter().any(|n| n == expected), "{names:?}");
    }
}

#[test]
fn every_shell_gets_a_script_naming_every_subcommand() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let script = stdout_of(&["completions", shell]);
        for name in subcommand_names() {
            assert!(
                script.contains(&name),
                "{shell} script does not mention {name}"
            );
        }
    }
}

#[test]
fn the_bash_script_is_valid_bash_and_completes() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("knative2nomad.bash");
    std::fs::write(&script, stdout_of(&["completions", "bash"])).unwrap();
    let syntax = std::process::Command::new("bash")
        .arg("-n")
        .arg(&script)
        .output()
        .expect("bash runs");
    assert!(
        syntax.status.success(),
        "bash -n: {}",
        String::from_utf8_lossy(&syntax.stderr)
    );
    // Loaded as a user's shell loads it, the function completes a subcommand and a flag.
    let complete = |words: &str| -> String {
        let probe = format!(
            "source {}; COMP_WORDS=({words}); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)); \
             COMP_LINE=\"{words}\"; COMP_POINT=${{#COMP_LINE}}; \
             _knative2nomad knative2nomad \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"; \
             echo \"${{COMPREPLY[@]}}\"",
            script.display()
        );
        let out = std::process::Command::new("bash")
            .args(["-c", &probe])
            .output()
            .expect("bash runs");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    assert_eq!(complete("knative2nomad con"), "convert");
    assert_eq!(complete("knative2nomad convert --str"), "--strict");
}

#[test]
fn the_zsh_and_fish_scripts_parse_where_those_shells_exist() {
    for (shell, check) in [("zsh", "-n"), ("fish", "--no-execute")] {
        if !available(shell) {
            println!("skipped: {shell} is not installed");
            continue;
        }
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join(format!("knative2nomad.{shell}"));
        std::fs::write(&script, stdout_of(&["completions", shell])).unwrap();
        let out = std::process::Command::new(shell)
            .arg(check)
            .arg(&script)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{shell}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The roff structure man reads: a title line, the sections, every subcommand's page named.
#[test]
fn the_man_page_is_roff_listing_every_subcommand() {
    let page = stdout_of(&["man"]);
    assert!(
        page.starts_with(".ie \\n(.g .ds Aq \\(aq"),
        "{}",
        &page[..80]
    );
    assert!(
        page.contains(&format!(
            "\n.TH knative2nomad 1  \"knative2nomad {}\"",
            env!("CARGO_PKG_VERSION")
        )),
        "{page}"
    );
    for section in ["NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "SUBCOMMANDS"] {
        assert!(page.contains(&format!("\n.SH {section}\n")), "no {section}");
    }
    for name in subcommand_names() {
        assert!(
            page.contains(&format!("knative2nomad\\-{name}(1)")),
            "the page does not list {name}:\n{page}"
        );
    }
    let convert = stdout_of(&["man", "convert"]);
    assert!(
        convert.contains(&format!(
            "\n.TH knative2nomad-convert 1  \"knative2nomad {}\"",
            env!("CARGO_PKG_VERSION")
        )),
        "{convert}"
    );
    assert!(convert.contains("\\-\\-strict"), "{convert}");

    let unknown = Command::cargo_bin("knative2nomad")
        .unwrap()
        .args(["man", "nope"])
        .output()
        .unwrap();
    assert_eq!(unknown.status.code(), Some(2));
    assert!(unknown.stdout.is_empty());
    assert!(
        String::from_utf8_lossy(&unknown.stderr)
            .starts_with("error: unknown subcommand \"nope\"; the pages are: convert, check,")
    );
}

/// `man -l` renders the pages without a complaint, and the text names every subcommand.
#[test]
fn man_renders_the_pages() {
    if !available("man") {
        println!("skipped: man is not installed (the roff structure is checked above)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let render = |args: &[&str], file: &Path| -> String {
        std::fs::write(file, stdout_of(args)).unwrap();
        let out = std::process::Command::new("man")
            .arg("-l")
            .arg(file)
            .env("MANPAGER", "cat")
            .env("PAGER", "cat")
            .env("MANWIDTH", "100")
            .output()
            .expect("man runs");
        assert!(out.status.success(), "man -l {}", file.display());
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            "",
            "man -l {} complained",
            file.display()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let text = render(&["man"], &dir.path().join("knative2nomad.1"));
    assert!(
        text.contains("NAME") && text.contains("SUBCOMMANDS"),
        "{text}"
    );
    for name in subcommand_names() {
        assert!(
            text.contains(&format!("knative2nomad-{name}(1)")),
            "rendered page lacks {name}:\n{text}"
        );
    }
    let convert = render(
        &["man", "convert"],
        &dir.path().join("knative2nomad-convert.1"),
    );
    assert!(convert.contains("--strict"), "{convert}");
}
