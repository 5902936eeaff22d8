//! `convert --annotate`: a comment beside each generated line saying where it came from.

use std::collections::{BTreeMap, HashMap};

/// Adds `# comment` to the lines of rendered HCL whose path is in `notes`. A path names blocks
/// from the job down, `/`-separated: a labelled block as `ident[label]`, other blocks as
/// `ident`, repeated ones as `ident#n` (n counts from 0 among siblings), then the attribute or
/// map key, e.g. `job/group/task[app]/resources/cpu` or `job/group/service/check#1`.
pub fn annotate(text: &str, notes: &BTreeMap<String, String>) -> String {
    if notes.is_empty() {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() * 2);
    // Each open block: its path segment and how many of each child block it has seen.
    let mut stack: Vec<(String, HashMap<String, usize>)> = Vec::new();
    for line in text.lines() {
        let trimmed = line.trim();
        let mut path_here: Option<String> = None;
        if trimmed == "}" {
            stack.pop();
        } else if let Some(head) = trimmed.strip_suffix('{') {
            let head = head.trim_end();
            let (ident, label, is_map) = match head.strip_suffix('=') {
                Some(key) => (key.trim().trim_matches('"').to_string(), None, true),
                None => {
                    let mut parts = head.splitn(2, ' ');
                    let ident = parts.next().unwrap_or("").to_string();
                    let label = parts.next().map(|l| l.trim().trim_matches('"').to_string());
                    (ident, label, false)
                }
            };
            let segment = match (&label, stack.last_mut()) {
                (Some(l), _) => format!("{ident}[{l}]"),
                (None, Some((_, seen))) if !is_map && ident != "job" => {
                    let n = seen.entry(ident.clone()).or_insert(0);
                    let segment = if *n == 0 {
                        ident.clone()
                    } else {
                        format!("{ident}#{n}")
                    };
                    *n += 1;
                    segment
                }
                _ => ident.clone(),
            };
            let segment = if ident == "job" {
                "job".to_string()
            } else {
                segment
            };
            let parent: Vec<&str> = stack.iter().map(|(s, _)| s.as_str()).collect();
            let full = if parent.is_empty() {
                segment.clone()
            } else {
                format!("{}/{segment}", parent.join("/"))
            };
            path_here = Some(full);
            stack.push((segment, std::collections::HashMap::new()));
        } else if let Some(eq) = trimmed.find(" = ") {
            let key = trimmed[..eq].trim().trim_matches('"');
            let parent: Vec<&str> = stack.iter().map(|(s, _)| s.as_str()).collect();
            path_here = Some(format!("{}/{key}", parent.join("/")));
        }
        out.push_str(line);
        if let Some(note) = path_here.as_ref().and_then(|p| notes.get(p)) {
            out.push_str(" # ");
            // A comment ends at a line break; hcl-rs also ends it at a lone CR, which
            // file names and ConfigMap keys may hold.
            out.push_str(&note.replace(['\n', '\r'], " "));
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotates_by_path() {
        let text = "job \"a\" {\n  group \"g\" {\n    check {\n      x = 1\n    }\n    check {\n      x = 2\n    }\n    env = {\n      \"a.b\" = \"c\"\n    }\n  }\n}\n";
        let mut notes = std::collections::BTreeMap::new();
        notes.insert("job/group[g]/check#1/x".to_string(), "second".to_string());
        notes.insert("job/group[g]/env/a.b".to_string(), "dotted".to_string());
        notes.insert(
            "job/group[g]/check".to_string(),
            "first\r block\n".to_string(),
        );
        let out = annotate(text, &notes);
        assert!(out.contains("      x = 2 # second\n"));
        assert!(out.contains("      x = 1\n"));
        assert!(out.contains("\"a.b\" = \"c\" # dotted"));
        assert!(out.contains("    check { # first  block \n"));
        // Comments do not change what the file says.
        assert_eq!(hcl::parse(&out).unwrap(), hcl::parse(text).unwrap());
    }
}
