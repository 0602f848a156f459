//! Tree → typed model.
