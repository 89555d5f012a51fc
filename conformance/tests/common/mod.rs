//! Helpers shared by the test binaries of this directory.
// Each test binary compiles this module on its own and uses only part of it.
#![allow(dead_code)]

pub mod messages;
pub mod proptest_config;
