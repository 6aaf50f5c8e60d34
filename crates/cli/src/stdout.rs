//! Writing a subcommand's result to stdout without panicking when the reader has gone.

use std::io::{ErrorKind, Write as _};

use crate::Failure;

/// Writes `text` to stdout and flushes it. A closed stdout (`credcycle check | head -3`) is not
/// a failure: the reader has what it wanted, so the rest is dropped quietly (`print!` would
/// panic instead). Any other write error is a one-line failure.
pub(crate) fn write(text: &str) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != ErrorKind::BrokenPipe => {
            Err(Failure(format!("cannot write to stdout: {e}")))
        }
        _ => Ok(()),
    }
}
