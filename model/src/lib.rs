//! The stateright model of Raft with snapshots (being written).
