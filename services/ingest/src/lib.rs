//! Ingest service.
