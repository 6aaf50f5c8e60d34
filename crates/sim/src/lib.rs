//! IMDS simulator (in progress).
