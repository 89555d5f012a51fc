//! Conformance between raft-impl and raft-model (being written).
