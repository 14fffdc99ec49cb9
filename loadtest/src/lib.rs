//! The load harness as a library: the soak (`sluice-loadtest soak`), the connection-cost
//! measurement (`sluice-loadtest conns`), which the end-to-end tests also use, and the HTTP/1
//! answer reader the harness's clients share.

pub mod conns;
pub mod http1;
pub mod process;
pub mod soak;
