//! Forwarding one allowed request to the upstream and its answer back, streaming both bodies.
//!
//! actix's request payload is `!Send` while reqwest needs a `Send` body, so the handler pumps the payload
//! into a small bounded channel whose receiver is the upstream body: memory per upload stays at a few
//! chunks however large the layer, and a slow upstream slows the client down (back-pressure).

use actix_web::body::{BodyStream, BoxBody, MessageBody, SizedStream};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use std::time::Duration;

use bytes::Bytes;
use futures::channel::mpsc;
use futures::future::{Either, select};
use futures::{SinkExt, StreamExt};
use reqwest::header::{self as rh, HeaderName};

use crate::error::RegistryError;
use crate::upstream::{Upstream, upstream_error};

/// Request headers a registry client sends that the upstream needs (every value of each, in order:
/// skopeo sends several `Accept` headers and OCI images need all of them). `Content-Type` is never
/// passed through: the gateway sets it (see [`Outbound::content_type`]).
const REQUEST_HEADERS: [HeaderName; 4] =
    [rh::ACCEPT, rh::CONTENT_RANGE, rh::RANGE, rh::IF_NONE_MATCH];

/// Response headers passed back to the client (`Location` is rewritten separately).
const RESPONSE_HEADERS: [&str; 10] = [
    "content-type",
    "content-range",
    "range",
    "docker-upload-uuid",
    "docker-content-digest",
    "docker-distribution-api-version",
    "etag",
    "accept-ranges",
    "oci-subject",
    "last-modified",
];

/// Chunks in flight between the client and the upstream per upload.
const CHANNEL_CHUNKS: usize = 8;

/// The body sent upstream.
pub enum Outgoing {
    Empty,
    Bytes(Bytes),
    Stream(web::Payload),
}

impl std::fmt::Debug for Outgoing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outgoing::Empty => f.write_str("Empty"),
            Outgoing::Bytes(b) => write!(f, "Bytes({} bytes)", b.len()),
            Outgoing::Stream(_) => f.write_str("Stream"),
        }
    }
}

/// One request to the upstream, as the gateway decided it: the method is the client's, everything
/// else is rebuilt here.
#[derive(Debug)]
pub struct Outbound {
    /// Path and canonical query (built by the gateway, never the client's raw query).
    pub path_and_query: String,
    pub body: Outgoing,
    /// The `Content-Type` sent upstream. Uploads always go as `application/octet-stream`: Go's
    /// `FormValue`, which distribution uses for `mount`, `from`, `digest` and `_state`, would otherwise
    /// read a form-encoded or multipart body as parameters.
    pub content_type: Option<&'static str>,
    /// A streamed body longer than this is cut off and the request fails ([`Forwarded::OverLimit`]).
    pub limit: Option<u64>,
    /// Whole-request timeout (none for uploads, which may take minutes).
    pub timeout: Option<Duration>,
}

impl Outbound {
    /// A bodiless request to `path_and_query`.
    pub fn empty(path_and_query: impl Into<String>) -> Self {
        Self {
            path_and_query: path_and_query.into(),
            body: Outgoing::Empty,
            content_type: None,
            limit: None,
            timeout: None,
        }
    }
}

/// What came of forwarding a request.
#[derive(Debug)]
pub enum Forwarded {
    /// The upstream answered; `streamed` bytes of the client's body went up.
    Answer {
        response: reqwest::Response,
        streamed: u64,
    },
    /// The client's body exceeded [`Outbound::limit`]; the upstream request was aborted.
    OverLimit,
}

/// Sends `req`'s method with `out` upstream with the org credentials and the client's relevant
/// headers. A 401 from the upstream means the gateway's own credentials failed: it becomes a 502,
/// never the client's problem (and never a challenge pointing the client at the upstream).
pub async fn send(
    upstream: &Upstream,
    repository: &str,
    req: &HttpRequest,
    out: Outbound,
) -> Result<Forwarded, RegistryError> {
    let Outbound {
        path_and_query,
        body,
        content_type,
        limit,
        timeout,
    } = out;
    let retryable = !matches!(body, Outgoing::Stream(_));
    let mut body = Some(body);
    for attempt in 0..2 {
        let method = reqwest::Method::from_bytes(req.method().as_str().as_bytes())
            .unwrap_or(reqwest::Method::GET);
        let mut builder = upstream
            .client()
            .request(method, upstream.url(&path_and_query));
        for name in &REQUEST_HEADERS {
            for value in req.headers().get_all(name.as_str()) {
                builder = builder.header(name, value.as_bytes());
            }
        }
        if let Some(ct) = content_type {
            builder = builder.header(rh::CONTENT_TYPE, ct);
        }
        if let Some(t) = timeout {
            builder = builder.timeout(t);
        }
        builder = builder.header(rh::AUTHORIZATION, upstream.authorization(repository).await?);
        let (res, streamed) = match body.take().unwrap_or(Outgoing::Empty) {
            Outgoing::Empty => (builder.send().await, 0),
            Outgoing::Bytes(b) => {
                body = Some(Outgoing::Bytes(b.clone()));
                let len = b.len() as u64;
                (builder.body(b).send().await, len)
            }
            Outgoing::Stream(payload) => {
                if let Some(len) = req.headers().get("content-length") {
                    builder = builder.header(rh::CONTENT_LENGTH, len.as_bytes());
                }
                let (res, streamed, over) = stream_upload(builder, payload, limit).await;
                if over {
                    return Ok(Forwarded::OverLimit);
                }
                (res, streamed)
            }
        };
        let res = res.map_err(|e| upstream_error("forward", &e))?;
        if res.status() != reqwest::StatusCode::UNAUTHORIZED {
            return Ok(Forwarded::Answer {
                response: res,
                streamed,
            });
        }
        upstream.token_refused().await;
        if attempt == 1 || !retryable {
            break;
        }
    }
    tracing::error!(
        path = %path_and_query,
        "upstream registry refused the gateway's credentials"
    );
    Err(RegistryError::upstream(
        "upstream registry refused the gateway's credentials",
    ))
}

/// [`send`] for a request without a streamed body (never over a limit).
pub async fn send_answer(
    upstream: &Upstream,
    repository: &str,
    req: &HttpRequest,
    out: Outbound,
) -> Result<reqwest::Response, RegistryError> {
    match send(upstream, repository, req, out).await? {
        Forwarded::Answer { response, .. } => Ok(response),
        Forwarded::OverLimit => Err(RegistryError::denied("request body over the limit")),
    }
}

/// Sends the request with the client's payload streamed through a bounded channel, counting bytes.
/// When the upstream answers before taking the whole body (an error), the rest of the payload is not
/// read. Past `limit` bytes the upstream body ends in an error, so the upstream never completes the
/// request: returns (result, bytes streamed, whether the limit was exceeded).
async fn stream_upload(
    builder: reqwest::RequestBuilder,
    mut payload: web::Payload,
    limit: Option<u64>,
) -> (reqwest::Result<reqwest::Response>, u64, bool) {
    let (mut tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(CHANNEL_CHUNKS);
    let send = builder.body(reqwest::Body::wrap_stream(rx)).send();
    let mut streamed = 0u64;
    let mut over = false;
    let pump = async {
        while let Some(chunk) = payload.next().await {
            let item = match chunk {
                Ok(bytes) => {
                    streamed += bytes.len() as u64;
                    if limit.is_some_and(|l| streamed > l) {
                        over = true;
                        Err(std::io::Error::other("upload over the gateway's limit"))
                    } else {
                        Ok(bytes)
                    }
                }
                Err(e) => Err(std::io::Error::other(e.to_string())),
            };
            let failed = item.is_err();
            if tx.send(item).await.is_err() || failed {
                break;
            }
        }
        // Dropping `tx` ends the upstream body.
        drop(tx);
    };
    futures::pin_mut!(send);
    let res = {
        futures::pin_mut!(pump);
        match select(send.as_mut(), pump).await {
            Either::Left((res, _unfinished_pump)) => res,
            Either::Right(((), _)) => send.await,
        }
    };
    (res, streamed, over)
}

/// Where the client reaches the gateway, for rewriting upstream `Location` headers.
#[derive(Debug, Clone)]
pub struct PublicOrigin {
    pub scheme: String,
    pub host: String,
}

/// Rewrites an upstream `Location` that points at the upstream itself to the gateway (scheme and host
/// only; path and query, which may carry signed upload state, are kept). Relative locations resolve
/// against the gateway already; locations elsewhere (blob storage redirects) are left alone.
pub fn rewrite_location(location: &str, upstream_origin: &str, public: &PublicOrigin) -> String {
    match url::Url::parse(location) {
        Ok(url) if url.origin().ascii_serialization() == upstream_origin => {
            let mut out = format!("{}://{}{}", public.scheme, public.host, url.path());
            if let Some(q) = url.query() {
                out.push('?');
                out.push_str(q);
            }
            out
        }
        _ => location.to_owned(),
    }
}

/// Turns the upstream answer into the client's response, streaming the body.
pub fn respond(
    res: reqwest::Response,
    head: bool,
    upstream_origin: &str,
    public: &PublicOrigin,
) -> HttpResponse {
    let status = StatusCode::from_u16(res.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut out = HttpResponse::build(status);
    for name in RESPONSE_HEADERS {
        for value in res.headers().get_all(name) {
            out.append_header((name, value.as_bytes()));
        }
    }
    if let Some(location) = res
        .headers()
        .get(rh::LOCATION)
        .and_then(|v| v.to_str().ok())
    {
        out.insert_header((
            "location",
            rewrite_location(location, upstream_origin, public),
        ));
    }
    let length = res
        .headers()
        .get(rh::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let body: BoxBody = match (head, length) {
        // A HEAD answer has no body but must keep the length it announces (clients read blob sizes).
        (true, Some(len)) => SizedStream::new(
            len,
            futures::stream::empty::<Result<Bytes, reqwest::Error>>(),
        )
        .boxed(),
        (true, None) => ().boxed(),
        (false, Some(len)) => SizedStream::new(len, res.bytes_stream()).boxed(),
        (false, None) => BodyStream::new(res.bytes_stream()).boxed(),
    };
    out.body(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn location_keeps_path_and_signed_query_and_changes_only_origin() {
        let public = PublicOrigin {
            scheme: "https".into(),
            host: "gw.example.com".into(),
        };
        let up = "http://127.0.0.1:5000";
        assert_eq!(
            rewrite_location(
                "http://127.0.0.1:5000/v2/shared/blobs/uploads/abc?_state=x%2By&digest=sha256:1",
                up,
                &public
            ),
            "https://gw.example.com/v2/shared/blobs/uploads/abc?_state=x%2By&digest=sha256:1"
        );
        assert_eq!(
            rewrite_location("/v2/shared/blobs/uploads/abc?_state=s", up, &public),
            "/v2/shared/blobs/uploads/abc?_state=s"
        );
        assert_eq!(
            rewrite_location("https://storage.example/blob?sig=1", up, &public),
            "https://storage.example/blob?sig=1"
        );
    }
}
