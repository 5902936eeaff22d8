//! Input variables for job files that Nomad parses (`-var name=value`, `-var-file FILE`,
//! `NOMAD_VAR_name`), folded into the one variables-file text that `/v1/jobs/parse` takes, so
//! that the server reads a job file with the values `nomad job run` would have given it.
//!
//! The rules are jobspec2's (hashicorp/nomad jobspec2/types.variables.go,
//! `collectInputVariableValues` and `expressionFromVariableDefinition`): the environment first,
//! then the variable files in order, then `-var` in order, the last one winning; a `-var` or
//! environment value is a plain string for a variable whose type is `string`, `number` or
//! unknown (no `type`, no default), and an HCL expression for any other type (its `type`, or
//! its default's type); a variables file holds literal values only; an environment variable
//! for an undeclared name is ignored, a `-var` or a file entry for one is an error (as
//! `nomad job run`'s default `-hcl2-strict` makes it).
//!
//! What it is not: an HCL evaluator. It reads declarations with hcl-rs only to know each
//! variable's type; the server does every evaluation.

use anyhow::{Context, Result, bail};
use hcl::expr::Expression;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The variable values given to `deploy`/`validate`, resolved by `cli` from flags and the
/// environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobVariables {
    /// `-var name=value`, in the order given.
    pub args: Vec<(String, String)>,
    /// `-var-file` paths, in the order given.
    pub files: Vec<PathBuf>,
    /// `NOMAD_VAR_name=value` from the environment (prefix removed).
    pub env: Vec<(String, String)>,
}

/// How a declared variable reads a `-var` or environment text (jobspec2's
/// `expressionFromVariableDefinition`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextAs {
    /// `string`, `number` or no type: the text is the value, as a string.
    Literal,
    /// Any other type (`bool`, `list(...)`, `map(...)`, `any`, ...): the text is an expression.
    Expression,
}

/// Declared variables of one job file: name → how its text values are read.
pub type Declared = BTreeMap<String, TextAs>;

/// Where a value came from, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Origin {
    Environment,
    File(PathBuf),
    Argument,
}

/// One variable's winning value.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Assigned {
    /// From `-var` or the environment: read as its declaration says.
    Text(String, Origin),
    /// From a variables file: an HCL expression, already formatted.
    Expression(String, Origin),
}

/// Every variable's winning value, after the precedence rules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Values {
    values: BTreeMap<String, Assigned>,
}

impl Values {
    /// Reads the variables files and applies precedence: environment, files, `-var`.
    pub fn collect(variables: &JobVariables) -> Result<Values> {
        let mut values = BTreeMap::new();
        for (name, value) in &variables.env {
            values.insert(
                name.clone(),
                Assigned::Text(value.clone(), Origin::Environment),
            );
        }
        for path in &variables.files {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading variables file {}", path.display()))?;
            for (name, expression) in read_variables_file(&text)
                .with_context(|| format!("variables file {}", path.display()))?
            {
                values.insert(
                    name,
                    Assigned::Expression(expression, Origin::File(path.clone())),
                );
            }
        }
        for (name, value) in &variables.args {
            values.insert(
                name.clone(),
                Assigned::Text(value.clone(), Origin::Argument),
            );
        }
        Ok(Values { values })
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The variables-file text for a job file that declares `declared` (`None`: its
    /// declarations could not be read here, so every value goes, text values as strings).
    /// Values for variables it does not declare are left out.
    pub fn content_for(&self, declared: Option<&Declared>) -> String {
        let mut content = String::new();
        for (name, assigned) in &self.values {
            let text_as = match declared {
                Some(declared) => match declared.get(name) {
                    Some(text_as) => *text_as,
                    None => continue,
                },
                None => TextAs::Literal,
            };
            let expression = match (assigned, text_as) {
                (Assigned::Text(text, _), TextAs::Literal) => quoted(text),
                (Assigned::Text(text, _), TextAs::Expression)
                | (Assigned::Expression(text, _), _) => text.clone(),
            };
            content.push_str(&format!("{name} = {expression}\n"));
        }
        content
    }

    /// Values from `-var` or a variables file whose variable no job file declares: the errors
    /// `nomad job run` gives for them (`Undefined -var variable`, `Undefined variable`). The
    /// environment's are ignored, as jobspec2 ignores them.
    pub fn undeclared<'a>(&self, declared: impl IntoIterator<Item = &'a Declared>) -> Vec<String> {
        let declared: Vec<&Declared> = declared.into_iter().collect();
        self.values
            .iter()
            .filter(|(name, _)| !declared.iter().any(|d| d.contains_key(*name)))
            .filter_map(|(name, assigned)| match assigned {
                Assigned::Text(_, Origin::Argument) => Some(format!(
                    "-var {name}: no job file sent to Nomad declares a variable \"{name}\" (add a \
                     `variable \"{name}\" {{}}` block to the job file)"
                )),
                Assigned::Expression(_, Origin::File(path)) => Some(format!(
                    "{}: \"{name}\" is set, but no job file sent to Nomad declares a variable \
                     \"{name}\"",
                    path.display()
                )),
                _ => None,
            })
            .collect()
    }
}

/// `text` as an HCL string literal: quotes, backslashes and control characters escaped, and
/// `${` / `%{` doubled so that the server reads no template in it.
fn quoted(text: &str) -> String {
    hcl::format::to_string(&Expression::String(text.to_string()))
        .unwrap_or_else(|_| format!("{text:?}"))
}

/// The `name = expression` entries of a variables file: HCL, or JSON when its first non-space
/// character is `{` (jobspec2's `isJSON`).
fn read_variables_file(text: &str) -> Result<Vec<(String, String)>> {
    if text.trim_start_matches(' ').starts_with('{') {
        let object: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(text).context("not a JSON object of variable values")?;
        return object
            .into_iter()
            .map(|(name, value)| {
                let expression = hcl::to_expression(value)?;
                Ok((name, hcl::format::to_string(&expression)?))
            })
            .collect();
    }
    let body: hcl::Body = hcl::parse(text).map_err(|e| anyhow::anyhow!("HCL syntax: {e}"))?;
    if let Some(block) = body.blocks().next() {
        bail!(
            "a variables file assigns values (`name = value`); it cannot hold a `{}` block \
             (declare variables in the job file)",
            block.identifier()
        );
    }
    body.attributes()
        .map(|attribute| {
            Ok((
                attribute.key().to_string(),
                hcl::format::to_string(attribute.expr())?,
            ))
        })
        .collect()
}

/// The variables a job file declares, with how each reads a text value; `None` when hcl-rs
/// cannot read the file (the server will say why, or read it anyway).
pub fn declared_variables(job_hcl: &str) -> Option<Declared> {
    let body: hcl::Body = hcl::parse(job_hcl).ok()?;
    let mut declared = Declared::new();
    for block in body.blocks().filter(|b| b.identifier() == "variable") {
        let [label] = block.labels() else {
            continue;
        };
        let name = label.as_str().to_string();
        let attribute = |key: &str| {
            block
                .body()
                .attributes()
                .find(|a| a.key() == key)
                .map(|a| a.expr().clone())
        };
        let text_as = match (attribute("type"), attribute("default")) {
            (Some(Expression::Variable(ty)), _) if matches!(ty.as_str(), "string" | "number") => {
                TextAs::Literal
            }
            (Some(_), _) => TextAs::Expression,
            (None, None) => TextAs::Literal,
            (None, Some(default)) => default_type(&default),
        };
        declared.insert(name, text_as);
    }
    Some(declared)
}

/// How a text value is read for a variable typed by its default alone (jobspec2 takes the
/// default's type): strings and numbers are literal, anything else an expression. A default
/// computed by a function has a type only the server knows; it is taken as a string.
fn default_type(default: &Expression) -> TextAs {
    match default {
        Expression::String(_) | Expression::TemplateExpr(_) | Expression::Number(_) => {
            TextAs::Literal
        }
        Expression::Null
        | Expression::Bool(_)
        | Expression::Array(_)
        | Expression::Object(_)
        | Expression::ForExpr(_) => TextAs::Expression,
        _ => TextAs::Literal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const JOB: &str = r#"
variable "image" { type = string }
variable "port" { default = 8080 }
variable "tags" { type = list(string) }
variable "debug" { default = false }
variable "note" {}
job "web" {}
"#;

    #[test]
    fn declarations_say_how_text_values_are_read() {
        let declared = declared_variables(JOB).unwrap();
        assert_eq!(declared["image"], TextAs::Literal);
        assert_eq!(declared["port"], TextAs::Literal);
        assert_eq!(declared["tags"], TextAs::Expression);
        assert_eq!(declared["debug"], TextAs::Expression);
        assert_eq!(declared["note"], TextAs::Literal);
        assert!(declared_variables("job \"x\" {").is_none());
    }

    #[test]
    fn precedence_quoting_and_filtering() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("prod.hcl");
        std::fs::write(&file, "image = \"from-file\"\nport = 9090\nunused = 1\n").unwrap();
        let variables = JobVariables {
            args: vec![
                ("image".into(), "nginx:${tag} \"q\"".into()),
                ("tags".into(), "[\"a\", \"b\"]".into()),
            ],
            files: vec![file.clone()],
            env: vec![
                ("port".into(), "1".into()),
                ("debug".into(), "true".into()),
                ("elsewhere".into(), "x".into()),
            ],
        };
        let values = Values::collect(&variables).unwrap();
        let declared = declared_variables(JOB).unwrap();
        assert_eq!(
            values.content_for(Some(&declared)),
            "debug = true\nimage = \"nginx:$${tag} \\\"q\\\"\"\nport = 9090\ntags = [\"a\", \"b\"]\n"
        );
        let problems = values.undeclared([&declared]);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("prod.hcl") && problems[0].contains("\"unused\""));
    }

    #[test]
    fn json_variables_files_and_blocks_in_them() {
        let dir = tempfile::tempdir().unwrap();
        let json = dir.path().join("v.json");
        std::fs::write(&json, r#"{"tags": ["a"], "port": 1}"#).unwrap();
        let bad = dir.path().join("bad.hcl");
        std::fs::write(&bad, "variable \"x\" {}\n").unwrap();
        let values = Values::collect(&JobVariables {
            files: vec![json],
            ..JobVariables::default()
        })
        .unwrap();
        assert_eq!(values.content_for(None), "port = 1\ntags = [\n  \"a\"\n]\n");
        let err = Values::collect(&JobVariables {
            files: vec![bad],
            ..JobVariables::default()
        })
        .unwrap_err();
        assert!(format!("{err:#}").contains("cannot hold a `variable` block"));
    }
}
