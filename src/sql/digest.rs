//! A statement's digest, for logs: the SHA-256 of its text with every literal replaced by `?`, keywords upper
//! case and whitespace and comments dropped — the same for every execution of one statement shape, and free of
//! the values (and passwords) the text held.

use sha2::{Digest, Sha256};
use sqlparser::dialect::MySqlDialect;
use sqlparser::tokenizer::{Token, Tokenizer};

/// The digest as 64 lower-case hex digits. Text the tokenizer cannot read is digested as one `?`-free token
/// stream up to the failure, so a digest exists for every statement.
pub fn digest(sql: &str) -> String {
    let normalized = normalize(sql);
    let hash = Sha256::digest(normalized.as_bytes());
    super::hex(&hash).to_ascii_lowercase()
}

/// The text the digest is taken of.
pub fn normalize(sql: &str) -> String {
    let tokens = Tokenizer::new(&MySqlDialect {}, sql)
        .tokenize()
        .unwrap_or_default();
    let mut out = String::with_capacity(sql.len().min(1024));
    for token in tokens {
        let piece = match token {
            Token::Whitespace(_) => continue,
            Token::Number(..)
            | Token::SingleQuotedString(_)
            | Token::DoubleQuotedString(_)
            | Token::TripleSingleQuotedString(_)
            | Token::TripleDoubleQuotedString(_)
            | Token::NationalStringLiteral(_)
            | Token::EscapedStringLiteral(_)
            | Token::UnicodeStringLiteral(_)
            | Token::HexStringLiteral(_)
            | Token::SingleQuotedByteStringLiteral(_)
            | Token::DoubleQuotedByteStringLiteral(_)
            | Token::SingleQuotedRawStringLiteral(_)
            | Token::DoubleQuotedRawStringLiteral(_) => "?".to_string(),
            // MySQL reads "…" as a string unless sql_mode has ANSI_QUOTES: a value, never printed.
            Token::Word(word) if word.quote_style == Some('"') => "?".to_string(),
            Token::Word(word) if word.quote_style.is_none() => word.value.to_ascii_uppercase(),
            other => other.to_string(),
        };
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&piece);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_and_spacing_do_not_change_the_digest() {
        let a = digest("SELECT * FROM model_x WHERE name = 'secret' AND n > 42");
        let b = digest("select *  from model_x\n where name = 'other' and n > 7 -- comment");
        assert_eq!(a, b);
        assert_eq!(a.len(), 64);
        assert_ne!(a, digest("SELECT * FROM model_x WHERE name = 'secret'"));
    }

    #[test]
    fn the_normal_form_holds_no_value() {
        let normal = normalize(
            "CREATE USER u IDENTIFIED BY 'hunter2'; INSERT INTO t VALUES (1, X'FF', \"s\")",
        );
        assert!(!normal.contains("hunter2"), "{normal}");
        assert_eq!(
            normal,
            "CREATE USER U IDENTIFIED BY ? ; INSERT INTO T VALUES ( ? , ? , ? )"
        );
    }
}
