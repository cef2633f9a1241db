//! A lexer-level look at statement text that tells a plain passthrough statement from one the proxy must parse,
//! without building an AST.
//!
//! The scan does not lex SQL as the backend would: a string's end depends on `sql_mode` (backslash escapes,
//! ANSI quotes), which the proxy does not track. So it looks at every word-like run of the text — inside
//! strings and comments too — and errs only toward parsing: a statement is plain only when no run could be a
//! name the proxy answers for and no statement could start with a verb the proxy routes itself.
//!
//! [`literals`] takes a statement's plain literals out of its text, so that the plan cache knows statements that
//! differ only in their values as one; [`placeholders`] finds the marks that stand for them in backend SQL.

use std::ops::Range;

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

/// A statement's text with its plain literals taken out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Literals {
    /// The text with each literal replaced by `?n` (a number) or `?s` (a string): the same for every statement
    /// that differs from this one only in those literals, and for no other.
    pub key: String,
    /// Where each literal is in the text, in order.
    pub slots: Vec<Range<usize>>,
}

impl Literals {
    /// The text with the literals replaced by the placeholders `?1`, `?2`, … in order, which sqlparser reads as
    /// values of unknown type: a rewrite of it is the rewrite of every statement of this key.
    pub fn marked(&self, sql: &str) -> String {
        let mut marked = String::with_capacity(sql.len());
        let mut copied = 0;
        for (n, slot) in self.slots.iter().enumerate() {
            marked.push_str(&sql[copied..slot.start]);
            marked.push('?');
            marked.push_str(&(n + 1).to_string());
            copied = slot.end;
        }
        marked.push_str(&sql[copied..]);
        marked
    }
}

/// The plain literals of `sql`, lexed as MySQL reads them under the default sql_mode: whole numbers and
/// decimals (`17`, `2.50`), and single-quoted strings that hold no backslash, no quote and no NUL (so their
/// text is their value, and reads the same under every sql_mode). Everything else stays part of the key:
/// names, keywords, operators, comments, double-quoted strings, strings glued to a prefix (`X'FF'`,
/// `_utf8mb4'a'`), numbers glued to a name or a dot (`1e3`, `t.5`), and any literal followed directly by a
/// letter or quote. `None` for a text holding a `?` anywhere (the mark of a placeholder) or a quote or comment
/// left open: such a text is not cached.
pub fn literals(sql: &str) -> Option<Literals> {
    let bytes = sql.as_bytes();
    if bytes.contains(&b'?') {
        return None;
    }
    let mut literals = Literals {
        key: String::with_capacity(sql.len()),
        slots: Vec::new(),
    };
    let mut copied = 0;
    let mut take = |literals: &mut Literals, slot: Range<usize>, kind: &str| {
        literals.key.push_str(&sql[copied..slot.start]);
        literals.key.push_str(kind);
        copied = slot.end;
        literals.slots.push(slot);
    };
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'\'' => {
                let end = quoted_end(bytes, i)?;
                let body = &bytes[i + 1..end - 1];
                let glued = i > 0 && is_name(bytes[i - 1]);
                if !glued
                    && !body.contains(&b'\\')
                    && !body.contains(&b'\'')
                    && !body.contains(&0)
                    && ends_literal(bytes.get(end))
                {
                    take(&mut literals, i..end, "?s");
                }
                i = end;
            }
            b'"' | b'`' => i = quoted_end(bytes, i)?,
            b'/' if bytes.get(i + 1) == Some(&b'*') => i = find(bytes, i + 2, b"*/")? + 2,
            // `--` starts a comment here even without the space MySQL wants after it: what is a comment to this
            // scan stays in the key as written, so reading too much as one only keeps literals in the key.
            b'#' | b'-' if line_comment(&bytes[i..]) => {
                i = find(bytes, i, b"\n").unwrap_or(bytes.len())
            }
            b'0'..=b'9' => {
                let end = number_end(bytes, i);
                let after_name =
                    i > 0 && matches!(bytes[i - 1], b'.' | b'@' | b':' | b'\'' | b'"' | b'`');
                if !after_name && ends_literal(bytes.get(end)) && bytes.get(end) != Some(&b'.') {
                    take(&mut literals, i..end, "?n");
                    i = end;
                } else {
                    i = name_end(bytes, i);
                }
            }
            b if is_name(b) => i = name_end(bytes, i),
            _ => i += 1,
        }
    }
    literals.key.push_str(&sql[copied..]);
    Some(literals)
}

/// The placeholders `?1`, `?2`, … of backend SQL printed from a statement [`Literals::marked`]: for each, its
/// byte range and its number from 0. `None` when a `?` stands anywhere else — inside a string, a quoted name or
/// a comment, or without a number — or a number is past `count`, or one of the `count` is missing: such SQL
/// is not a template of the statement's literals.
pub fn placeholders(sql: &str, count: usize) -> Option<Vec<(Range<usize>, usize)>> {
    let bytes = sql.as_bytes();
    let mut found = Vec::new();
    let mut used = vec![false; count];
    let mut i = 0;
    while i < bytes.len() {
        let end = match bytes[i] {
            b'\'' | b'"' | b'`' => quoted_end(bytes, i)?,
            b'/' if bytes.get(i + 1) == Some(&b'*') => find(bytes, i + 2, b"*/")? + 2,
            b'#' | b'-' if line_comment(&bytes[i..]) => {
                find(bytes, i, b"\n").unwrap_or(bytes.len())
            }
            b'?' => {
                let digits = bytes[i + 1..]
                    .iter()
                    .take_while(|b| b.is_ascii_digit())
                    .count();
                let n: usize = sql.get(i + 1..i + 1 + digits)?.parse().ok()?;
                let index = n.checked_sub(1).filter(|&index| index < count)?;
                used[index] = true;
                found.push((i..i + 1 + digits, index));
                i += 1 + digits;
                continue;
            }
            _ => {
                i += 1;
                continue;
            }
        };
        if bytes[i..end].contains(&b'?') {
            return None;
        }
        i = end;
    }
    used.iter().all(|&used| used).then_some(found)
}

/// A name's bytes as MySQL reads them unquoted: letters, digits, `_`, `$` and any non-ASCII byte.
fn is_name(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80
}

fn name_end(bytes: &[u8], from: usize) -> usize {
    bytes[from..]
        .iter()
        .position(|&b| !is_name(b))
        .map_or(bytes.len(), |n| from + n)
}

/// Digits, and a fraction of digits after a dot.
fn number_end(bytes: &[u8], from: usize) -> usize {
    let digits = |at: usize| {
        bytes[at..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count()
    };
    let end = from + digits(from);
    match bytes.get(end..end + 2) {
        Some([b'.', d]) if d.is_ascii_digit() => end + 1 + digits(end + 1),
        _ => end,
    }
}

/// Whether a literal may end before `next`: not when a name or a quote goes on from it.
fn ends_literal(next: Option<&u8>) -> bool {
    next.is_none_or(|&b| !is_name(b) && !matches!(b, b'\'' | b'"' | b'`'))
}

/// The end (past the closing quote) of the string or quoted name opening at `from`: a doubled quote stays inside,
/// and so does a character after a backslash, except in a quoted name. `None` when it is never closed.
fn quoted_end(bytes: &[u8], from: usize) -> Option<usize> {
    let quote = bytes[from];
    let mut i = from + 1;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'\\' && quote != b'`' {
            i += 2;
        } else if b == quote {
            if bytes.get(i + 1) != Some(&quote) {
                return Some(i + 1);
            }
            i += 2;
        } else {
            i += 1;
        }
    }
    None
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

#[cfg(test)]
mod literal_tests {
    use super::{literals, placeholders};

    fn key(sql: &str) -> Option<String> {
        literals(sql).map(|l| l.key)
    }

    fn taken(sql: &str) -> Vec<&str> {
        literals(sql)
            .unwrap()
            .slots
            .into_iter()
            .map(|slot| &sql[slot])
            .collect()
    }

    #[test]
    fn statements_that_differ_only_in_plain_literals_share_a_key() {
        let a = "SELECT id FROM model_x WHERE id = 17 AND name = 'ant' LIMIT 5";
        let b = "SELECT id FROM model_x WHERE id = 180 AND name = 'a bee' LIMIT 50";
        assert_eq!(key(a), key(b));
        assert_eq!(
            key(a).unwrap(),
            "SELECT id FROM model_x WHERE id = ?n AND name = ?s LIMIT ?n"
        );
        assert_eq!(taken(a), ["17", "'ant'", "5"]);
        assert_eq!(taken("SELECT -2.50, x IN (1,2)"), ["2.50", "1", "2"]);
    }

    #[test]
    fn everything_but_plain_literals_stays_in_the_key() {
        for sql in [
            "SELECT t1.a, a1b FROM t1",
            "SELECT 1e3, 0x1F, X'FF', b'01', N'x', _utf8mb4'x', 12abc, t.5",
            "SELECT 'it''s', 'a\\'b', 'back\\\\slash'",
            "SELECT \"double 1\", `quoted 2`",
            "SELECT /* 1 'x' */ a -- 2 'y'\n FROM t # 3",
            "SELECT /*!50001 5 */ a",
            "SELECT @1, 'a'b, 5'x'",
            "SELECT 1.",
        ] {
            assert_eq!(key(sql).as_deref(), Some(sql), "{sql}");
        }
        assert_eq!(
            key("SELECT a IN (1, 2)"),
            Some("SELECT a IN (?n, ?n)".into())
        );
        assert_ne!(key("SELECT a IN (1, 2)"), key("SELECT a IN (1, 2, 3)"));
        assert_ne!(key("SELECT a = 1"), key("SELECT a = '1'"));
    }

    #[test]
    fn texts_with_a_question_mark_or_an_open_quote_are_not_keyed() {
        for sql in [
            "SELECT a FROM t WHERE b = ?",
            "SELECT 'what?'",
            "SELECT 'open",
            "SELECT `open",
            "SELECT /* open",
        ] {
            assert_eq!(key(sql), None, "{sql}");
        }
    }

    #[test]
    fn marked_statements_take_numbered_placeholders() {
        let sql = "SELECT a FROM t WHERE b = 'x' AND c IN (1, 22)";
        let literals = literals(sql).unwrap();
        let marked = literals.marked(sql);
        assert_eq!(marked, "SELECT a FROM t WHERE b = ?1 AND c IN (?2, ?3)");
        let found = placeholders(&marked, 3).unwrap();
        assert_eq!(found.iter().map(|(_, n)| *n).collect::<Vec<_>>(), [0, 1, 2]);
        assert_eq!(&marked[found[1].0.clone()], "?2");
    }

    #[test]
    fn placeholders_anywhere_but_in_the_open_refuse_the_template() {
        assert!(placeholders("SELECT ?2, ?1, ?1", 2).is_some());
        for sql in [
            "SELECT ?1 AS `?2`",
            "SELECT ?1, '?2'",
            "SELECT ?1 /* ?2 */",
            "SELECT ?1, ?",
            "SELECT ?1, ?3",
            "SELECT ?1",
        ] {
            assert_eq!(placeholders(sql, 2), None, "{sql}");
        }
    }
}
