//! Rules of the codebase that a machine can check (shared/STYLE.md §16).

use std::path::{Path, PathBuf};

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable source directory") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn all_sources() -> Vec<PathBuf> {
    let mut files = Vec::new();
    sources(&root().join("src"), &mut files);
    files.sort();
    files
}

/// The part of a file before its `#[cfg(test)]` module.
fn production_code(text: &str) -> &str {
    text.split("#[cfg(test)]").next().unwrap_or(text)
}

#[test]
fn every_source_file_says_what_it_owns() {
    let missing: Vec<String> = all_sources()
        .into_iter()
        .filter(|path| {
            let text = std::fs::read_to_string(path).expect("readable");
            !text.lines().take(3).any(|line| line.starts_with("//!"))
        })
        .map(|path| path.display().to_string())
        .collect();
    assert!(missing.is_empty(), "files without a //! line: {missing:?}");
}

#[test]
fn no_unwrap_on_client_data_in_the_request_path() {
    let mut offenders = Vec::new();
    for path in all_sources() {
        let relative = path.strip_prefix(root().join("src")).expect("under src");
        let in_path = ["protocol", "sql", "rewrite"].iter().any(|layer| {
            relative.starts_with(layer) || relative == Path::new(&format!("{layer}.rs"))
        });
        if !in_path {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("readable");
        for (number, line) in production_code(&text).lines().enumerate() {
            if line.contains(".unwrap()") || line.contains(".expect(") {
                offenders.push(format!("{}:{}", relative.display(), number + 1));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "unwrap/expect in the request path: {offenders:?}"
    );
}

/// Only the server's accept loop calls into `protocol`; everything else sits below it, so that the wire layer
/// depends on the rest and never the other way round.
#[test]
fn nothing_below_the_wire_imports_protocol() {
    let offenders: Vec<String> = all_sources()
        .into_iter()
        .filter(|path| {
            let relative = path.strip_prefix(root().join("src")).expect("under src");
            !relative.starts_with("protocol")
                && !["protocol.rs", "server.rs", "lib.rs"]
                    .contains(&relative.to_str().unwrap_or(""))
        })
        .filter(|path| {
            std::fs::read_to_string(path)
                .expect("readable")
                .contains("crate::protocol")
        })
        .map(|path| path.display().to_string())
        .collect();
    assert!(offenders.is_empty(), "these import protocol: {offenders:?}");
}

#[test]
fn every_error_kind_is_documented() {
    let kinds = std::fs::read_to_string(root().join("src/error.rs")).expect("error.rs");
    let enum_body = kinds
        .split("pub enum Kind {")
        .nth(1)
        .and_then(|rest| rest.split("\n}").next())
        .expect("the Kind enum");
    let docs = std::fs::read_to_string(root().join("docs/errors.md")).expect("docs/errors.md");
    let mut undocumented = Vec::new();
    for line in enum_body.lines().map(str::trim) {
        if line.starts_with("///") || line.is_empty() {
            continue;
        }
        let name: String = line.chars().take_while(|c| c.is_alphanumeric()).collect();
        if !name.is_empty() && !docs.contains(&format!("`{name}`")) {
            undocumented.push(name);
        }
    }
    assert!(
        undocumented.is_empty(),
        "error kinds missing from docs/errors.md: {undocumented:?}"
    );
}

#[test]
fn no_file_grows_past_six_hundred_lines() {
    let long: Vec<String> = all_sources()
        .into_iter()
        .filter_map(|path| {
            let lines = std::fs::read_to_string(&path)
                .expect("readable")
                .lines()
                .count();
            (lines > 600).then(|| format!("{} ({lines} lines)", path.display()))
        })
        .collect();
    assert!(long.is_empty(), "split these files: {long:?}");
}

/// StarDust's closed vocabulary of NDJSON event names (shared/reference/stardust-digest.md §6): every
/// `event = "…"` the code logs is one of them, byte for byte, so tooling built on StarDust's logs keeps working.
const EVENTS: &[&str] = &[
    "page_provisioned",
    "slot_reserved",
    "entry_written",
    "entry_updated",
    "entry_deleted",
    "exhaustion_fallback",
    "bulk_chunk_committed",
    "bulk_chunk_rolled_back",
    "payload_too_large",
    "bulk_accepted",
    "cache_miss",
    "pre_flight_rejected",
    "capability_unsupported",
    "search_request",
    "poll_started",
    "poll_complete",
    "provision_started",
    "provision_complete",
    "provision_failed",
    "lock_contention",
    "cardinality_sampled",
    "low_cardinality_index",
    "spread_sampled",
    "high_spread_model",
    "retype_started",
    "promote_to_ready",
    "compaction_planned",
    "compaction_complete",
    "chunk_claimed",
    "chunk_complete",
    "chunk_partial",
    "capacity_wait",
    "dlq_inserted",
    "coercion_null",
    "lease_lost",
    "sweep_started",
    "sweep_chunk",
    "sweep_complete",
    "deadlock_retry",
    "sweep_gap_flagged",
    "job_claimed",
    "chunk_written",
    "job_complete",
    "job_failed",
    "chunk_skipped",
    "row_skipped",
    "low_disk",
    "artifact_oversized",
    "gc_swept",
    "export_accepted",
    "log_encode_failed",
    "generic_log",
];

#[test]
fn every_logged_event_name_is_in_stardusts_vocabulary() {
    let mut found = 0;
    let mut strays = Vec::new();
    for path in all_sources() {
        let text = std::fs::read_to_string(&path).expect("readable");
        for (at, key) in text.match_indices("event = ") {
            let rest = &text[at + key.len()..];
            let name = rest.strip_prefix('"').and_then(|r| r.split('"').next());
            match name {
                Some(name) if EVENTS.contains(&name) => found += 1,
                Some(name) => strays.push(format!("{}: {name}", path.display())),
                None => strays.push(format!(
                    "{}: an event name that is not a literal: {}",
                    path.display(),
                    rest.lines().next().unwrap_or_default()
                )),
            }
        }
    }
    assert!(found >= 10, "the scan finds the events ({found})");
    assert!(
        strays.is_empty(),
        "event names outside the vocabulary: {strays:#?}"
    );
}
