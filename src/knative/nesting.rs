//! A cap on how deeply a YAML document nests, checked on the text before any YAML parser sees
//! it: libyaml's scanner (under serde_yaml) costs time quadratic in the nesting of flow
//! collections (`[[[…]]]` 64k deep took 7.5 s), and serde_yaml's own recursion limit is only
//! checked after that scan. Kubernetes objects nest about 30 deep; [`MAX_NESTING`] leaves room.
//!
//! What it is not: a YAML parser. It counts, conservatively, flow brackets at token starts
//! (outside quotes and comments), block indentation levels and compact `- `/`? ` indicators;
//! a document it passes may still be refused later by serde_yaml's own limit.

/// The deepest nesting accepted: well above any Kubernetes object, well below where parsing
/// gets slow (and below serde_yaml's recursion limit of 128).
pub const MAX_NESTING: usize = 100;

/// Where `text` first nests deeper than [`MAX_NESTING`]: (line, column), 1-based within `text`.
pub fn too_deep(text: &str) -> Option<(usize, usize)> {
    let mut flow = 0usize;
    let mut quote: Option<u8> = None;
    let mut indents: Vec<usize> = Vec::new();
    // A block scalar's content: lines indented more than this column.
    let mut block_scalar: Option<usize> = None;
    for (line_index, line) in text.split('\n').enumerate() {
        let bytes = line.as_bytes();
        let mut i = 0;
        let mut block_depth = indents.len();
        if quote.is_none() && flow == 0 {
            let indent = bytes.iter().take_while(|b| **b == b' ').count();
            let rest = &bytes[indent..];
            if rest.iter().all(|b| b.is_ascii_whitespace()) || rest.first() == Some(&b'#') {
                continue;
            }
            if let Some(parent) = block_scalar {
                if indent > parent {
                    continue;
                }
                block_scalar = None;
            }
            while indents.last().is_some_and(|top| *top > indent) {
                indents.pop();
            }
            if indents.last() != Some(&indent) {
                indents.push(indent);
            }
            block_depth = indents.len();
            i = indent;
            // `- - - x`: each compact indicator opens a level on this line.
            while i < bytes.len()
                && matches!(bytes[i], b'-' | b'?')
                && bytes.get(i + 1).is_none_or(|b| *b == b' ' || *b == b'\t')
            {
                block_depth += 1;
                if block_depth > MAX_NESTING {
                    return Some(position(line, line_index, i));
                }
                i = (i + 2).min(bytes.len());
                while i < bytes.len() && bytes[i] == b' ' {
                    i += 1;
                }
            }
            if block_depth > MAX_NESTING {
                return Some(position(line, line_index, i));
            }
            if is_block_scalar_header(&bytes[i..]) {
                block_scalar = Some(indent);
            }
        }
        let mut token_start = i == 0 || bytes[..i].iter().all(|b| *b == b' ' || *b == b'-');
        while i < bytes.len() {
            let b = bytes[i];
            if let Some(q) = quote {
                if q == b'"' && b == b'\\' {
                    i += 2;
                    continue;
                }
                if b == q {
                    if q == b'\'' && bytes.get(i + 1) == Some(&b'\'') {
                        i += 2;
                        continue;
                    }
                    quote = None;
                    token_start = false;
                }
                i += 1;
                continue;
            }
            match b {
                b'#' if token_start || i == 0 => break,
                b'"' | b'\'' if token_start || flow > 0 => quote = Some(b),
                b'[' | b'{' if token_start || flow > 0 => {
                    flow += 1;
                    if block_depth + flow > MAX_NESTING {
                        return Some(position(line, line_index, i));
                    }
                }
                b']' | b'}' if flow > 0 => flow -= 1,
                b'|' | b'>' if token_start && flow == 0 && is_block_scalar_header(&bytes[i..]) => {
                    if let Some(indent) = indents.last() {
                        block_scalar = Some(*indent);
                    }
                    break;
                }
                _ => {}
            }
            // Flow indicators start a token only inside a flow collection (in block context
            // `x[` is part of a plain scalar).
            token_start = matches!(b, b' ' | b'\t' | b'\r')
                || (flow > 0 && matches!(b, b',' | b'[' | b'{'))
                || (matches!(b, b':' | b'-' | b'?')
                    && (flow > 0 || matches!(bytes.get(i + 1), None | Some(b' ' | b'\t'))));
            i += 1;
        }
    }
    None
}

/// `|`, `>`, `|-`, `>+2`… optionally followed by a comment: the start of a block scalar.
fn is_block_scalar_header(rest: &[u8]) -> bool {
    let Some((first, tail)) = rest.split_first() else {
        return false;
    };
    matches!(first, b'|' | b'>')
        && tail
            .iter()
            .take_while(|b| **b != b'#')
            .all(|b| matches!(b, b'-' | b'+' | b'0'..=b'9' | b' ' | b'\t' | b'\r'))
}

fn position(line: &str, line_index: usize, byte: usize) -> (usize, usize) {
    let column = line
        .get(..byte.min(line.len()))
        .map_or(byte, |prefix| prefix.chars().count());
    (line_index + 1, column + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubernetes_objects_pass() {
        let service = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/testdata/services/13-emptydir-sidecar.yaml"
        ))
        .unwrap();
        assert_eq!(too_deep(&service), None);
        // Brackets inside quotes, plain scalars, comments and block scalars do not count.
        let tricky = format!(
            "a: \"{0}\"\nb: x{0}\nc: 1 # {0}\nd: |\n  {0}\ne: '{0}'\n",
            "[".repeat(200)
        );
        assert_eq!(too_deep(&tricky), None);
    }

    #[test]
    fn deep_flow_block_and_compact_nesting_is_refused_with_a_position() {
        let flow = format!("a: {}{}\n", "[".repeat(150), "]".repeat(150));
        // `a: ` is one block level; the 100th bracket (column 3 + 100) is one too many.
        assert_eq!(too_deep(&flow), Some((1, 3 + MAX_NESTING)));
        let compact = format!("a:\n  {}x\n", "- ".repeat(150));
        // Two levels (`a:` and the line's indentation), then the 99th `- ` at column 3 + 2 × 98.
        assert_eq!(too_deep(&compact), Some((2, 3 + 2 * 98)));
        let block: String = (0..120)
            .map(|d| format!("{}k{d}:\n", " ".repeat(d)))
            .collect();
        assert!(too_deep(&block).is_some_and(|(line, _)| line == MAX_NESTING + 1));
        let json = format!("{}{}", "{\"a\":".repeat(150), "}".repeat(150));
        assert!(too_deep(&json).is_some());
        assert_eq!(
            too_deep(&format!("{}{}", "[".repeat(90), "]".repeat(90))),
            None
        );
    }
}
