//! The black-box REST suite (tests/rest_suite.rs) on the aws backend: DynamoDB and S3 in a
//! real `moto_server`, each test with its own tables and buckets created by
//! `mcp-prompts aws bootstrap`.

use crate::common;
use crate::rest_suite;

use common::Server;
use common::moto::AwsEnv;
use rest_suite::Api;

fn aws_api() -> Api {
    let aws = AwsEnv::new();
    let config = aws.config("");
    let (code, out, err) = aws.bootstrap(&config);
    assert_eq!(code, 0, "bootstrap failed:\n{out}\n{err}");
    Api::new(Server::start_with_env(&config, aws.env()))
}

rest_suite!(aws_api);
