//! `raft-model`: check, explore, and list the bug variants of the Raft model.
fn main() -> std::process::ExitCode {
    raft_model::cli::main()
}
