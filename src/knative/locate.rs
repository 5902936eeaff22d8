//! Maps YAML paths such as `spec.template.spec.containers[0].ports` to the line and column where
//! they appear in the source, so findings can point at the input.
//!
//! serde_yaml gives positions only for errors, so this is a small indentation-based scan of block
//! YAML (what Kubernetes manifests use). It is deliberately forgiving: a path it cannot place (flow
//! collections, exotic layouts) falls back to its nearest placed ancestor, never to an error.

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// FxHash (rustc's hasher): paths are short, trusted and looked up often, so a multiply-rotate
/// hash beats SipHash's flooding protection here several times over.
#[derive(Default)]
struct FxHasher(u64);

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(word)).wrapping_mul(K);
        }
    }
    fn write_u8(&mut self, i: u8) {
        self.write(&[i]);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// 1-based line and column in a source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

/// Positions of the paths of one YAML document.
#[derive(Debug, Clone, Default)]
pub struct LocationIndex {
    positions: HashMap<String, Position, BuildHasherDefault<FxHasher>>,
    start: Position,
}

/// Appends a mapping key to a path: plain keys with `.`, keys holding dots or slashes quoted.
pub fn child_key(path: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    match (path.is_empty(), plain) {
        (true, true) => key.to_string(),
        (false, true) => {
            let mut out = String::with_capacity(path.len() + 1 + key.len());
            out.push_str(path);
            out.push('.');
            out.push_str(key);
            out
        }
        (_, false) => format!("{path}[{key:?}]"),
    }
}

/// Appends a sequence index to a path.
pub fn child_index(path: &str, index: usize) -> String {
    format!("{path}[{index}]")
}

#[derive(Debug)]
struct Frame {
    column: usize,
    path: String,
    is_sequence: bool,
    next_index: usize,
}

impl LocationIndex {
    /// Indexes `text`, whose first line is line `first_line` of the file.
    pub fn build(text: &str, first_line: usize) -> LocationIndex {
        let mut index = LocationIndex {
            positions: HashMap::default(),
            start: Position {
                line: first_line,
                column: 1,
            },
        };
        let mut frames: Vec<Frame> = vec![Frame {
            column: 0,
            path: String::new(),
            is_sequence: false,
            next_index: 0,
        }];
        // A key whose value starts on a later line: (path, column of the key).
        let mut pending: Option<(String, usize)> = None;
        // Lines more indented than this belong to a block scalar or a multi-line flow value.
        let mut skip_deeper_than: Option<usize> = None;
        let mut first_content = true;

        for (offset, raw) in text.lines().enumerate() {
            let line_no = first_line + offset;
            let trimmed = raw.trim_start_matches(' ');
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let column = raw.len() - trimmed.len();
            if let Some(limit) = skip_deeper_than {
                if column > limit {
                    continue;
                }
                skip_deeper_than = None;
            }
            if first_content {
                index.start = Position {
                    line: line_no,
                    column: column + 1,
                };
                first_content = false;
                frames[0].column = column;
            }
            let starts_item = trimmed == "-" || trimmed.starts_with("- ");
            if let Some((path, key_column)) = pending.take()
                && (column > key_column || (column == key_column && starts_item))
            {
                frames.push(Frame {
                    column,
                    path,
                    is_sequence: starts_item,
                    next_index: 0,
                });
            }
            while frames.len() > 1
                && frames.last().is_some_and(|f| {
                    f.column > column
                        // A compact sequence (`key:\n- item`, as kubectl writes) sits at its
                        // key's column, so a line there that is no item closes it: the line
                        // is the next key of the mapping that holds the sequence.
                        || (f.is_sequence && f.column == column && !starts_item)
                })
            {
                frames.pop();
            }
            let mut content = trimmed;
            let mut col = column;
            // Each `- ` opens an item; the rest of the line is that item's content.
            loop {
                let is_item = content == "-" || content.starts_with("- ");
                let Some(frame) = frames.last_mut() else {
                    break;
                };
                if !is_item {
                    break;
                }
                if !frame.is_sequence || frame.column != col {
                    // An item deeper than the current sequence: a nested sequence.
                    let path = frame.path.clone();
                    frames.push(Frame {
                        column: col,
                        path,
                        is_sequence: true,
                        next_index: 0,
                    });
                }
                let Some(frame) = frames.last_mut() else {
                    break;
                };
                let item_path = child_index(&frame.path, frame.next_index);
                frame.next_index += 1;
                index.record(item_path.clone(), line_no, col);
                let rest = content[1..].trim_start_matches(' ');
                let rest_col = col + (content.len() - rest.len());
                if rest.is_empty() {
                    pending = Some((item_path, col));
                    content = rest;
                    break;
                }
                if rest.starts_with("- ") || rest == "-" || split_key(rest).is_some() {
                    frames.push(Frame {
                        column: rest_col,
                        path: item_path,
                        is_sequence: false,
                        next_index: 0,
                    });
                    if !(rest.starts_with("- ") || rest == "-") {
                        // A mapping entry follows on the same line; its frame is the one just pushed.
                        content = rest;
                        col = rest_col;
                        break;
                    }
                    if let Some(f) = frames.last_mut() {
                        f.is_sequence = true;
                    }
                    content = rest;
                    col = rest_col;
                    continue;
                }
                content = "";
                break;
            }
            if content.is_empty() {
                continue;
            }
            let Some((key, value)) = split_key(content) else {
                continue;
            };
            let Some(frame) = frames.last() else {
                continue;
            };
            let path = child_key(&frame.path, &key);
            let value = strip_comment(value).trim();
            if value.is_empty() || value.starts_with('&') && !value.contains(' ') {
                index.record(path.clone(), line_no, col);
                pending = Some((path, col));
                continue;
            }
            index.record(path, line_no, col);
            if value.starts_with('|')
                || value.starts_with('>')
                || ((value.starts_with('[') || value.starts_with('{')) && !balanced(value))
            {
                // A block scalar or a multi-line flow value: its lines hold no keys of ours.
                skip_deeper_than = Some(col);
            }
        }
        index
    }

    fn record(&mut self, path: String, line: usize, column: usize) {
        self.positions.entry(path).or_insert(Position {
            line,
            column: column + 1,
        });
    }

    /// Where `path` is, or its nearest placed ancestor, or the document start.
    pub fn position(&self, path: &str) -> Position {
        let mut current = path;
        loop {
            if let Some(p) = self.positions.get(current) {
                return *p;
            }
            match parent(current) {
                Some(up) => current = up,
                None => return self.start,
            }
        }
    }

    /// Where the document starts.
    pub fn start(&self) -> Position {
        self.start
    }

    /// The position of `path` itself, without falling back to an ancestor.
    pub fn exact(&self, path: &str) -> Option<Position> {
        self.positions.get(path).copied()
    }
}

/// The parent path: strips the last `.key`, `[n]` or `["key"]`.
fn parent(path: &str) -> Option<&str> {
    if path.is_empty() {
        return None;
    }
    if path.ends_with(']') {
        // Find the `[` that opens the last segment, skipping a quoted key.
        let bytes = path.as_bytes();
        let mut i = path.len() - 1;
        let mut in_quotes = false;
        while i > 0 {
            i -= 1;
            match bytes[i] {
                b'"' if i == 0 || bytes[i - 1] != b'\\' => in_quotes = !in_quotes,
                b'[' if !in_quotes => return Some(&path[..i]),
                _ => {}
            }
        }
        return Some("");
    }
    match path.rfind(['.', ']']) {
        Some(i) if path.as_bytes()[i] == b'.' => Some(&path[..i]),
        Some(i) => Some(&path[..=i]),
        None => Some(""),
    }
}

/// Splits `key: value` (the key may be quoted); None when the line is not a mapping entry.
fn split_key(content: &str) -> Option<(Cow<'_, str>, &str)> {
    let (key, rest) =
        if let Some(quote) = content.chars().next().filter(|c| *c == '"' || *c == '\'') {
            let end = content[1..].find(quote)? + 1;
            (Cow::Borrowed(&content[1..end]), &content[end + 1..])
        } else {
            if content.starts_with(['[', '{', '|', '>', '!', '&', '*', '#']) {
                return None;
            }
            let mut split = None;
            for (i, _) in content.match_indices(':') {
                let after = &content[i + 1..];
                if after.is_empty() || after.starts_with(' ') || after.starts_with('\t') {
                    split = Some(i);
                    break;
                }
            }
            let i = split?;
            (Cow::Borrowed(content[..i].trim_end()), &content[i..])
        };
    let rest = rest.trim_start();
    let value = rest.strip_prefix(':')?;
    if !(value.is_empty() || value.starts_with(' ') || value.starts_with('\t')) {
        return None;
    }
    Some((key, value))
}

fn strip_comment(value: &str) -> &str {
    match value.find(" #") {
        Some(i) if !value.starts_with(['"', '\'']) => &value[..i],
        _ => value,
    }
}

fn balanced(value: &str) -> bool {
    let mut depth = 0i64;
    let mut quote: Option<char> = None;
    for c in value.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '[' | '{') => depth += 1,
            (None, ']' | '}') => depth -= 1,
            _ => {}
        }
    }
    depth <= 0
}

#[cfg(test)]
mod tests {
    use super::*;

    const SVC: &str = "apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: hello
  annotations:
    autoscaling.knative.dev/min-scale: \"1\"
spec:
  template:
    spec:
      containers:
      - image: ghcr.io/x/hello
        env:
          - name: A
            value: |
              multi
              line
          - name: B
            value: b
        ports:
        - containerPort: 8080
";

    #[test]
    fn places_nested_paths() {
        let idx = LocationIndex::build(SVC, 10);
        let at = |p: &str| idx.exact(p).map(|p| (p.line, p.column));
        assert_eq!(at("metadata.name"), Some((13, 3)));
        assert_eq!(
            at("metadata.annotations[\"autoscaling.knative.dev/min-scale\"]"),
            Some((15, 5))
        );
        assert_eq!(at("spec.template.spec.containers[0]"), Some((20, 7)));
        assert_eq!(at("spec.template.spec.containers[0].image"), Some((20, 9)));
        assert_eq!(
            at("spec.template.spec.containers[0].env[1].name"),
            Some((26, 13))
        );
        assert_eq!(
            at("spec.template.spec.containers[0].ports[0].containerPort"),
            Some((29, 11))
        );
    }

    /// `kubectl get -o yaml` and `--export-dir` write sequences at their key's column. The
    /// issue's report: `timeoutSeconds` after such a list was placed at `spec:` (7:5).
    const COMPACT: &str = "apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: hello
spec:
  template:
    spec:
      containers:
      - image: ghcr.io/x/hello
        ports:
        - containerPort: 8080
        name: user-container
      timeoutSeconds: 900
";

    #[test]
    fn key_after_a_compact_list_is_placed_on_its_own_line() {
        let idx = LocationIndex::build(COMPACT, 1);
        let at = |p: &str| idx.exact(p).map(|p| (p.line, p.column));
        assert_eq!(at("spec.template.spec.timeoutSeconds"), Some((13, 7)));
        assert_eq!(at("spec.template.spec.containers[0].name"), Some((12, 9)));
        assert_eq!(
            at("spec.template.spec.containers[0].ports[0].containerPort"),
            Some((11, 11))
        );
        // Nothing is recorded under the list itself.
        assert_eq!(at("spec.template.spec.containers.timeoutSeconds"), None);
        assert_eq!(at("spec.template.spec.containers[0].ports.name"), None);
    }

    #[test]
    fn nested_compact_lists_and_lists_ending_a_mapping() {
        let text = "spec:
  template:
    spec:
      containers:
      - env:
        - name: A
          value: a
        - name: B
          valueFrom:
            secretKeyRef:
              key: k
              name: s
        image: one
        volumeMounts:
        - mountPath: /data
          name: data
      - image: two
        args:
        - --x
      volumes:
      - name: data
        emptyDir: {}
  traffic:
  - latestRevision: true
    percent: 100
status:
  conditions:
  - type: Ready
";
        let idx = LocationIndex::build(text, 1);
        let at = |p: &str| idx.exact(p).map(|p| (p.line, p.column));
        let c = "spec.template.spec.containers";
        assert_eq!(
            at(&format!("{c}[0].env[1].valueFrom.secretKeyRef.name")),
            Some((12, 15))
        );
        // A key after a nested compact list, and after a list ending its mapping.
        assert_eq!(at(&format!("{c}[0].image")), Some((13, 9)));
        assert_eq!(at(&format!("{c}[0].volumeMounts[0].name")), Some((16, 11)));
        assert_eq!(at(&format!("{c}[1]")), Some((17, 7)));
        assert_eq!(at(&format!("{c}[1].image")), Some((17, 9)));
        assert_eq!(at(&format!("{c}[1].args[0]")), Some((19, 9)));
        assert_eq!(at("spec.template.spec.volumes[0].emptyDir"), Some((22, 9)));
        // Lists closed by a dedent of several levels at once.
        assert_eq!(at("spec.traffic"), Some((23, 3)));
        assert_eq!(at("spec.traffic[0].percent"), Some((25, 5)));
        assert_eq!(at("status.conditions[0].type"), Some((28, 5)));
    }

    #[test]
    fn a_compact_items_list_is_closed_by_the_lists_own_keys() {
        let text = "apiVersion: v1
items:
- apiVersion: serving.knative.dev/v1
  kind: Service
  spec:
    template:
      spec:
        containers:
        - image: a
        timeoutSeconds: 60
kind: List
metadata:
  resourceVersion: \"\"
";
        let idx = LocationIndex::build(text, 1);
        let at = |p: &str| idx.exact(p).map(|p| (p.line, p.column));
        assert_eq!(
            at("items[0].spec.template.spec.timeoutSeconds"),
            Some((10, 9))
        );
        assert_eq!(at("kind"), Some((11, 1)));
        assert_eq!(at("metadata.resourceVersion"), Some((13, 3)));
    }

    #[test]
    fn falls_back_to_ancestor() {
        let idx = LocationIndex::build(SVC, 1);
        let p = idx.position("spec.template.spec.containers[0].resources.limits.cpu");
        assert_eq!((p.line, p.column), (11, 7)); // containers[0]
        assert_eq!(parent("a.b[\"x.y\"]"), Some("a.b"));
        assert_eq!(parent("a.b[3]"), Some("a.b"));
        assert_eq!(parent("a"), Some(""));
    }
}
