//! The prompt REST API over real TLS against the real binary and plugins, on the embedded
//! backend. The test bodies are in tests/rest_suite.rs (shared with tests/aws_api.rs).

use crate::common;
use crate::rest_suite;

use common::Server;
use rest_suite::Api;

rest_suite!(|| Api::new(Server::start()));
