//! The store's error.

use std::fmt;

/// A storage failure. The text is for logs, never for API callers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreError(String);

impl StoreError {
    pub(crate) fn new(message: String) -> StoreError {
        StoreError(message)
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "store: {}", self.0)
    }
}

impl std::error::Error for StoreError {}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> StoreError {
        StoreError(e.to_string())
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> StoreError {
        StoreError(format!("stored document is not valid JSON: {e}"))
    }
}

impl From<tessera_durable::CommitFailed> for StoreError {
    fn from(e: tessera_durable::CommitFailed) -> StoreError {
        StoreError(e.to_string())
    }
}
