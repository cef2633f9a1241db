//! Driver chatter: the statements clients send on their own, answered or forwarded from one table.
//! This is the only place where SQL text is matched as text; everything else goes through sqlparser.

/// What to do with a recognised chatter statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chatter {
    /// Send to the backend session as it is, for every user: it reads or sets session state only.
    Forward,
    /// `SELECT CONNECTION_ID()`: the proxy's id, which `KILL` understands, not the backend thread's.
    ConnectionId,
    /// `SHOW WARNINGS`: the session's own list after a model write that warned, else the backend's.
    Warnings,
    /// `SHOW COUNT(*) WARNINGS` or `SELECT @@warning_count`, likewise; the column's name.
    WarningCount(&'static str),
}

/// Statement text, lower case and single-spaced (matched without case, whatever the spacing) → what to do with it.
const TABLE: &[(&str, Chatter)] = &[
    ("select @@version_comment limit 1", Chatter::Forward),
    ("select connection_id()", Chatter::ConnectionId),
    ("show warnings", Chatter::Warnings),
    ("show errors", Chatter::Forward),
    (
        "show count(*) warnings",
        Chatter::WarningCount("@@session.warning_count"),
    ),
    (
        "select @@warning_count",
        Chatter::WarningCount("@@warning_count"),
    ),
    (
        "select @@session.warning_count",
        Chatter::WarningCount("@@session.warning_count"),
    ),
    ("show count(*) errors", Chatter::Forward),
];

pub fn lookup(sql: &str) -> Option<Chatter> {
    // Whole statements only: a prefix match would let a second statement or a subquery ride along
    // (`SET NAMES utf8mb4, @x = (SELECT … FROM entry_data)`). Compared word by word, without copying the text:
    // every statement passes here, bulk INSERTs of megabytes too.
    let statement = statement(sql);
    // Every entry starts with SELECT or SHOW: anything else is rejected by its first word.
    let first = statement.split_ascii_whitespace().next()?;
    if !first.eq_ignore_ascii_case("select") && !first.eq_ignore_ascii_case("show") {
        return None;
    }
    TABLE
        .iter()
        .find(|(text, _)| {
            let mut expected = text.split(' ');
            let mut given = statement.split_ascii_whitespace();
            loop {
                match (expected.next(), given.next()) {
                    (None, None) => return true,
                    (Some(e), Some(g)) if e.eq_ignore_ascii_case(g) => {}
                    _ => return false,
                }
            }
        })
        .map(|(_, chatter)| *chatter)
}

/// Whether the statement is a SHOW, which reads tables of its own (and so starts a new diagnostics list).
pub fn is_show(sql: &str) -> bool {
    let mut words = statement(sql).split_ascii_whitespace();
    words.next().is_some_and(|w| w.eq_ignore_ascii_case("show")) && words.next().is_some()
}

/// The statement without leading `/* … */` comments (not `/*! … */`), surrounding whitespace or a trailing `;`.
fn statement(sql: &str) -> &str {
    let mut rest = sql.trim();
    while let Some(after) = rest.strip_prefix("/*") {
        if after.starts_with('!') {
            break;
        }
        match after.find("*/") {
            Some(end) => rest = after[end + 2..].trim_start(),
            None => break,
        }
    }
    rest.trim_end().trim_end_matches(';').trim_end()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_what_clients_send() {
        assert_eq!(
            lookup("select @@version_comment limit 1"),
            Some(Chatter::Forward)
        );
        assert_eq!(
            lookup("SELECT  @@version_comment\nLIMIT 1;"),
            Some(Chatter::Forward)
        );
        assert_eq!(
            lookup("/* ApplicationName=DBeaver */ SHOW WARNINGS"),
            Some(Chatter::Warnings)
        );
        assert_eq!(
            lookup("SELECT CONNECTION_ID()"),
            Some(Chatter::ConnectionId)
        );
        assert_eq!(lookup("SELECT 1"), None);
        assert_eq!(lookup("/*!40101 SET NAMES utf8 */"), None);
    }

    #[test]
    fn every_entry_starts_with_select_or_show() {
        // `lookup` rejects other statements by their first word.
        assert!(TABLE
            .iter()
            .all(|(text, _)| text.starts_with("select ") || text.starts_with("show ")));
    }

    #[test]
    fn nothing_rides_along_with_chatter() {
        assert_eq!(lookup("SET NAMES utf8mb4; SELECT * FROM entry_data"), None);
        assert_eq!(
            lookup("SET NAMES utf8mb4, @x = (SELECT fields FROM entry_data LIMIT 1)"),
            None
        );
        assert_eq!(lookup("SHOW WARNINGS; SELECT * FROM entry_data"), None);
    }
}
