//! SQL `LIKE` matching for the `LIKE 'pattern'` of SHOW statements: `%` any run, `_` one character,
//! backslash escaping the next character.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Any,
    One,
    Char(char),
}

fn tokens(pattern: &str, fold: bool) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        tokens.push(match c {
            '%' => Token::Any,
            '_' => Token::One,
            // A trailing backslash matches itself, as in MySQL.
            '\\' => Token::Char(chars.next().map_or('\\', |n| fold_char(n, fold))),
            other => Token::Char(fold_char(other, fold)),
        });
    }
    tokens
}

fn fold_char(c: char, fold: bool) -> char {
    if fold {
        c.to_lowercase().next().unwrap_or(c)
    } else {
        c
    }
}

/// Whether `text` matches `pattern`; `case_insensitive` folds both sides to lower case first.
pub fn like(pattern: &str, text: &str, case_insensitive: bool) -> bool {
    let pattern = tokens(pattern, case_insensitive);
    let text: Vec<char> = text
        .chars()
        .map(|c| fold_char(c, case_insensitive))
        .collect();
    // Greedy matching with one backtrack point: the latest `%` and where its run currently ends.
    let (mut p, mut t) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(Token::Any) => {
                backtrack = Some((p, t));
                p += 1;
            }
            Some(Token::One) => {
                p += 1;
                t += 1;
            }
            Some(Token::Char(c)) if *c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match backtrack {
                Some((star, start)) => {
                    p = star + 1;
                    t = start + 1;
                    backtrack = Some((star, start + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|token| *token == Token::Any)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(like("model_%", "model_company", false));
        assert!(like("%", "", false));
        assert!(like("%pan%", "company", false));
        assert!(like("c_mpany", "company", false));
        assert!(!like("c_mpany", "cmpany", false));
        assert!(like("%a%b%c", "xxaxxbxxc", false));
        assert!(!like("%a%b%c", "xxaxxbxxcx", false));
        assert!(like("a%%b", "ab", false));
        assert!(!like("", "a", false));
        assert!(like("", "", false));
    }

    #[test]
    fn escapes() {
        assert!(like("model\\_%", "model_company", false));
        assert!(!like("model\\_%", "modelXcompany", false));
        assert!(like("100\\%", "100%", false));
        assert!(!like("100\\%", "1000", false));
        assert!(like("a\\", "a\\", false));
    }

    #[test]
    fn case_folding() {
        assert!(like("NA%", "name", true));
        assert!(!like("NA%", "name", false));
        assert!(like("Ä%", "äpfel", true));
    }
}
