//! A standard `wasi:http/proxy` component: nothing in it knows mcp-prompts, so
//! `wasmtime serve` runs it unchanged. The host tests (tests/proxy_routes.rs) drive it
//! through the paths below, relative to its route (the host's `x-mcp-prompts-path-info`
//! header, else the request path):
//!
//! - `/echo`: the method, path and request headers as JSON;
//! - `/stream?chunks=N&size=S`: N chunks of S bytes, written as they are produced;
//! - `/upload`: reads the request body and answers its length;
//! - `/fetch?url=URL`: a GET to URL, answering its status and body, or the error code;
//! - `/drip`: a chunk every 100 ms, forever (the host's deadline must end it);
//! - `/loop`: an endless loop; `/bomb`: allocates until memory runs out; `/panic`.

use std::io::{Read as _, Write as _};
// (The streams' inherent `read`/`flush` shadow the std traits' methods, hence the
// fully qualified calls below.)
use wasip2::http::outgoing_handler;
use wasip2::http::types::{
    Fields, IncomingRequest, Method, OutgoingBody, OutgoingRequest, OutgoingResponse,
    ResponseOutparam, Scheme,
};

wasip2::http::proxy::export!(Route);

struct Route;

impl wasip2::exports::http::incoming_handler::Guest for Route {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let path = request.path_with_query().unwrap_or_else(|| "/".into());
        let headers = request.headers().entries();
        let info = headers
            .iter()
            .find(|(k, _)| k == "x-mcp-prompts-path-info")
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
            .unwrap_or_else(|| path.split('?').next().unwrap_or("/").to_string());
        let query = path.split_once('?').map(|(_, q)| q).unwrap_or("");
        match info.as_str() {
            "/echo" => echo(request, &path, &headers, out),
            "/stream" => {
                let chunks = param(query, "chunks")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(4);
                let size = param(query, "size")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(65536);
                stream(out, chunks, size)
            }
            "/upload" => upload(request, out),
            "/fetch" => fetch(param(query, "url").unwrap_or_default(), out),
            "/drip" => drip(out),
            "/loop" => {
                let mut i = 0u64;
                loop {
                    i = std::hint::black_box(i.wrapping_add(1));
                }
            }
            "/bomb" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(std::hint::black_box(vec![7u8; 1 << 20]));
                }
            }
            "/panic" => panic!("asked to panic"),
            _ => respond(out, 404, "text/plain", b"no such path\n"),
        }
    }
}

fn echo(
    request: IncomingRequest,
    path: &str,
    headers: &[(String, Vec<u8>)],
    out: ResponseOutparam,
) {
    let mut map = serde_json::Map::new();
    for (k, v) in headers {
        let v = String::from_utf8_lossy(v).into_owned();
        map.entry(k.clone())
            .and_modify(|e| {
                if let serde_json::Value::String(s) = e {
                    s.push_str(", ");
                    s.push_str(&v);
                }
            })
            .or_insert(serde_json::Value::String(v.clone()));
    }
    let body = serde_json::json!({
        "method": method_name(&request.method()),
        "path": path,
        "headers": map,
    });
    respond(out, 200, "application/json", body.to_string().as_bytes());
}

fn stream(out: ResponseOutparam, chunks: usize, size: usize) {
    let resp = OutgoingResponse::new(content_type("application/octet-stream"));
    let body = resp.body().expect("body");
    ResponseOutparam::set(out, Ok(resp));
    {
        let mut w = body.write().expect("stream");
        for i in 0..chunks {
            let chunk = vec![b'a' + (i % 26) as u8; size];
            if w.write_all(&chunk)
                .and_then(|_| std::io::Write::flush(&mut w))
                .is_err()
            {
                return; // The client went away.
            }
        }
    }
    let _ = OutgoingBody::finish(body, None);
}

fn upload(request: IncomingRequest, out: ResponseOutparam) {
    let mut n = 0usize;
    let result = (|| -> Result<(), String> {
        let body = request.consume().map_err(|_| "no body".to_string())?;
        let mut s = body.stream().map_err(|_| "no stream".to_string())?;
        let mut buf = vec![0u8; 65536];
        loop {
            match std::io::Read::read(&mut s, &mut buf) {
                Ok(0) => return Ok(()),
                Ok(k) => n += k,
                Err(e) => return Err(e.to_string()),
            }
        }
    })();
    match result {
        Ok(()) => respond(
            out,
            200,
            "application/json",
            serde_json::json!({ "bytes": n }).to_string().as_bytes(),
        ),
        Err(e) => respond(
            out,
            400,
            "text/plain",
            format!("read failed after {n} bytes: {e}").as_bytes(),
        ),
    }
}

fn fetch(url: String, out: ResponseOutparam) {
    let answer = (|| -> Result<(u16, String), String> {
        let (scheme, rest) = url.split_once("://").ok_or("url needs a scheme")?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let req = OutgoingRequest::new(Fields::new());
        req.set_method(&Method::Get).map_err(|_| "method")?;
        let scheme = if scheme == "https" {
            Scheme::Https
        } else {
            Scheme::Http
        };
        req.set_scheme(Some(&scheme)).map_err(|_| "scheme")?;
        req.set_authority(Some(authority))
            .map_err(|_| "authority")?;
        req.set_path_with_query(Some(path)).map_err(|_| "path")?;
        let pending = outgoing_handler::handle(req, None).map_err(|e| format!("{e:?}"))?;
        pending.subscribe().block();
        let resp = pending
            .get()
            .ok_or("no response")?
            .map_err(|_| "response taken twice")?
            .map_err(|e| format!("{e:?}"))?;
        let status = resp.status();
        let body = resp.consume().map_err(|_| "no body")?;
        let mut text = String::new();
        body.stream()
            .map_err(|_| "no stream")?
            .read_to_string(&mut text)
            .map_err(|e| e.to_string())?;
        Ok((status, text))
    })();
    let (status, json) = match answer {
        Ok((s, body)) => (200, serde_json::json!({ "status": s, "body": body })),
        Err(e) => (502, serde_json::json!({ "error": e })),
    };
    respond(out, status, "application/json", json.to_string().as_bytes());
}

fn drip(out: ResponseOutparam) {
    let resp = OutgoingResponse::new(content_type("text/plain"));
    let body = resp.body().expect("body");
    ResponseOutparam::set(out, Ok(resp));
    let mut w = body.write().expect("stream");
    loop {
        if w.write_all(b"drip\n")
            .and_then(|_| std::io::Write::flush(&mut w))
            .is_err()
        {
            return;
        }
        wasip2::clocks::monotonic_clock::subscribe_duration(100_000_000).block();
    }
}

fn respond(out: ResponseOutparam, status: u16, ctype: &str, bytes: &[u8]) {
    let resp = OutgoingResponse::new(content_type(ctype));
    let _ = resp.set_status_code(status);
    let body = resp.body().expect("body");
    ResponseOutparam::set(out, Ok(resp));
    {
        let mut w = body.write().expect("stream");
        let _ = w
            .write_all(bytes)
            .and_then(|_| std::io::Write::flush(&mut w));
    }
    let _ = OutgoingBody::finish(body, None);
}

fn content_type(v: &str) -> Fields {
    Fields::from_list(&[("content-type".to_string(), v.as_bytes().to_vec())]).expect("header")
}

fn method_name(m: &Method) -> String {
    match m {
        Method::Get => "GET".into(),
        Method::Head => "HEAD".into(),
        Method::Post => "POST".into(),
        Method::Put => "PUT".into(),
        Method::Delete => "DELETE".into(),
        Method::Connect => "CONNECT".into(),
        Method::Options => "OPTIONS".into(),
        Method::Trace => "TRACE".into(),
        Method::Patch => "PATCH".into(),
        Method::Other(s) => s.clone(),
    }
}

/// `name`'s value in a query string, percent-decoded.
fn param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == name).then(|| decode(v))
    })
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                match std::str::from_utf8(&b[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    Some(v) => {
                        out.push(v);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
