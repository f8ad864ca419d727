//! Pulse scoring core (see ARCHITECTURE.md).
