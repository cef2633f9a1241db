//! `LOCK IN SHARE MODE`, the older spelling of `FOR SHARE` (the only one MariaDB reads), which sqlparser does not
//! parse: its four words become `FOR SHARE` in the token stream before parsing, so a model SELECT with either
//! spelling parses to the same locking clause. Strings, comments and quoted names are tokens of their own and
//! never match.

use sqlparser::keywords::Keyword;
use sqlparser::tokenizer::{Token, TokenWithSpan, Whitespace, Word};

/// The tokens with every `LOCK IN SHARE MODE` replaced by `FOR SHARE`.
pub fn normalize(tokens: Vec<TokenWithSpan>) -> Vec<TokenWithSpan> {
    if !(0..tokens.len()).any(|i| spelled_at(&tokens, i).is_some()) {
        return tokens;
    }
    let mut out = Vec::with_capacity(tokens.len());
    let mut i = 0;
    while i < tokens.len() {
        match spelled_at(&tokens, i) {
            Some((share, end)) => {
                let lock = &tokens[i];
                out.push(TokenWithSpan::new(
                    Token::Word(Word {
                        value: "FOR".to_string(),
                        quote_style: None,
                        keyword: Keyword::FOR,
                    }),
                    lock.span,
                ));
                out.push(TokenWithSpan::new(
                    Token::Whitespace(Whitespace::Space),
                    lock.span,
                ));
                out.push(tokens[share].clone());
                i = end;
            }
            None => {
                out.push(tokens[i].clone());
                i += 1;
            }
        }
    }
    out
}

/// If `LOCK IN SHARE MODE` starts at `start`: the index of its SHARE token and the index just past MODE.
fn spelled_at(tokens: &[TokenWithSpan], start: usize) -> Option<(usize, usize)> {
    let mut at = start;
    let mut share = 0;
    for (n, expected) in ["LOCK", "IN", "SHARE", "MODE"].iter().enumerate() {
        if n > 0 {
            at += 1;
            while matches!(tokens.get(at).map(|t| &t.token), Some(Token::Whitespace(_))) {
                at += 1;
            }
        }
        match tokens.get(at).map(|t| &t.token) {
            Some(Token::Word(w))
                if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(expected) => {}
            _ => return None,
        }
        if n == 2 {
            share = at;
        }
    }
    Some((share, at + 1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlparser::dialect::MySqlDialect;
    use sqlparser::parser::Parser;
    use sqlparser::tokenizer::Tokenizer;

    fn parsed(sql: &str) -> String {
        let tokens = Tokenizer::new(&MySqlDialect {}, sql)
            .tokenize_with_location()
            .unwrap();
        Parser::new(&MySqlDialect {})
            .with_tokens_with_locations(normalize(tokens))
            .parse_statements()
            .unwrap()
            .remove(0)
            .to_string()
    }

    #[test]
    fn lock_in_share_mode_reads_as_for_share() {
        assert_eq!(
            parsed("SELECT a FROM model_x WHERE a > 1 lock  in\nshare MODE"),
            "SELECT a FROM model_x WHERE a > 1 FOR SHARE"
        );
        assert_eq!(
            parsed("SELECT 'LOCK IN SHARE MODE', `lock` FROM t"),
            "SELECT 'LOCK IN SHARE MODE', `lock` FROM t"
        );
    }
}
