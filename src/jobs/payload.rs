//! Import input (NDJSON, CSV with a header row, or one JSON array), read as a stream of rows, and the import
//! artifact's own line format: one JSON value per line — an object for a row, a string for an input row that
//! could not be read (the reason), so the Reconciler dead-letters it with its row number.

use std::io::{BufRead, Read};

use serde::de::{Deserializer, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// The input formats `stardust import` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One JSON object per line; blank lines are skipped.
    Ndjson,
    /// A header row of column names, then one row per record; an empty cell is NULL.
    Csv,
    /// One JSON array of objects.
    Json,
}

/// One input row: its fields, or why it could not be read.
pub type Row = Result<Map<String, Value>, String>;

/// Reads `input` row by row, calling `each` for every row in order (never holding more than one). An error
/// that ends the input (unreadable bytes, a JSON array cut short) is returned after the rows before it.
pub fn read(
    input: impl Read,
    format: Format,
    mut each: impl FnMut(Row) -> Result<(), String>,
) -> Result<(), String> {
    match format {
        Format::Ndjson => {
            let reader = std::io::BufReader::with_capacity(1 << 20, input);
            for line in reader.lines() {
                let line = line.map_err(|e| format!("cannot read the input: {e}"))?;
                if line.trim().is_empty() {
                    continue;
                }
                each(object(
                    serde_json::from_str(&line).map_err(|e| e.to_string()),
                ))?;
            }
            Ok(())
        }
        Format::Csv => {
            let mut reader = csv::ReaderBuilder::new()
                .has_headers(true)
                .from_reader(input);
            let headers = reader
                .headers()
                .map_err(|e| format!("cannot read the CSV header row: {e}"))?
                .clone();
            for record in reader.records() {
                let row = match record {
                    Ok(record) => Ok(headers
                        .iter()
                        .zip(record.iter())
                        .map(|(name, cell)| {
                            let value = if cell.is_empty() {
                                Value::Null
                            } else {
                                Value::String(cell.to_string())
                            };
                            (name.to_string(), value)
                        })
                        .collect()),
                    Err(e) if e.is_io_error() => return Err(format!("cannot read the input: {e}")),
                    Err(e) => Err(e.to_string()),
                };
                each(row)?;
            }
            Ok(())
        }
        Format::Json => {
            let mut deserializer = serde_json::Deserializer::from_reader(
                std::io::BufReader::with_capacity(1 << 20, input),
            );
            let mut failed = None;
            let outcome = (&mut deserializer).deserialize_seq(Elements {
                each: &mut each,
                failed: &mut failed,
            });
            if let Some(message) = failed {
                return Err(message);
            }
            outcome.map_err(|e| format!("the input is not one JSON array of objects: {e}"))?;
            deserializer
                .end()
                .map_err(|e| format!("text after the JSON array: {e}"))
        }
    }
}

fn object(value: Result<Value, String>) -> Row {
    match value? {
        Value::Object(fields) => Ok(fields),
        other => Err(format!("not a JSON object: {}", kind(&other))),
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Streams a JSON array's elements to the callback, one at a time.
struct Elements<'a, F> {
    each: &'a mut F,
    failed: &'a mut Option<String>,
}

impl<'de, F: FnMut(Row) -> Result<(), String>> Visitor<'de> for Elements<'_, F> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON array of objects")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(element) = seq.next_element::<Value>()? {
            if let Err(e) = (self.each)(object(Ok(element))) {
                *self.failed = Some(e);
                return Err(serde::de::Error::custom("stopped"));
            }
        }
        Ok(())
    }
}

/// A row as one line of the import artifact (without the newline).
pub fn line(row: &Row) -> String {
    match row {
        Ok(fields) => Value::Object(fields.clone()).to_string(),
        Err(reason) => Value::String(reason.clone()).to_string(),
    }
}

/// One artifact line read back: the row, or the reason it was not readable.
pub fn parse_line(line: &str) -> Row {
    match serde_json::from_str::<Value>(line) {
        Ok(Value::String(reason)) => Err(reason),
        other => object(other.map_err(|e| e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(text: &str, format: Format) -> (Vec<Row>, Result<(), String>) {
        let mut rows = Vec::new();
        let outcome = read(text.as_bytes(), format, |row| {
            rows.push(row);
            Ok(())
        });
        (rows, outcome)
    }

    #[test]
    fn ndjson_reads_objects_and_reports_bad_lines_in_place() {
        let (rows, outcome) = rows("{\"a\":1}\n\nnot json\n[1]\n{\"a\":null}\n", Format::Ndjson);
        outcome.unwrap();
        assert_eq!(rows.len(), 4, "blank lines are not rows");
        assert_eq!(rows[0].as_ref().unwrap()["a"], 1);
        assert!(rows[1].as_ref().unwrap_err().contains("expected ident"));
        assert_eq!(rows[2].as_ref().unwrap_err(), "not a JSON object: an array");
        assert!(rows[3].as_ref().unwrap()["a"].is_null());
    }

    #[test]
    fn csv_maps_the_header_and_reads_empty_cells_as_null() {
        let (rows, outcome) = rows("name,n\r\n\"a, b\",1\r\nc,\r\nd,2,extra\r\n", Format::Csv);
        outcome.unwrap();
        assert_eq!(rows[0].as_ref().unwrap()["name"], "a, b");
        assert_eq!(rows[0].as_ref().unwrap()["n"], "1");
        assert!(rows[1].as_ref().unwrap()["n"].is_null());
        assert!(
            rows[2].as_ref().unwrap_err().contains("fields"),
            "{:?}",
            rows[2]
        );
    }

    #[test]
    fn a_json_array_streams_its_elements() {
        let (rows, outcome) = rows("[{\"a\": \"x\"}, 3, {\"b\": [1]}]", Format::Json);
        outcome.unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[1].as_ref().unwrap_err(), "not a JSON object: a number");
        let (_, outcome) = rows_of("{\"a\": 1}");
        assert!(outcome.unwrap_err().contains("JSON array"));
        let (rows, outcome) = rows_of("[{\"a\": 1}, {\"a\"");
        assert_eq!(rows.len(), 1, "the rows before the break are kept");
        assert!(outcome.is_err());
    }

    fn rows_of(text: &str) -> (Vec<Row>, Result<(), String>) {
        rows(text, Format::Json)
    }

    #[test]
    fn artifact_lines_round_trip_rows_and_reasons() {
        let row: Row = Ok(serde_json::from_str("{\"a\":\"x\\ny\",\"b\":1.5}").unwrap());
        assert_eq!(parse_line(&line(&row)), row);
        let bad: Row = Err("row is broken".to_string());
        assert_eq!(parse_line(&line(&bad)), bad);
        assert!(!line(&row).contains('\n'), "one line per row");
    }
}
