//! `credcycle diagram`: the lifecycle's state diagram, generated from the core's transition table.

use clap::ValueEnum;

use crate::Failure;

/// Print the state diagram of the credential lifecycle.
///
/// The diagram is generated from the transition table of credcycle-core, which tests check
/// against the behaviour of the real state machine.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  credcycle diagram > lifecycle.mmd\n  credcycle diagram --format dot | dot -Tsvg > lifecycle.svg"
)]
pub(crate) struct Args {
    /// Output format.
    #[arg(long, value_enum, default_value_t = DiagramFormat::Mermaid)]
    format: DiagramFormat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum DiagramFormat {
    /// Mermaid `stateDiagram-v2` (renders on GitHub).
    Mermaid,
    /// Graphviz `dot`.
    Dot,
}

pub(crate) fn run(args: &Args) -> Result<(), Failure> {
    let text = match args.format {
        DiagramFormat::Mermaid => credcycle_core::table::mermaid(),
        DiagramFormat::Dot => credcycle_core::table::dot(),
    };
    crate::stdout::write(&text)
}
