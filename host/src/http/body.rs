//! Reading request bodies within the size limit, for REST and MCP alike.

use super::problem::Problem;
use bytes::Bytes;
use http::{Request, StatusCode, header};
use http_body_util::BodyExt;

/// The whole body, refused with 413 past `max` bytes: up front when `Content-Length`
/// says so, else as soon as the streamed body crosses the limit (never buffered whole).
pub async fn read_limited<B>(req: Request<B>, max: usize) -> Result<Bytes, Problem>
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let too_large = || {
        Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload-too-large",
            "Payload Too Large",
            format!("request body exceeds {max} bytes"),
        )
    };
    if req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|len| len > max as u64)
    {
        return Err(too_large());
    }
    match http_body_util::Limited::new(req.into_body(), max)
        .collect()
        .await
    {
        Ok(c) => Ok(c.to_bytes()),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(too_large())
        }
        Err(e) => Err(Problem::bad_request(
            "unreadable-body",
            format!("could not read the request body: {e}"),
        )),
    }
}
