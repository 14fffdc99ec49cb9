//! The load harness as a library: the soak (`sluice-loadtest soak`) and the connection-cost
//! measurement (`sluice-loadtest conns`), which the end-to-end tests also use.

pub mod conns;
pub mod process;
pub mod soak;
