//! Recipients, streamed: inline rows and CSV files are read one row at a
//! time, never whole (a campaign can have a million rows, docs/design.md §7).

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::phone;
use super::types::RecipientSource;
use crate::diag::{Diagnostic, Location};

/// One recipient row: the normalized phone plus every column as text.
#[derive(Debug, Clone)]
pub struct Row {
    /// E.164 digits, no `+`.
    pub phone: String,
    header: Arc<[String]>,
    values: Vec<String>,
    pub location: Location,
}

impl Row {
    /// A column's value; `phone` answers with the digits.
    pub fn get(&self, column: &str) -> Option<&str> {
        if column == "phone" {
            return Some(&self.phone);
        }
        self.header
            .iter()
            .position(|h| h == column)
            .and_then(|i| self.values.get(i))
            .map(String::as_str)
    }
}

/// The columns a source provides, read without reading its rows.
pub fn columns(source: &RecipientSource, base_dir: &Path) -> Result<Vec<String>, String> {
    match source {
        RecipientSource::Row(row) => Ok(row.keys().cloned().collect()),
        RecipientSource::Csv(csv) => {
            let path = base_dir.join(&csv.csv);
            let mut reader = open_csv(&path)?;
            let header = reader
                .headers()
                .map_err(|e| format!("cannot read the header row of {}: {e}", path.display()))?;
            Ok(header.iter().map(|h| h.trim().to_string()).collect())
        }
    }
}

fn open_csv(path: &Path) -> Result<csv::Reader<BufReader<File>>, String> {
    let file = File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    Ok(csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .trim(csv::Trim::All)
        .from_reader(BufReader::with_capacity(1 << 16, file)))
}

/// Streams the rows of one source. Each item is a row or a diagnostic for a
/// row that cannot be used (bad phone, wrong field count); reading goes on.
pub fn stream(
    source: &RecipientSource,
    base_dir: &Path,
    source_location: Option<Location>,
) -> Box<dyn Iterator<Item = Result<Row, Diagnostic>> + Send> {
    match source {
        RecipientSource::Row(cells) => {
            let location = source_location.unwrap_or_else(|| Location::new(Arc::from("?"), 0, 0));
            let header: Arc<[String]> = cells.keys().cloned().collect::<Vec<_>>().into();
            let values: Vec<String> = cells.values().map(|v| v.to_string()).collect();
            let item = match cells.get("phone") {
                None => Err(Diagnostic::error("recipient row has no `phone`")
                    .at(location)
                    .help("add `phone: \"+15551234567\"` to the row")),
                Some(raw) => match phone::normalize(&raw.to_string()) {
                    Ok(phone) => Ok(Row {
                        phone,
                        header,
                        values,
                        location,
                    }),
                    Err(msg) => Err(Diagnostic::error(msg)
                        .at(location)
                        .help("write phones in E.164: `+`, country code, number")),
                },
            };
            Box::new(std::iter::once(item))
        }
        RecipientSource::Csv(csv) => {
            let path = base_dir.join(&csv.csv);
            Box::new(CsvRows::open(path, source_location))
        }
    }
}

struct CsvRows {
    reader: Option<csv::Reader<BufReader<File>>>,
    header: Arc<[String]>,
    phone_index: usize,
    file: Arc<str>,
    pending: Option<Diagnostic>,
    record: csv::StringRecord,
}

impl CsvRows {
    fn open(path: PathBuf, at: Option<Location>) -> CsvRows {
        let file: Arc<str> = Arc::from(path.display().to_string());
        let mut rows = CsvRows {
            reader: None,
            header: Arc::from(Vec::new()),
            phone_index: 0,
            file: file.clone(),
            pending: None,
            record: csv::StringRecord::new(),
        };
        let fail = |msg: String, help: &str| {
            let mut d = Diagnostic::error(msg).help(help.to_string());
            if let Some(at) = &at {
                d = d.at(at.clone());
            }
            d
        };
        let mut reader = match open_csv(&path) {
            Ok(r) => r,
            Err(msg) => {
                rows.pending = Some(fail(
                    msg,
                    "the csv path is relative to the config file's folder",
                ));
                return rows;
            }
        };
        let header: Vec<String> = match reader.headers() {
            Ok(h) => h.iter().map(|s| s.trim().to_string()).collect(),
            Err(e) => {
                rows.pending = Some(fail(
                    format!("cannot read the header row of {file}: {e}"),
                    "the first line must name the columns, e.g. `phone,fname`",
                ));
                return rows;
            }
        };
        match header.iter().position(|h| h == "phone") {
            Some(i) => rows.phone_index = i,
            None => {
                rows.pending = Some(
                    Diagnostic::error(format!("{file} has no `phone` column"))
                        .at(Location::new(file.clone(), 1, 1))
                        .help("the header row must include a column named `phone`"),
                );
                return rows;
            }
        }
        rows.header = header.into();
        rows.reader = Some(reader);
        rows
    }
}

impl Iterator for CsvRows {
    type Item = Result<Row, Diagnostic>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(diag) = self.pending.take() {
            return Some(Err(diag));
        }
        let reader = self.reader.as_mut()?;
        match reader.read_record(&mut self.record) {
            Ok(false) => {
                self.reader = None;
                None
            }
            Ok(true) => {
                let line = self.record.position().map_or(0, |p| p.line() as usize);
                let location = Location::new(self.file.clone(), line, 1);
                let raw = self.record.get(self.phone_index).unwrap_or("");
                Some(match phone::normalize(raw) {
                    Ok(phone) => Ok(Row {
                        phone,
                        header: self.header.clone(),
                        values: self.record.iter().map(str::to_string).collect(),
                        location,
                    }),
                    Err(msg) => Err(Diagnostic::error(msg)
                        .at(location)
                        .help("write phones in E.164: `+`, country code, number")),
                })
            }
            Err(err) => {
                let line = err.position().map_or(0, |p| p.line() as usize);
                // A malformed record is reported and skipped; an IO error ends the file.
                if !matches!(err.kind(), csv::ErrorKind::UnequalLengths { .. }) {
                    self.reader = None;
                }
                Some(Err(Diagnostic::error(format!("{}: {err}", self.file))
                    .at(Location::new(self.file.clone(), line.max(1), 1))
                    .help("every row needs as many fields as the header row")))
            }
        }
    }
}
