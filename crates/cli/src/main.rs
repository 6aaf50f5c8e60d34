//! The credcycle command (in progress).
fn main() {}
