//! Offline replay (see ARCHITECTURE.md).
