//! `SHOW` forms sqlparser reads only loosely (`SHOW INDEX`, `SHOW TABLE STATUS`), read here from its tokens.

use sqlparser::dialect::MySqlDialect;
use sqlparser::tokenizer::{Token, Tokenizer};

/// A `SHOW` statement the proxy may answer for virtual tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Show {
    /// `SHOW {INDEX | INDEXES | KEYS} {FROM | IN} t [{FROM | IN} db]`
    Index {
        table: String,
        database: Option<String>,
    },
    /// `SHOW TABLE STATUS [{FROM | IN} db] [LIKE 'pattern']`
    TableStatus {
        database: Option<String>,
        like: Option<String>,
    },
}

/// Reads one of the forms above; `None` for anything else (including a `WHERE` filter).
pub fn parse(sql: &str) -> Option<Show> {
    let tokens = Tokenizer::new(&MySqlDialect {}, sql).tokenize().ok()?;
    let words: Vec<Word> = tokens
        .into_iter()
        .filter(|t| !matches!(t, Token::Whitespace(_) | Token::SemiColon))
        .map(|t| match t {
            Token::Word(w) => Word::Name(w.value),
            Token::SingleQuotedString(s) | Token::DoubleQuotedString(s) => Word::Text(s),
            _ => Word::Other,
        })
        .collect();
    let upper = |w: &Word| match w {
        Word::Name(n) => n.to_ascii_uppercase(),
        _ => String::new(),
    };
    let keywords: Vec<String> = words.iter().map(upper).collect();
    let key = |i: usize| keywords.get(i).map(String::as_str).unwrap_or("");
    let name = |i: usize| match words.get(i) {
        Some(Word::Name(n)) => Some(n.clone()),
        _ => None,
    };
    if key(0) != "SHOW" {
        return None;
    }
    let from = |k: &str| k == "FROM" || k == "IN";
    match (key(1), key(2)) {
        ("INDEX" | "INDEXES" | "KEYS", k) if from(k) => {
            let table = name(3)?;
            let database = match words.len() {
                4 => None,
                6 if from(key(4)) => Some(name(5)?),
                _ => return None,
            };
            Some(Show::Index { table, database })
        }
        ("TABLE", "STATUS") => {
            let mut at = 3;
            let mut database = None;
            if from(key(at)) {
                database = Some(name(at + 1)?);
                at += 2;
            }
            let like = match (key(at), words.get(at + 1)) {
                ("", None) => None,
                ("LIKE", Some(Word::Text(pattern))) if words.len() == at + 2 => {
                    Some(pattern.clone())
                }
                _ => return None,
            };
            Some(Show::TableStatus { database, like })
        }
        _ => None,
    }
}

enum Word {
    Name(String),
    Text(String),
    Other,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_show_index_and_table_status() {
        assert_eq!(
            parse("SHOW INDEX FROM model_x"),
            Some(Show::Index {
                table: "model_x".into(),
                database: None
            })
        );
        assert_eq!(
            parse("show keys in `model_x` from app;"),
            Some(Show::Index {
                table: "model_x".into(),
                database: Some("app".into())
            })
        );
        assert_eq!(
            parse("SHOW TABLE STATUS"),
            Some(Show::TableStatus {
                database: None,
                like: None
            })
        );
        assert_eq!(
            parse("SHOW TABLE STATUS FROM app LIKE 'model\\_%'"),
            Some(Show::TableStatus {
                database: Some("app".into()),
                like: Some("model\\_%".into())
            })
        );
        assert_eq!(parse("SHOW TABLE STATUS WHERE Name = 'x'"), None);
        assert_eq!(parse("SHOW INDEX FROM model_x WHERE Key_name = 'x'"), None);
        assert_eq!(parse("SELECT 1"), None);
    }
}
