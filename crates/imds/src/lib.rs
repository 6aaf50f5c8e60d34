//! IMDS adapter (in progress).
