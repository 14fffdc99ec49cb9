//! Unit tests of modules added to the patched Pingora copy (`vendor/`), run here because the
//! vendored crates are not workspace members (their dev-dependencies would join the lock file).
//! Each module is compiled on its own, with its `#[cfg(test)]` tests.

#[path = "../../vendor/pingora-core/src/protocols/l4/lazy_writer.rs"]
#[allow(dead_code)]
mod lazy_writer;
