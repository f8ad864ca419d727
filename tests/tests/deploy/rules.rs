//! The rules the deployment checks apply, as small functions the tests also exercise
//! with counter-examples.

use std::collections::BTreeSet;

use clap::CommandFactory;

use crate::model::{files, read};

/// `Ok` when the image names an explicit version.
pub fn pinned(image: &str) -> Result<(), String> {
    if image.contains("@sha256:") {
        return Ok(());
    }
    let tag = image.rsplit('/').next().and_then(|last| last.split_once(':')).map(|(_, t)| t);
    match tag {
        None => Err(format!("`{image}` has no tag")),
        Some("latest") => Err(format!("`{image}` uses latest")),
        Some(t) if !t.chars().any(|c| c.is_ascii_digit()) => Err(format!("`{image}`: tag `{t}` is not a version")),
        Some(_) => Ok(()),
    }
}

pub fn subcommands() -> BTreeSet<String> {
    pulse::cli::Cli::command().get_subcommands().map(|c| c.get_name().to_owned()).collect()
}

/// Parses `pulse <args>` with the real CLI; `--help`/`--version` count as valid.
pub fn cli_accepts(args: &[String]) -> Result<(), String> {
    let argv = std::iter::once("pulse".to_owned()).chain(args.iter().cloned());
    match pulse::cli::Cli::command().try_get_matches_from(argv) {
        Ok(_) => Ok(()),
        Err(e) if matches!(e.kind(), clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion) => {
            Ok(())
        }
        Err(e) => Err(e.to_string()),
    }
}

/// Metric names the code registers: every `"pulse_..."` string literal in the sources.
pub fn registered_metrics() -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for dir in ["crates", "services"] {
        for f in files(dir, &[".rs"]) {
            let text = read(&f);
            for (i, _) in text.match_indices("\"pulse_") {
                let name: String =
                    text[i + 1..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                if text[i + 1 + name.len()..].starts_with('"') {
                    out.insert(name);
                }
            }
        }
    }
    out
}

/// `pulse_*` metric names in a PromQL expression, histogram suffixes removed.
pub fn metrics_in(expr: &str, known: &BTreeSet<String>) -> Vec<String> {
    let mut out = Vec::new();
    for (i, _) in expr.match_indices("pulse_") {
        if expr[..i].chars().last().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        let name: String = expr[i..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        let base = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix).filter(|b| known.contains(*b)))
            .map_or(name.clone(), str::to_owned);
        out.push(base);
    }
    out
}
