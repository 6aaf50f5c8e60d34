//! The formal model (in progress).
