//! What a configuration error says (one line, naming the key where it was set) and reading the
//! file (a syntax error by line and column).

use std::fmt;
use std::path::Path;

/// A configuration error: the key and what is wrong with it. A value from the environment is named
/// by its variable (`LEAD_REENGAGE_HOURS`), a value from the file by its key there
/// (`lead_reengage_hours`, `redirect.thank_you_path`) with `in_file` saying which file.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    pub key: String,
    /// For a value read from the configuration file: its path (or `the configuration file` when
    /// the path is not known); `None` for the environment.
    pub in_file: Option<String>,
    pub problem: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "configuration error: {}", self.key)?;
        if let Some(file) = &self.in_file {
            write!(f, " (in {file})")?;
        }
        write!(f, ": {}", self.problem)
    }
}

impl std::error::Error for ConfigError {}

/// Whitespace (line breaks included) collapsed to single spaces.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The problem is kept on one line: the CLI prints exactly one line per configuration error.
pub fn err(key: &str, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        key: one_line(key),
        in_file: None,
        problem: one_line(&problem.into()),
    }
}

/// An error about a value in the configuration file at `path`.
pub fn file_err(key: &str, path: Option<&Path>, problem: impl Into<String>) -> ConfigError {
    let file = match path {
        Some(path) => path
            .display()
            .to_string()
            .chars()
            .map(|c| match c {
                ' ' => c.to_string(),
                c if c.is_control() || c.is_whitespace() => c.escape_default().to_string(),
                c => c.to_string(),
            })
            .collect(),
        None => "the configuration file".to_string(),
    };
    ConfigError {
        in_file: Some(file),
        ..err(key, problem)
    }
}

pub fn read_file(path: &Path, explicit: bool) -> Result<toml::Table, ConfigError> {
    match std::fs::read_to_string(path) {
        Ok(text) => text.parse::<toml::Table>().map_err(|e| {
            let at = e
                .span()
                .map(|span| {
                    let (line, column) = line_and_column(&text, span.start);
                    format!(" line {line}, column {column}")
                })
                .unwrap_or_default();
            err(
                "LEADGATE_CONFIG",
                format!("{}{at}: {}", path.display(), message_lines(e.message())),
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => Ok(toml::Table::new()),
        Err(e) => Err(err("LEADGATE_CONFIG", format!("{}: {}", path.display(), e))),
    }
}

/// The parser's message (`invalid array\nexpected ...`) as one line.
fn message_lines(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// The line and column (both from 1; the column in characters) of a byte offset into `text`.
pub fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text.as_bytes()[..offset.min(text.len())];
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    // UTF-8 continuation bytes do not start a character.
    let column = before[line_start..]
        .iter()
        .filter(|&&b| b & 0xC0 != 0x80)
        .count()
        + 1;
    (line, column)
}
