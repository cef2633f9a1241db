//! Printing a rewritten statement whose outermost locking clause is a plain shared lock as `LOCK IN SHARE MODE`,
//! the spelling both engines read (MariaDB has no `FOR SHARE`; MySQL 8 reads both). sqlparser prints only
//! `FOR SHARE`, so the clause is taken off the query and its fixed words are written after it, which is where
//! the clause stands in a SELECT. `FOR SHARE OF …`, `NOWAIT` and `SKIP LOCKED` are MySQL's alone and are printed
//! as written, for the backend to accept or refuse.

use sqlparser::ast::{LockClause, LockType, Statement};

/// The backend SQL of a rewritten statement.
pub fn print(statement: &Statement) -> String {
    if let Statement::Query(query) = statement {
        let plain_share = matches!(
            query.locks.as_slice(),
            [LockClause {
                lock_type: LockType::Share,
                of: None,
                nonblock: None,
            }]
        );
        if plain_share {
            let mut query = query.clone();
            query.locks.clear();
            return format!("{query} LOCK IN SHARE MODE");
        }
    }
    statement.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlparser::dialect::MySqlDialect;
    use sqlparser::parser::Parser;

    fn printed(sql: &str) -> String {
        print(&Parser::parse_sql(&MySqlDialect {}, sql).unwrap().remove(0))
    }

    #[test]
    fn a_plain_shared_lock_is_spelled_for_both_engines() {
        assert_eq!(
            printed("SELECT a FROM t ORDER BY a LIMIT 2 FOR SHARE"),
            "SELECT a FROM t ORDER BY a LIMIT 2 LOCK IN SHARE MODE"
        );
        assert_eq!(
            printed("SELECT a FROM t FOR UPDATE"),
            "SELECT a FROM t FOR UPDATE"
        );
        assert_eq!(
            printed("SELECT a FROM t FOR SHARE NOWAIT"),
            "SELECT a FROM t FOR SHARE NOWAIT"
        );
    }
}
