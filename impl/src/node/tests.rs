//! Tests of the node runtime.
