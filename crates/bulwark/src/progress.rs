//! Progress reporters for the pipeline stages, drawn with indicatif on a
//! terminal and silent otherwise.

use indicatif::ProgressBar;

use crate::printer::Printer;

/// Progress of index downloads.
pub struct IndexProgress {
    bar: ProgressBar,
}

impl IndexProgress {
    pub fn new(printer: &Printer) -> Self {
        Self {
            bar: printer.bytes_bar("Indices", 0),
        }
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl bulwark_repo::Reporter for IndexProgress {
    fn on_index_start(&self, url: &str, size: u64) {
        self.bar.inc_length(size);
        if let Some(name) = url.rsplit("/dists/").next() {
            self.bar.set_message(name.to_string());
        }
    }
    fn on_index_progress(&self, bytes: u64) {
        self.bar.inc(bytes);
    }
}

/// Progress of .deb downloads.
pub struct FetchProgress {
    bar: ProgressBar,
}

impl FetchProgress {
    pub fn new(printer: &Printer) -> Self {
        Self {
            bar: printer.bytes_bar("Downloading", 0),
        }
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl bulwark_fetch::Reporter for FetchProgress {
    fn on_start(&self, _count: usize, bytes: u64) {
        self.bar.set_length(bytes);
    }
    fn on_progress(&self, bytes: u64) {
        self.bar.inc(bytes);
    }
    fn on_done(&self, name: &str) {
        self.bar.set_message(name.to_string());
    }
}
