//! Recipients, streamed: inline rows and CSV files are read one row at a
//! time, never whole (a campaign can have a million rows, docs/design.md §7).

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::phone;
use super::types::RecipientSource;
use crate::diag::{Diagnostic, Location};
use crate::limits::MAX_CSV_ROW_BYTES;

/// One recipient row: the normalized phone plus every column as text.
#[derive(Debug, Clone)]
pub struct Row {
    /// E.164 digits, no `+`.
    pub(crate) phone: String,
    header: Arc<[String]>,
    values: Vec<String>,
    pub(crate) location: Location,
}

impl Row {
    /// A column's value; `phone` answers with the digits.
    pub(crate) fn get(&self, column: &str) -> Option<&str> {
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
            let (mut reader, _) = open_csv(&path)?;
            let header = reader
                .headers()
                .map_err(|e| format!("cannot read the header row of {}: {e}", path.display()))?
                .clone();
            if reader.position().byte() > MAX_CSV_ROW_BYTES as u64 {
                return Err(row_too_long(&Arc::from(path.display().to_string()), 1).summary);
            }
            Ok(header.iter().map(|h| h.trim().to_string()).collect())
        }
    }
}

/// The CSV reader of a recipients file: a regular file (not a FIFO, not
/// `/dev/zero`) whose rows are bounded by [`RowBound`].
type CsvReader = csv::Reader<RowBound<File>>;

fn open_csv(path: &Path) -> Result<(CsvReader, Arc<AtomicU64>), String> {
    let file = crate::limits::open_regular(path)
        .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let row_start = Arc::new(AtomicU64::new(0));
    let bounded = RowBound {
        inner: file,
        read: 0,
        row_start: row_start.clone(),
    };
    let reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .trim(csv::Trim::All)
        .buffer_capacity(CSV_BUFFER)
        .from_reader(bounded);
    Ok((reader, row_start))
}

/// The CSV reader's own buffer.
const CSV_BUFFER: usize = 1 << 16;

/// A reader that fails once the row being parsed has grown past
/// [`MAX_CSV_ROW_BYTES`] (plus what the CSV reader buffers ahead): the csv
/// crate grows a record without limit, so a 1 GB line held gigabytes.
/// `row_start` is the byte offset where the current row began, kept up to
/// date by the row iterator.
struct RowBound<R> {
    inner: R,
    read: u64,
    row_start: Arc<AtomicU64>,
}

impl<R: Read> Read for RowBound<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let row = self
            .read
            .saturating_sub(self.row_start.load(Ordering::Relaxed));
        if row > (MAX_CSV_ROW_BYTES + CSV_BUFFER) as u64 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                RowTooLong,
            ));
        }
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        Ok(n)
    }
}

/// The error [`RowBound`] raises.
#[derive(Debug)]
struct RowTooLong;

impl std::fmt::Display for RowTooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "a row is longer than {} KB", MAX_CSV_ROW_BYTES >> 10)
    }
}

impl std::error::Error for RowTooLong {}

fn row_too_long(file: &Arc<str>, line: u64) -> Diagnostic {
    Diagnostic::error(format!(
        "{file}: the row at line {line} is longer than {} KB",
        MAX_CSV_ROW_BYTES >> 10
    ))
    .at(Location::new(file.clone(), line.max(1) as usize, 1))
    .help("a recipients row holds a phone and a few columns; check the file is the CSV you meant (a binary file has no line breaks)")
}

fn is_row_too_long(err: &csv::Error) -> bool {
    match err.kind() {
        csv::ErrorKind::Io(io) => io
            .get_ref()
            .is_some_and(|inner| inner.downcast_ref::<RowTooLong>().is_some()),
        _ => false,
    }
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
    reader: Option<CsvReader>,
    /// Where the row being read began (shared with the reader's [`RowBound`]).
    row_start: Arc<AtomicU64>,
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
            row_start: Arc::new(AtomicU64::new(0)),
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
            Ok((r, row_start)) => {
                rows.row_start = row_start;
                r
            }
            Err(msg) => {
                rows.pending = Some(fail(
                    msg,
                    "the csv path is relative to the config file's folder",
                ));
                return rows;
            }
        };
        let header: Vec<String> = match reader.headers().cloned() {
            Ok(_) if reader.position().byte() > MAX_CSV_ROW_BYTES as u64 => {
                rows.pending = Some(row_too_long(&file, 1));
                return rows;
            }
            Ok(h) => h.iter().map(|s| s.trim().to_string()).collect(),
            Err(e) if is_row_too_long(&e) => {
                rows.pending = Some(row_too_long(&file, 1));
                return rows;
            }
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
        rows.row_start
            .store(reader.position().byte(), Ordering::Relaxed);
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
        let result = reader.read_record(&mut self.record);
        let start = self
            .row_start
            .swap(reader.position().byte(), Ordering::Relaxed);
        match result {
            Ok(false) => {
                self.reader = None;
                None
            }
            Ok(true) if reader.position().byte() - start > MAX_CSV_ROW_BYTES as u64 => {
                let line = self.record.position().map_or(0, |p| p.line());
                Some(Err(row_too_long(&self.file, line)))
            }
            Err(err) if is_row_too_long(&err) => {
                let line = reader.position().line();
                self.reader = None;
                Some(Err(row_too_long(&self.file, line)))
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
