//! Diagnostics and editor features.
