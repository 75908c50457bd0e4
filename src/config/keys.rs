//! Every key of the file must be one the configuration declares: a typo is refused, with the
//! closest known key, rather than silently leaving a default in place.

use super::errors::{file_err, ConfigError};
use super::layers::{field_names, TABLES};
use std::path::Path;

/// Keys are named as written (`redirect.alowed_hosts`); a table's key must hold a table.
pub fn check_file_keys(file: &toml::Table, path: Option<&Path>) -> Result<(), ConfigError> {
    let top = field_names::<super::Config>();
    for (key, value) in file {
        if !top.contains(&key.as_str()) {
            return Err(file_err(
                &key_as_written(key),
                path,
                unknown_key_problem(key, top),
            ));
        }
        let Some((_, fields)) = TABLES.iter().find(|(table, _)| table == key) else {
            continue;
        };
        let known = fields();
        let table = value.as_table().ok_or_else(|| {
            file_err(
                key,
                path,
                format!("expected a table ([{key}]), got {}", value.type_str()),
            )
        })?;
        if let Some(unknown) = table.keys().find(|k| !known.contains(&k.as_str())) {
            return Err(file_err(
                &format!("{key}.{}", key_as_written(unknown)),
                path,
                unknown_key_problem(unknown, known),
            ));
        }
    }
    Ok(())
}

/// A bare key as is; anything else quoted and escaped, as TOML would need it (and on one line).
fn key_as_written(key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare {
        key.to_string()
    } else {
        format!("{key:?}")
    }
}

fn unknown_key_problem(key: &str, known: &[&str]) -> String {
    let closest = known
        .iter()
        .map(|k| (edit_distance(key, k), *k))
        .filter(|(distance, _)| *distance <= 2)
        .min_by_key(|(distance, _)| *distance);
    match closest {
        Some((_, k)) => format!("unknown key in the configuration file (did you mean {k}?)"),
        None => "unknown key in the configuration file".to_string(),
    }
}

/// Levenshtein distance, in characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (diagonal + usize::from(ca != cb))
                .min(row[j] + 1)
                .min(above + 1);
            diagonal = above;
        }
    }
    row[b.len()]
}
