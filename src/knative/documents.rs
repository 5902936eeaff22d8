//! Splitting an input's text into its YAML documents at document markers, with where each
//! starts (line and byte), for the loader and for the redaction of diagnostics alike.
//!
//! What it is not: parsing; a document's text is handed on as it is.

/// The text of one YAML document of an input.
pub struct DocumentChunk<'a> {
    pub text: &'a str,
    /// The line of the input the document starts on (1-based).
    pub first_line: usize,
    /// The byte offset of `text` in the input.
    pub offset: usize,
}

/// Splits at document markers (`---` or `...` at column 0), which YAML defines to end any
/// block, so a plain line scan is exact. Content after `--- ` on the marker line is kept.
pub fn document_chunks(text: &str) -> Vec<DocumentChunk<'_>> {
    let mut chunks = Vec::new();
    let mut start = 0usize;
    let mut first_line = 1usize;
    let mut offset = 0usize;
    for (line_no, line) in (1usize..).zip(text.split_inclusive('\n')) {
        let bare = line.trim_end_matches(['\n', '\r']);
        if let Some(marker) = document_marker(bare) {
            chunks.push(DocumentChunk {
                text: &text[start..offset],
                first_line,
                offset: start,
            });
            let rest = bare[3..].trim();
            if marker == "---" && !rest.is_empty() && !rest.starts_with('#') {
                // `--- {inline}`: keep the inline content as the next document's first line.
                start = offset + 4;
                first_line = line_no;
            } else {
                start = offset + line.len();
                first_line = line_no + 1;
            }
        }
        offset += line.len();
    }
    chunks.push(DocumentChunk {
        text: &text[start..],
        first_line,
        offset: start,
    });
    chunks
}

/// The document marker a line (without its line break) is: `---` or `...` at column 0, alone or
/// followed by a space or tab.
pub fn document_marker(line: &str) -> Option<&'static str> {
    ["---", "..."].into_iter().find(|m| {
        line.strip_prefix(m)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t']))
    })
}
