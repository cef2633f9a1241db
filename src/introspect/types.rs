//! Reading the backend's printed column types (`varchar(200)`, `int(10) unsigned`, `decimal(10,2)`): the base
//! type word and the lengths, precisions and scales information_schema.COLUMNS derives from them.

use crate::backend::Flavor;

/// The base type word: `varchar(200)` → `varchar`, `bigint(20) unsigned` → `bigint`.
pub fn data_type(column_type: &str) -> String {
    column_type
        .split(|c: char| c == '(' || c.is_whitespace())
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase()
}

/// The numbers in the type's parentheses: `decimal(10,2)` → `[10, 2]`; empty when there are none.
pub(super) fn arguments(column_type: &str) -> Vec<u64> {
    let Some((_, rest)) = column_type.split_once('(') else {
        return Vec::new();
    };
    let inside = rest.split(')').next().unwrap_or_default();
    inside
        .split(',')
        .filter_map(|n| n.trim().parse().ok())
        .collect()
}

pub fn is_character(data_type: &str) -> bool {
    matches!(data_type, "char" | "varchar") || is_text(data_type)
}

/// TEXT types: MySQL gives them no literal default, so SHOW CREATE TABLE prints no `DEFAULT NULL` for them.
pub fn is_text(data_type: &str) -> bool {
    matches!(data_type, "tinytext" | "text" | "mediumtext" | "longtext")
}

pub fn is_numeric(data_type: &str) -> bool {
    matches!(
        data_type,
        "tinyint"
            | "smallint"
            | "mediumint"
            | "int"
            | "integer"
            | "bigint"
            | "decimal"
            | "numeric"
            | "float"
            | "double"
    )
}

/// The character set a collation belongs to: `utf8mb4_bin` → `utf8mb4`.
pub fn charset(collation: &str) -> &str {
    collation.split('_').next().unwrap_or(collation)
}

/// Bytes per character at most, for CHARACTER_OCTET_LENGTH.
fn max_bytes(charset: &str) -> u64 {
    match charset {
        "latin1" | "ascii" | "binary" | "latin2" | "cp1250" | "cp1251" | "cp1252" => 1,
        "ucs2" => 2,
        "utf8" | "utf8mb3" => 3,
        _ => 4,
    }
}

/// The measures information_schema.COLUMNS reports for a type; `None` where the real table has NULL.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Measures {
    pub character_maximum_length: Option<u64>,
    pub character_octet_length: Option<u64>,
    pub numeric_precision: Option<u64>,
    pub numeric_scale: Option<u64>,
    pub datetime_precision: Option<u64>,
}

impl Measures {
    pub fn of(column_type: &str, collation: Option<&str>, flavor: Flavor) -> Measures {
        let base = data_type(column_type);
        let arguments = arguments(column_type);
        let unsigned = column_type.to_ascii_lowercase().contains("unsigned");
        let mut measures = Measures::default();
        match base.as_str() {
            "char" | "varchar" => {
                let length = arguments.first().copied().unwrap_or(1);
                let bytes = max_bytes(charset(collation.unwrap_or("utf8mb4")));
                measures.character_maximum_length = Some(length);
                measures.character_octet_length = Some(length * bytes);
            }
            text if is_text(text) => {
                let octets = match text {
                    "tinytext" => 255,
                    "text" => 65_535,
                    "mediumtext" => 16_777_215,
                    _ => 4_294_967_295,
                };
                let bytes = max_bytes(charset(collation.unwrap_or("utf8mb4")));
                // MariaDB reports TEXT lengths in bytes for both; MySQL divides by the character width.
                measures.character_maximum_length = Some(match flavor {
                    Flavor::MariaDb => octets,
                    Flavor::MySql => octets / bytes,
                });
                measures.character_octet_length = Some(octets);
            }
            "tinyint" | "smallint" | "mediumint" | "int" | "integer" | "bigint" => {
                measures.numeric_precision = Some(integer_precision(&base, unsigned));
                measures.numeric_scale = Some(0);
            }
            "decimal" | "numeric" => {
                measures.numeric_precision = Some(arguments.first().copied().unwrap_or(10));
                measures.numeric_scale = Some(arguments.get(1).copied().unwrap_or(0));
            }
            "float" | "double" => match arguments.as_slice() {
                [precision, scale] => {
                    measures.numeric_precision = Some(*precision);
                    measures.numeric_scale = Some(*scale);
                }
                _ => measures.numeric_precision = Some(if base == "float" { 12 } else { 22 }),
            },
            "datetime" | "timestamp" | "time" => {
                measures.datetime_precision = Some(arguments.first().copied().unwrap_or(0));
            }
            _ => {}
        }
        measures
    }
}

/// Decimal digits of an integer type, as information_schema reports them.
fn integer_precision(base: &str, unsigned: bool) -> u64 {
    match (base, unsigned) {
        ("tinyint", _) => 3,
        ("smallint", _) => 5,
        ("mediumint", false) => 7,
        ("mediumint", true) => 8,
        ("bigint", false) => 19,
        ("bigint", true) => 20,
        _ => 10,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_type_words() {
        assert_eq!(data_type("varchar(200)"), "varchar");
        assert_eq!(data_type("bigint(20) unsigned"), "bigint");
        assert_eq!(data_type("bigint unsigned"), "bigint");
        assert_eq!(data_type("datetime"), "datetime");
        assert!(is_character("longtext") && !is_character("json"));
        assert!(is_numeric("decimal") && !is_numeric("date"));
        assert_eq!(charset("utf8mb4_bin"), "utf8mb4");
    }

    #[test]
    fn measures_match_the_servers_information_schema() {
        let maria = |t: &str, c: Option<&str>| Measures::of(t, c, Flavor::MariaDb);
        let varchar = maria("varchar(200)", Some("utf8mb4_general_ci"));
        assert_eq!(varchar.character_maximum_length, Some(200));
        assert_eq!(varchar.character_octet_length, Some(800));
        assert_eq!(varchar.numeric_precision, None);
        let latin = maria("varchar(5)", Some("latin1_swedish_ci"));
        assert_eq!(latin.character_octet_length, Some(5));
        let int = maria("int(11)", None);
        assert_eq!(
            (int.numeric_precision, int.numeric_scale),
            (Some(10), Some(0))
        );
        assert_eq!(
            maria("bigint(20) unsigned", None).numeric_precision,
            Some(20)
        );
        assert_eq!(maria("bigint(20)", None).numeric_precision, Some(19));
        assert_eq!(
            maria("mediumint(8) unsigned", None).numeric_precision,
            Some(8)
        );
        let decimal = maria("decimal(10,2)", None);
        assert_eq!(
            (decimal.numeric_precision, decimal.numeric_scale),
            (Some(10), Some(2))
        );
        let double = maria("double", None);
        assert_eq!(
            (double.numeric_precision, double.numeric_scale),
            (Some(22), None)
        );
        assert_eq!(maria("float(7,3)", None).numeric_scale, Some(3));
        assert_eq!(maria("datetime", None).datetime_precision, Some(0));
        assert_eq!(maria("timestamp(6)", None).datetime_precision, Some(6));
        assert_eq!(maria("date", None), Measures::default());
        assert_eq!(maria("json", None), Measures::default());
    }

    #[test]
    fn text_lengths_differ_by_flavor() {
        let collation = Some("utf8mb4_general_ci");
        let maria = Measures::of("text", collation, Flavor::MariaDb);
        assert_eq!(maria.character_maximum_length, Some(65_535));
        assert_eq!(maria.character_octet_length, Some(65_535));
        let mysql = Measures::of("text", Some("utf8mb4_0900_ai_ci"), Flavor::MySql);
        assert_eq!(mysql.character_maximum_length, Some(16_383));
        assert_eq!(mysql.character_octet_length, Some(65_535));
    }
}
