//! Cross-checks between `raft-impl`'s core and `raft-model` (`docs/conformance.md`):
//!
//! - [`sim`]: a deterministic simulator of a cluster of real cores under faults, with the
//!   safety invariants ([`invariants`]) checked after every step;
//! - [`mapping`] + [`validate`]: trace validation, impl -> model: every simulator step must
//!   be a step (or a documented composition of steps) the model takes to exactly the
//!   mapped next state;
//! - [`drive`]: model-driven tests, model -> impl: paths of the model replayed on cores.

#![warn(missing_docs)]

pub mod cluster;
pub mod drive;
pub mod invariants;
pub mod mapping;
pub mod service;
pub mod sim;
pub mod validate;
