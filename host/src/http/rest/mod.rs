//! The REST adapters: HTTP requests decoded into service calls, service results and
//! errors encoded as JSON and RFC 9457 problems (docs/api.md).

// A `Problem` is only built on the error path, which allocates and serialises anyway;
// boxing it would add an allocation to every error for no gain.
#![allow(clippy::result_large_err)]

pub mod billing;
pub mod decode;
pub mod prompts;
pub mod users;
