//! Reading inputs: files, directories, stdin; splitting multi-document YAML (and JSON, which is
//! YAML) into documents that remember their file and line; and sorting them into Knative
//! Services, ConfigMaps/Secrets (kept for resolution, see `resources.rs`) and everything else
//! (reported or skipped).
//!
//! Input documents are parsed here (serde_yaml); serde_yaml also types the Service model,
//! reads the settings file and writes cluster import's manifests.

use crate::files::{self, ReadError};
use crate::findings::{Finding, Location};
use crate::knative::documents::{DocumentChunk, document_chunks, document_marker};
use crate::knative::locate::{LocationIndex, child_index};
use crate::knative::nesting::{self, MAX_NESTING};
use crate::knative::redact;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Inputs larger than this are refused: a Knative manifest is kilobytes, and an unbounded read
/// of a wrong path (a disk image, a log) should fail fast instead of exhausting memory.
pub const MAX_INPUT_BYTES: usize = 16 * 1024 * 1024;

/// One input file (or stdin) read into memory.
#[derive(Debug, Clone)]
pub struct Input {
    /// How the input is named in messages and in job meta: the path as given, or `<stdin>`.
    pub name: Arc<str>,
    /// Directory of the input relative to the walked root, used to lay out `-o DIR`.
    pub relative_dir: PathBuf,
    pub text: String,
}

/// One YAML document of an input.
#[derive(Debug, Clone)]
pub struct Document {
    pub file: Arc<str>,
    pub relative_dir: PathBuf,
    /// YAML path of this object within its document (`items[2]` inside a `kind: List`).
    pub base_path: String,
    pub value: serde_yaml::Value,
    pub locations: Arc<LocationIndex>,
    /// The document's own text, re-read only to locate type errors precisely.
    pub text: Arc<str>,
}

impl Document {
    pub fn api_version(&self) -> &str {
        self.value
            .get("apiVersion")
            .and_then(|v| v.as_str())
            .unwrap_or("")
    }
    pub fn kind(&self) -> &str {
        self.value
            .get("kind")
            .and_then(|v| v.as_str())
            .unwrap_or("")
    }
    pub fn name(&self) -> Option<&str> {
        self.value
            .get("metadata")
            .and_then(|m| m.get("name"))
            .and_then(|v| v.as_str())
    }
    pub fn namespace(&self) -> Option<&str> {
        self.value
            .get("metadata")
            .and_then(|m| m.get("namespace"))
            .and_then(|v| v.as_str())
    }

    /// Source location of a path relative to this object.
    pub fn location(&self, path: &str) -> Location {
        let full = join_path(&self.base_path, path);
        let pos = self.locations.position(&full);
        Location {
            file: self.file.clone(),
            line: pos.line,
            column: pos.column,
        }
    }
}

/// Joins an object's base path and a relative path.
pub fn join_path(base: &str, path: &str) -> String {
    match (base.is_empty(), path.is_empty()) {
        (true, _) => path.to_string(),
        (false, true) => base.to_string(),
        (false, false) if path.starts_with('[') => format!("{base}{path}"),
        (false, false) => format!("{base}.{path}"),
    }
}

/// What a document is, for the converter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentKind {
    KnativeService,
    ConfigMap,
    Secret,
    /// A serving.knative.dev kind other than v1 Service, or an unsupported serving apiVersion.
    OtherKnative,
    /// Eventing, sources, flows, messaging: they reference Services but are not converted.
    Eventing,
    /// Core and other Kubernetes kinds: skipped silently.
    Other,
}

pub fn classify(doc: &Document) -> DocumentKind {
    let (api, kind) = (doc.api_version(), doc.kind());
    let group = api.split_once('/').map(|(g, _)| g).unwrap_or("");
    match (api, kind) {
        ("serving.knative.dev/v1", "Service") => DocumentKind::KnativeService,
        ("v1", "ConfigMap") => DocumentKind::ConfigMap,
        ("v1", "Secret") => DocumentKind::Secret,
        _ if group == "serving.knative.dev" => DocumentKind::OtherKnative,
        _ if group.ends_with(".knative.dev") => DocumentKind::Eventing,
        _ => DocumentKind::Other,
    }
}

/// How the input at `path` is named in messages: the path as given, or `<stdin>` for `-`.
pub fn input_name(path: &Path) -> Arc<str> {
    if path.as_os_str() == "-" {
        Arc::from("<stdin>")
    } else {
        Arc::from(path.display().to_string())
    }
}

/// Reads one path given on the command line (a file or `-`) as an input. A symbolic link
/// given explicitly is the user's choice and is followed; a FIFO, socket or device is refused
/// (stdin is the way to pipe an input in). The finding is boxed: a `Result` carries its error
/// by value, and most results here are inputs.
pub fn read_input(path: &Path, relative_dir: PathBuf) -> Result<Input, Box<Finding>> {
    read_input_path(&InputPath {
        path: path.to_path_buf(),
        read_from: path.to_path_buf(),
        relative_dir,
        follow_symlink: true,
    })
}

/// Reads one input found by [`expand_paths`] (or given explicitly).
pub fn read_input_path(input: &InputPath) -> Result<Input, Box<Finding>> {
    let path = &input.path;
    let is_stdin = path.as_os_str() == "-";
    let name = input_name(path);
    let location = Location {
        file: name.clone(),
        line: 0,
        column: 0,
    };
    let limit = MAX_INPUT_BYTES as u64;
    let read = if is_stdin {
        files::read_capped(std::io::stdin(), limit)
    } else {
        files::read_regular(&input.read_from, input.follow_symlink, limit)
    };
    let bytes = match read {
        Ok(bytes) => bytes,
        Err(ReadError::TooLarge) => return Err(Box::new(too_large(location))),
        Err(ReadError::NotRegular(what)) => {
            return Err(Box::new(Finding::new(
                "K2N060",
                location,
                "",
                format!(
                    "input is {what}, not a regular file; refused (pipe the content in with `-` instead)"
                ),
            )));
        }
        Err(ReadError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Box::new(Finding::new(
                "K2N110",
                location,
                "",
                "input does not exist",
            )));
        }
        Err(e @ (ReadError::Symlink | ReadError::Io(_))) => {
            return Err(Box::new(Finding::new(
                "K2N110",
                location,
                "",
                format!("cannot read input: {e}"),
            )));
        }
    };
    let text = String::from_utf8(bytes).map_err(|e| {
        Box::new(Finding::new(
            "K2N110",
            location.clone(),
            "",
            format!(
                "input is not UTF-8 text (invalid byte at offset {}); is this a binary file?",
                e.utf8_error().valid_up_to()
            ),
        ))
    })?;
    if text.contains('\0') {
        return Err(Box::new(Finding::new(
            "K2N110",
            location,
            "",
            "input contains NUL bytes; is this a binary file?",
        )));
    }
    Ok(Input {
        name,
        relative_dir: input.relative_dir.clone(),
        text: strip_document_boms(text),
    })
}

/// Removes UTF-8 byte order marks where YAML allows one: at the start of every document of the
/// stream (editors on Windows write one; `cat` of such files puts one after a `---`). The
/// parser would take it for content, and columns would be off by one on that line.
fn strip_document_boms(text: String) -> String {
    const BOM: char = '\u{feff}';
    if !text.contains(BOM) {
        return text;
    }
    let mut out = String::with_capacity(text.len());
    let mut document_start = true;
    for line in text.split_inclusive('\n') {
        let bare = line.strip_prefix(BOM).unwrap_or(line);
        let marker = document_marker(bare.trim_end_matches(['\n', '\r'])).is_some();
        out.push_str(if document_start || marker { bare } else { line });
        document_start = marker;
    }
    out
}

fn too_large(location: Location) -> Finding {
    Finding::new(
        "K2N006",
        location,
        "",
        format!(
            "input is larger than {} MiB; split it into smaller files",
            MAX_INPUT_BYTES / (1024 * 1024)
        ),
    )
}

/// Splits an input into its documents. A document that does not parse yields a finding; the
/// other documents of the same file are still returned.
pub fn split_documents(input: &Input) -> (Vec<Document>, Vec<Finding>) {
    split_documents_where(input, |_| true)
}

/// [`split_documents`], parsing only the documents whose text `wanted` accepts: a cheap text
/// test spares the YAML parse of documents a pass does not need.
pub fn split_documents_where(
    input: &Input,
    wanted: impl Fn(&str) -> bool,
) -> (Vec<Document>, Vec<Finding>) {
    let mut documents = Vec::new();
    let mut errors = Vec::new();
    for chunk in document_chunks(&input.text) {
        if chunk.text.trim().is_empty() || !wanted(chunk.text) {
            continue;
        }
        // Before any parser: libyaml's time is quadratic in nesting depth.
        if let Some((line, column)) = nesting::too_deep(chunk.text) {
            errors.push(Finding::new(
                "K2N006",
                Location {
                    file: input.name.clone(),
                    line: chunk.first_line + line - 1,
                    column,
                },
                "",
                format!(
                    "input refused: YAML nested more than {MAX_NESTING} levels deep here (Kubernetes objects nest about 30 deep)"
                ),
            ));
            continue;
        }
        let value: serde_yaml::Value = match serde_yaml::from_str(chunk.text) {
            Ok(v) => v,
            Err(e) => {
                let (line, column) = e
                    .location()
                    .map(|l| (chunk.first_line + l.line() - 1, l.column()))
                    .unwrap_or((chunk.first_line, 1));
                let full = e.to_string();
                let opened = opened_at(&full, chunk.first_line);
                let message = strip_location(&full);
                // serde_yaml points at the mapping; point at the repeated key instead.
                let (line, column) =
                    duplicate_key_position(&message, chunk.text, chunk.first_line, line)
                        .unwrap_or((line, column));
                let message = redact_quoted_key(message, &chunk, line, column);
                // Alias expansion and nesting limits protect memory and stack; say so plainly.
                let (code, message) = if message.contains("repetition limit")
                    || message.contains("recursion limit")
                {
                    (
                        "K2N006",
                        format!(
                            "input refused: {message} (YAML aliases expand too much, or nesting is too deep)"
                        ),
                    )
                } else {
                    ("K2N001", syntax_error_message(&message, opened.as_ref()))
                };
                let mut finding = Finding::new(
                    code,
                    Location {
                        file: input.name.clone(),
                        line,
                        column,
                    },
                    "",
                    message,
                );
                if let Some(opened) = opened {
                    finding = finding.with_related(
                        Location {
                            file: input.name.clone(),
                            line: opened.line,
                            column: opened.column,
                        },
                        format!("{} starts here", opened.what),
                    );
                }
                errors.push(finding);
                continue;
            }
        };
        if value.is_null() {
            continue; // comment-only or empty document
        }
        let mut value = value;
        yaml11_octal_modes(&mut value);
        let locations = Arc::new(LocationIndex::build(chunk.text, chunk.first_line));
        let doc_text: Arc<str> = Arc::from(chunk.text);
        let start = locations.start();
        if !value.is_mapping() {
            errors.push(Finding::new(
                "K2N002",
                Location {
                    file: input.name.clone(),
                    line: start.line,
                    column: start.column,
                },
                "",
                "document is not a mapping (expected a Kubernetes object with apiVersion and kind)",
            ));
            continue;
        }
        let is_list = value.get("kind").and_then(|k| k.as_str()) == Some("List")
            || value
                .get("kind")
                .and_then(|k| k.as_str())
                .is_some_and(|k| k.ends_with("List") && value.get("items").is_some());
        if is_list {
            if let Some(items) = value.get("items").and_then(|i| i.as_sequence()) {
                for (i, item) in items.iter().enumerate() {
                    documents.push(Document {
                        file: input.name.clone(),
                        relative_dir: input.relative_dir.clone(),
                        base_path: child_index("items", i),
                        value: item.clone(),
                        locations: locations.clone(),
                        text: doc_text.clone(),
                    });
                }
            }
            continue;
        }
        documents.push(Document {
            file: input.name.clone(),
            relative_dir: input.relative_dir.clone(),
            base_path: String::new(),
            value,
            locations,
            text: doc_text,
        });
    }
    (documents, errors)
}

/// serde_yaml's duplicate-key message quotes the key; a key inside a Secret's value (a value
/// that is itself a mapping) is part of that value, so it is not quoted then.
fn redact_quoted_key(
    message: String,
    chunk: &DocumentChunk<'_>,
    line: usize,
    column: usize,
) -> String {
    let Some(prefix_end) = message.find("duplicate entry ") else {
        return message;
    };
    let offset = chunk
        .text
        .split_inclusive('\n')
        .take(line.saturating_sub(chunk.first_line))
        .map(str::len)
        .sum::<usize>()
        + column.saturating_sub(1);
    if !redact::is_redacted(&redact::secret_spans(chunk.text), offset) {
        return message;
    }
    format!(
        "{}duplicate entry with key {}",
        &message[..prefix_end],
        redact::PLACEHOLDER
    )
}

/// For "duplicate entry with key \"k\"" errors: the second `k:` at the first one's indentation,
/// at or after `from_line`.
fn duplicate_key_position(
    message: &str,
    text: &str,
    first_line: usize,
    from_line: usize,
) -> Option<(usize, usize)> {
    let key = message
        .split("duplicate entry with key \"")
        .nth(1)?
        .split('"')
        .next()?;
    let prefix = format!("{key}:");
    let mut indent = None;
    for (i, l) in text.lines().enumerate() {
        let line_no = first_line + i;
        if line_no < from_line {
            continue;
        }
        let trimmed = l.trim_start();
        if !trimmed.starts_with(&prefix) {
            continue;
        }
        let col = l.len() - trimmed.len();
        match indent {
            None => indent = Some(col),
            Some(c) if c == col => return Some((line_no, col + 1)),
            Some(_) => {}
        }
    }
    None
}

/// Kubernetes reads YAML 1.1, where `defaultMode: 0400` is octal 256; serde_yaml reads YAML
/// 1.2, where it is the string "0400". File modes are the one place manifests rely on this.
fn yaml11_octal_modes(value: &mut serde_yaml::Value) {
    match value {
        serde_yaml::Value::Mapping(map) => {
            for (k, v) in map.iter_mut() {
                let is_mode = matches!(k.as_str(), Some("mode" | "defaultMode"));
                if is_mode
                    && let Some(s) = v.as_str()
                    && s.len() > 1
                    && s.starts_with('0')
                    && let Ok(n) = i64::from_str_radix(&s[1..], 8)
                {
                    *v = serde_yaml::Value::Number(n.into());
                } else {
                    yaml11_octal_modes(v);
                }
            }
        }
        serde_yaml::Value::Sequence(items) => items.iter_mut().for_each(yaml11_octal_modes),
        _ => {}
    }
}

/// Where the construct the parser was inside when it failed opened (libyaml's context mark:
/// "…, while scanning a quoted scalar at line 9 column 16"), as a line of the file.
struct Opened {
    /// "the quoted scalar", "the flow sequence", …
    what: String,
    line: usize,
    column: usize,
}

fn opened_at(message: &str, first_line: usize) -> Option<Opened> {
    let (_, context) = message.rsplit_once(", while ")?;
    let (doing, mark) = context.rsplit_once(" at line ")?;
    let (line, column) = mark.split_once(" column ")?;
    let (line, column): (usize, usize) = (line.parse().ok()?, column.trim().parse().ok()?);
    // "scanning a quoted scalar" / "parsing a block mapping" → "the quoted scalar" …
    let thing = doing.split_once(' ').map_or(doing, |(_, thing)| thing);
    let thing = thing
        .strip_prefix("a ")
        .or_else(|| thing.strip_prefix("an "))
        .unwrap_or(thing);
    Some(Opened {
        what: format!("the {thing}"),
        line: first_line + line - 1,
        column,
    })
}

/// The message of a syntax error. An end of input inside a quoted string is said as what it
/// is, an unclosed quote, with the line it opened on: the end of the file alone does not say
/// which quote is open.
fn syntax_error_message(message: &str, opened: Option<&Opened>) -> String {
    match opened {
        Some(o) if message.starts_with("found unexpected end of stream") => {
            let problem = message.split(", while ").next().unwrap_or(message);
            format!(
                "YAML syntax error: {} opened at line {} column {} is never closed ({problem})",
                o.what, o.line, o.column
            )
        }
        Some(o) => {
            let problem = message.split(", while ").next().unwrap_or(message);
            format!(
                "YAML syntax error: {problem}, inside {} that starts at line {} column {}",
                o.what, o.line, o.column
            )
        }
        None => format!("YAML syntax error: {message}"),
    }
}

/// serde_yaml writes " at line L column C" after the problem (and after the context it was in);
/// those lines count from the document, not the file, and the location is reported separately.
pub(crate) fn strip_location(message: &str) -> String {
    const AT: &str = " at line ";
    let digits = |s: &str| s.len() - s.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(i) = rest.find(AT) {
        let after = &rest[i + AT.len()..];
        let line_digits = digits(after);
        let column = after[line_digits..].strip_prefix(" column ");
        match column.map(|c| (c, digits(c))) {
            Some((c, n)) if line_digits > 0 && n > 0 => {
                out.push_str(&rest[..i]);
                rest = &c[n..];
            }
            _ => {
                out.push_str(&rest[..i + AT.len()]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// One input to read: where it is named from, where its bytes are read from, and how.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct InputPath {
    /// The path as given or found by the walk; names the input in messages and job meta.
    pub path: PathBuf,
    /// The file read: `path` itself, or the target of a symbolic link that stays in the tree.
    pub read_from: PathBuf,
    /// Directory of the input relative to the walked root, used to lay out `-o DIR`.
    pub relative_dir: PathBuf,
    /// Whether a symbolic link as the last component of `read_from` is followed (only for
    /// paths given explicitly: a link planted after the walk is not).
    pub follow_symlink: bool,
}

/// What [`expand_paths`] found: the inputs, and what it skipped on the way (findings).
#[derive(Debug, Default)]
pub struct ExpandedPaths {
    pub inputs: Vec<InputPath>,
    pub skipped: Vec<Finding>,
}

/// Walks the given paths: files as given, directories recursively for `*.yaml`, `*.yml` and
/// `*.json`, skipping hidden entries and what a `.k2nignore` file in the root lists. Results are
/// sorted so that a batch is processed (and reported) in a stable order.
///
/// A walk reads only regular files inside the tree: a symbolic link is followed when its target
/// is a file inside the walked directory (and read through its target), never when it leads
/// outside (or nowhere); FIFOs, sockets and devices are skipped. Each skip is a K2N061 finding.
/// Symbolic links to directories are not walked (their content is walked where it really is,
/// when it is inside the tree).
pub fn expand_paths(paths: &[PathBuf]) -> Result<ExpandedPaths, Box<Finding>> {
    let mut out = ExpandedPaths::default();
    for path in paths {
        if path.as_os_str() == "-" || !path.is_dir() {
            out.inputs.push(InputPath {
                path: path.clone(),
                read_from: path.clone(),
                relative_dir: PathBuf::new(),
                follow_symlink: true,
            });
            continue;
        }
        let cannot_read = |e: std::io::Error| {
            Box::new(Finding::new(
                "K2N110",
                Location {
                    file: Arc::from(path.display().to_string()),
                    line: 0,
                    column: 0,
                },
                "",
                format!("cannot read directory: {e}"),
            ))
        };
        let ignore = IgnoreList::read(path).map_err(|why| {
            Box::new(Finding::new(
                "K2N110",
                Location {
                    file: Arc::from(path.join(IGNORE_FILE).display().to_string()),
                    line: 0,
                    column: 0,
                },
                "",
                format!("cannot read {IGNORE_FILE}: {why}; the directory is not converted"),
            ))
        })?;
        let tree = Tree {
            root: path,
            canonical_root: std::fs::canonicalize(path).map_err(cannot_read)?,
            ignore,
        };
        let mut found = ExpandedPaths::default();
        tree.walk(path, &mut found).map_err(cannot_read)?;
        found.inputs.sort();
        out.inputs.extend(found.inputs);
        out.skipped.extend(found.skipped);
    }
    Ok(out)
}

/// A directory being walked.
struct Tree<'a> {
    root: &'a Path,
    canonical_root: PathBuf,
    ignore: IgnoreList,
}

impl Tree<'_> {
    fn walk(&self, dir: &Path, out: &mut ExpandedPaths) -> std::io::Result<()> {
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') {
                continue;
            }
            let relative = path.strip_prefix(self.root).unwrap_or(&path).to_path_buf();
            if self.ignore.matches(&relative) {
                continue;
            }
            let file_type = entry.file_type()?;
            if file_type.is_dir() {
                self.walk(&path, out)?;
                continue;
            }
            if !matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("yaml" | "yml" | "json")
            ) {
                continue;
            }
            let relative_dir = relative.parent().map(Path::to_path_buf).unwrap_or_default();
            let read_from = if file_type.is_symlink() {
                match self.link_target(&path) {
                    Ok(target) => target,
                    Err(why) => {
                        out.skipped.push(skipped(&path, &why));
                        continue;
                    }
                }
            } else if file_type.is_file() {
                path.clone()
            } else {
                let why = format!("is {}, not a regular file", files::describe(file_type));
                out.skipped.push(skipped(&path, &why));
                continue;
            };
            out.inputs.push(InputPath {
                path,
                read_from,
                relative_dir,
                follow_symlink: false,
            });
        }
        Ok(())
    }

    /// The target of a symbolic link when it is a regular file inside the tree; otherwise why
    /// it is not read.
    fn link_target(&self, link: &Path) -> Result<PathBuf, String> {
        let Ok(target) = std::fs::canonicalize(link) else {
            return Err("is a symbolic link to nothing".to_string());
        };
        if !target.starts_with(&self.canonical_root) {
            return Err("is a symbolic link that leads outside the input tree".to_string());
        }
        match std::fs::symlink_metadata(&target) {
            Ok(meta) if meta.is_file() => Ok(target),
            Ok(meta) => Err(format!(
                "is a symbolic link to {}, not a regular file",
                files::describe(meta.file_type())
            )),
            Err(e) => Err(format!("is a symbolic link that cannot be read ({e})")),
        }
    }
}

fn skipped(path: &Path, why: &str) -> Finding {
    Finding::new(
        "K2N061",
        Location {
            file: Arc::from(path.display().to_string()),
            line: 0,
            column: 0,
        },
        "",
        format!("{} {why}; not read", path.display()),
    )
}

/// `.k2nignore`: one pattern a line (`#` comments); a pattern matches a relative path or any of
/// its leading directories; `*` matches within one path segment.
#[derive(Debug, Default)]
struct IgnoreList {
    patterns: Vec<String>,
}

/// The ignore list's name, in the root of a directory input.
const IGNORE_FILE: &str = ".k2nignore";

impl IgnoreList {
    /// The root's ignore list; empty when there is none. Read like any input (a regular file,
    /// not through a link, capped): a FIFO there would block the walk and a link could lead out
    /// of the tree. Unreadable is an error, not an empty list, since converting what the user
    /// meant to exclude is worse than converting nothing.
    fn read(root: &Path) -> Result<IgnoreList, String> {
        let bytes = match files::read_regular(&root.join(IGNORE_FILE), false, 1024 * 1024) {
            Ok(bytes) => bytes,
            Err(files::ReadError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(IgnoreList::default());
            }
            Err(e) => return Err(e.to_string()),
        };
        let text = String::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_string())?;
        Ok(IgnoreList {
            patterns: text
                .lines()
                .map(|l| l.trim().trim_matches('/').to_string())
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .collect(),
        })
    }

    fn matches(&self, relative: &Path) -> bool {
        let rel = relative.to_string_lossy().replace('\\', "/");
        self.patterns.iter().any(|p| {
            let segments: Vec<&str> = rel.split('/').collect();
            (1..=segments.len()).any(|n| glob_match(p, &segments[..n].join("/")))
                || (!p.contains('/') && segments.iter().any(|s| glob_match(p, s)))
        })
    }
}

fn glob_match(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((prefix, rest)) => {
            let Some(tail) = text.strip_prefix(prefix) else {
                return false;
            };
            (0..=tail.len())
                .filter(|i| tail.is_char_boundary(*i))
                .any(|i| !tail[..i].contains('/') && glob_match(rest, &tail[i..]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(text: &str) -> Input {
        Input {
            name: Arc::from("t.yaml"),
            relative_dir: PathBuf::new(),
            text: text.to_string(),
        }
    }

    #[test]
    fn splits_documents_with_lines() {
        let (docs, errs) = split_documents(&input(
            "# only a comment\n---\napiVersion: v1\nkind: ConfigMap\n---\n# c\n---\napiVersion: x/v1\nkind: Y\n...\n",
        ));
        assert!(errs.is_empty());
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].location("kind").line, 4);
        assert_eq!(docs[1].location("kind").line, 9);
    }

    #[test]
    fn syntax_error_keeps_other_documents() {
        let (docs, errs) = split_documents(&input("a: [1, 2\n---\nkind: X\n"));
        assert_eq!(docs.len(), 1);
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].code, "K2N001");
        assert_eq!(errs[0].location.line, 2);
    }

    #[test]
    fn an_unclosed_quote_names_where_it_opened() {
        let text = "apiVersion: v1\nkind: ConfigMap\n---\napiVersion: serving.knative.dev/v1\nkind: Service\nspec:\n  template:\n    spec:\n      containers:\n      - image: \"ghcr.io/x\n        name: a\n";
        let (_, errs) = split_documents(&input(text));
        assert_eq!(errs.len(), 1);
        let e = &errs[0];
        assert_eq!(e.code, "K2N001");
        // Lines count from the file, in the message as in the locations.
        assert_eq!(
            e.message,
            "YAML syntax error: the quoted scalar opened at line 10 column 16 is never closed (found unexpected end of stream)"
        );
        assert_eq!((e.location.line, e.location.column), (12, 1));
        let related = e.related.as_deref().expect("where the quote opened");
        assert_eq!((related.location.line, related.location.column), (10, 16));
        assert_eq!(related.label, "the quoted scalar starts here");
    }

    #[test]
    fn locations_inside_messages_are_removed_and_other_text_kept() {
        assert_eq!(
            strip_location(
                "did not find expected key at line 4 column 3, while parsing a block mapping at line 2 column 1"
            ),
            "did not find expected key, while parsing a block mapping"
        );
        assert_eq!(
            strip_location(
                "a: invalid type: string \"at line x\", expected u32 at line 3 column 9"
            ),
            "a: invalid type: string \"at line x\", expected u32"
        );
    }

    #[test]
    fn byte_order_marks_are_accepted_at_every_document_start() {
        let bom = '\u{feff}';
        let text = format!(
            "{bom}apiVersion: v1\nkind: ConfigMap\n---\n{bom}apiVersion: v1\nkind: Secret\n{bom}---\napiVersion: x/v1\nkind: Y\n"
        );
        let stripped = strip_document_boms(text);
        assert!(!stripped.contains(bom));
        let (docs, errs) = split_documents(&input(&stripped));
        assert!(errs.is_empty(), "{errs:?}");
        let kinds: Vec<&str> = docs.iter().map(|d| d.kind()).collect();
        assert_eq!(kinds, ["ConfigMap", "Secret", "Y"]);
        assert_eq!(docs[1].location("kind").column, 1);
        // Inside a document a BOM is content, as YAML says: it stays.
        let inside = format!("a: 1\n{bom}b: 2\n");
        assert_eq!(strip_document_boms(inside.clone()), inside);
    }

    #[test]
    fn a_missing_file_has_its_own_code() {
        let dir = tempfile::tempdir().unwrap();
        let err = read_input(&dir.path().join("missing.yaml"), PathBuf::new()).unwrap_err();
        assert_eq!(err.code, "K2N110");
        assert_eq!(err.message, "input does not exist");
        assert!(!err.hint.contains("YAML syntax"));
    }

    #[test]
    fn ignore_patterns() {
        let ignore = IgnoreList {
            patterns: vec!["vendor".into(), "*.tmp.yaml".into(), "a/b".into()],
        };
        assert!(ignore.matches(Path::new("vendor/x.yaml")));
        assert!(ignore.matches(Path::new("x/y.tmp.yaml")));
        assert!(ignore.matches(Path::new("a/b/c.yaml")));
        assert!(!ignore.matches(Path::new("a/c.yaml")));
    }
}
