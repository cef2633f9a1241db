//! A lexer-level look at statement text that tells a plain passthrough statement from one the proxy must parse,
//! without building an AST.
//!
//! The scan does not lex SQL as the backend would: a string's end depends on `sql_mode` (backslash escapes,
//! ANSI quotes), which the proxy does not track. So it looks at every word-like run of the text — inside
//! strings and comments too — and errs only toward parsing: a statement is plain only when no run could be a
//! name the proxy answers for and no statement could start with a verb the proxy routes itself.

/// Runs that make a statement the proxy's business wherever they occur (ASCII case-insensitive):
/// model tables (`model_…`, also a CTE named so), the `stardust` schema and `SET stardust_…` variables
/// (`stardust_…` backend tables only cost a parse), information_schema, and the statement-timeout variables the
/// proxy keeps itself (`SET max_statement_time`, `SET max_execution_time`).
const NAMES: [&[u8]; 5] = [
    b"model_",
    b"stardust",
    b"information_schema",
    b"max_statement_time",
    b"max_execution_time",
];

/// Verbs the proxy routes itself when they start a statement: `USE`, `KILL`, `SHOW` (tables, table status,
/// indexes and columns of model tables).
const VERBS: [&[u8]; 3] = [b"use", b"kill", b"show"];

/// Whether an administrator's statement can go to the backend as it is, unparsed: it names no model table,
/// nothing of the `stardust` schema, no information_schema table, and no statement of it starts with a verb
/// the proxy answers itself. A text with no word at all (empty, only comments) is not plain: it is an error of
/// the proxy's own. Tenant logins' statements are always parsed: the policy needs their tables.
pub fn plain(sql: &str) -> bool {
    let bytes = sql.as_bytes();
    let mut words = false;
    let mut at_start = true;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if is_word(b) {
            let end = bytes[i..]
                .iter()
                .position(|&b| !is_word(b))
                .map_or(bytes.len(), |n| i + n);
            let run = &bytes[i..end];
            words = true;
            if names_in(run) {
                return false;
            }
            if at_start {
                let verb = trim_digits(run);
                if VERBS.iter().any(|v| verb.eq_ignore_ascii_case(v)) {
                    return false;
                }
                // A run of digits (the version of a `/*!50001 …` comment) does not start a statement.
                at_start = verb.is_empty();
            }
            i = end;
            continue;
        }
        match b {
            b';' => at_start = true,
            // A comment before a statement's verb is skipped: a verb in it is not the statement's (names in it
            // still count). The executable comments `/*! … */` and `/*M! … */` are code, and read as such.
            b'/' if at_start && bytes.get(i + 1) == Some(&b'*') => {
                if let Some(marker) = executable(&bytes[i + 2..]) {
                    i += 2 + marker;
                    continue;
                }
                let end = find(bytes, i + 2, b"*/").map_or(bytes.len(), |end| end + 2);
                if names_in(&bytes[i..end]) {
                    return false;
                }
                i = end;
                continue;
            }
            b'#' | b'-' if at_start && line_comment(&bytes[i..]) => {
                let end = find(bytes, i, b"\n").unwrap_or(bytes.len());
                if names_in(&bytes[i..end]) {
                    return false;
                }
                i = end;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    words
}

/// Letters, digits and `_`: anything else (quotes, dots, `$`, `@`, non-ASCII) splits runs, so a name is found
/// however it is quoted, qualified or glued to its neighbours.
fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// `# …` or `-- …`, to the end of the line. MySQL wants a space after `--`; a statement cannot start with
/// `-` either way, so skipping more than MySQL would skips no verb of a statement.
fn line_comment(rest: &[u8]) -> bool {
    rest.starts_with(b"#") || rest.starts_with(b"--")
}

fn names_in(bytes: &[u8]) -> bool {
    NAMES.iter().any(|name| contains(bytes, name))
}

/// The length of the marker that opens an executable comment (`!` or `M!`), whose text is code.
fn executable(comment: &[u8]) -> Option<usize> {
    match comment {
        [b'!', ..] => Some(1),
        [b'M' | b'm', b'!', ..] => Some(2),
        _ => None,
    }
}

fn trim_digits(run: &[u8]) -> &[u8] {
    let digits = run.iter().take_while(|b| b.is_ascii_digit()).count();
    &run[digits..]
}

/// ASCII case-insensitive; `name` is lower case. Only positions holding the name's first letter are compared.
fn contains(bytes: &[u8], name: &[u8]) -> bool {
    let first = name[0];
    bytes.len() >= name.len()
        && (0..=bytes.len() - name.len()).any(|at| {
            bytes[at].to_ascii_lowercase() == first
                && bytes[at..at + name.len()].eq_ignore_ascii_case(name)
        })
}

fn find(bytes: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    bytes
        .get(from..)?
        .windows(needle.len())
        .position(|window| window == needle)
        .map(|n| from + n)
}

#[cfg(test)]
mod tests {
    use super::plain;

    #[test]
    fn ordinary_statements_are_plain() {
        for sql in [
            "SELECT c FROM sbtest1 WHERE id = 42",
            "INSERT INTO t (a, b) VALUES (1, 'x'), (2, 'use this; or that')",
            "UPDATE t SET a = a + 1 WHERE b = 'show'",
            "BEGIN",
            "SELECT 1",
            "/* app */ SELECT * FROM orders",
            "SET NAMES utf8mb4",
            "SELECT * FROM users WHERE reused = 1",
        ] {
            assert!(plain(sql), "{sql}");
        }
    }

    #[test]
    fn statements_the_proxy_answers_are_parsed() {
        for sql in [
            "SELECT * FROM model_company",
            "SELECT * FROM `MODEL_company`",
            "SELECT * FROM app.\"model_x\"",
            "SELECT * FROM t JOIN `x`.`model_y` USING (id)",
            "WITH model_x AS (SELECT 1) SELECT * FROM model_x",
            "SELECT * FROM stardust.models",
            "CALL stardust.replay_dlq(1)",
            "SET stardust_tenant = 1",
            "SET @@session.stardust_allow_scan = 1",
            "SELECT * FROM INFORMATION_SCHEMA.TABLES",
            "SHOW TABLES",
            "  show full tables",
            "/* comment */ SHOW TABLE STATUS",
            "-- note\nSHOW INDEX FROM t",
            "# note\nKILL 12",
            "/*!50001 SHOW TABLES */",
            "/*M!100000 KILL 1 */",
            "SELECT 1; USE other",
            "use`other`",
            "",
            ";",
            "/* only a comment */",
        ] {
            assert!(!plain(sql), "{sql}");
        }
    }
}
