//! Quoting values for the shell commands this tool prints for people to paste (the secrets
//! manifest's `nomad var put` lines, hints naming `kubectl` commands): a value from an input
//! must never become shell syntax.
//!
//! What it is not: running commands (this tool runs none).

/// `value` as one POSIX shell word: as is when it holds only characters no shell treats
/// specially, otherwise in single quotes, where nothing is special, with each `'` written as
/// `'\''` (close the quotes, an escaped quote, reopen).
pub fn quote(value: &str) -> String {
    let plain = !value.is_empty()
        && value.chars().all(|c| {
            c.is_ascii_alphanumeric()
                || matches!(c, '_' | '-' | '.' | '/' | ':' | '@' | '%' | '+' | ',' | '=')
        });
    if plain {
        return value.to_string();
    }
    format!("'{}'", value.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_words_stay_and_the_rest_is_single_quoted() {
        assert_eq!(quote("nomad/jobs/a-b"), "nomad/jobs/a-b");
        assert_eq!(quote(""), "''");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(quote("x=<x>"), "'x=<x>'");
    }

    /// What a real shell makes of the quoted word: exactly the value, nothing run.
    #[test]
    fn hostile_values_come_back_unchanged_from_sh() {
        let dir = std::env::temp_dir().join(format!("k2n-shell-quote-{}", std::process::id()));
        let marker = dir.join("ran");
        let hostile = [
            format!("default $(touch {})", marker.display()),
            format!("`touch {}`", marker.display()),
            format!("a; touch {}", marker.display()),
            "'\"'\"\\\\$HOME${PATH}".to_string(),
            "two\nlines\r\n\ttab".to_string(),
            "*?[a]~!#&|<>()".to_string(),
        ];
        std::fs::create_dir_all(&dir).unwrap();
        for value in hostile {
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("printf '%s' {}", quote(&value)))
                .output()
                .unwrap();
            assert_eq!(String::from_utf8_lossy(&out.stdout), value);
        }
        assert!(!marker.exists(), "a quoted value ran a command");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
