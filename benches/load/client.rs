//! One keep-alive HTTP/1.1 connection per worker, over hyper 1's low-level
//! client: no pool, no retries, nothing between the worker and the socket.

use std::net::{SocketAddr, ToSocketAddrs};

use anyhow::{Context, bail};
use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use http::{HeaderValue, Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Where the server is: a loopback address (nothing else is ever a target)
/// and the `Host` header to send.
#[derive(Clone)]
pub struct Target {
    pub addr: SocketAddr,
    host: HeaderValue,
}

impl Target {
    /// Parses `http://HOST:PORT` (a trailing path is ignored) and refuses
    /// anything that does not resolve to a loopback address.
    pub fn parse(base_url: &str) -> anyhow::Result<Target> {
        let uri: Uri = base_url.parse().with_context(|| format!("--base-url {base_url:?}"))?;
        if uri.scheme_str() != Some("http") {
            bail!("--base-url must be plain http://HOST:PORT, got {base_url:?}");
        }
        let authority = uri.authority().context("--base-url has no host")?;
        let port = authority.port_u16().unwrap_or(80);
        let addr = (authority.host().trim_matches(['[', ']']), port)
            .to_socket_addrs()
            .with_context(|| format!("resolving {authority}"))?
            .next()
            .context("the host resolves to no address")?;
        if !addr.ip().is_loopback() {
            bail!("refusing to send load to {addr}: only loopback addresses (127.0.0.0/8, ::1) are targets");
        }
        Ok(Target { addr, host: HeaderValue::from_str(authority.as_str())? })
    }
}

/// The bearer header for a token, built once and cloned per request.
pub fn bearer(token: &str) -> HeaderValue {
    HeaderValue::from_str(&format!("Bearer {token}")).expect("tokens are header-safe")
}

pub struct Connection {
    sender: SendRequest<Full<Bytes>>,
    host: HeaderValue,
}

/// What a request came back with.
pub struct Answer {
    pub status: StatusCode,
    pub body: Bytes,
}

impl Connection {
    pub async fn open(target: &Target) -> anyhow::Result<Connection> {
        let stream = TcpStream::connect(target.addr).await.with_context(|| format!("connecting to {}", target.addr))?;
        stream.set_nodelay(true)?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            // Ends when the worker drops its sender or the server closes.
            let _ = connection.await;
        });
        Ok(Connection { sender, host: target.host.clone() })
    }

    pub async fn get(&mut self, path: &'static str, auth: Option<&HeaderValue>) -> anyhow::Result<Answer> {
        self.send(Method::GET, path, auth, None).await
    }

    pub async fn post(&mut self, path: &'static str, body: Vec<u8>) -> anyhow::Result<Answer> {
        self.send(Method::POST, path, None, Some(Bytes::from(body))).await
    }

    async fn send(
        &mut self,
        method: Method,
        path: &'static str,
        auth: Option<&HeaderValue>,
        body: Option<Bytes>,
    ) -> anyhow::Result<Answer> {
        self.sender.ready().await?;
        let mut request = Request::builder().method(method).uri(path).header(HOST, self.host.clone());
        if let Some(auth) = auth {
            request = request.header(AUTHORIZATION, auth.clone());
        }
        let has_body = body.is_some();
        if has_body {
            request = request.header(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        let request = request.body(Full::new(body.unwrap_or_default()))?;
        let response = self.sender.send_request(request).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        Ok(Answer { status, body })
    }
}
