//! The load harness as a library: the soak (`sluice-loadtest soak`), which the end-to-end tests
//! also run at CI size.

pub mod soak;
