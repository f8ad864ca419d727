//! Shared runtime plumbing.
