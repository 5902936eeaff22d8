//! A deliberately small HTTP/1.1 keep-alive client for the load generator.
//!
//! Why hand-rolled: the load generator must add as little of its own cost as possible (the
//! benchmark targets are relative to wrk), so a request is one pre-built byte string and a
//! response is parsed just far enough to find its end (`Content-Length` or chunked framing) and
//! its status. The open-loop engine (what `verify` uses) speaks `http://` and `https://`
//! (rustls, certificates checked against the platform's roots, or given roots); the closed-loop
//! benchmark engine speaks plain `http://`. Not a general client: no redirects, no compression,
//! no pipelining, HTTP/1.1 only (negotiated by ALPN over TLS).

use anyhow::{Context, bail};
use rustls::pki_types::ServerName;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

/// How long the open-loop engine waits to connect, or for any byte of a response, before it
/// counts the request as an error and drops the connection.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(30);

/// Where the load goes: a resolved address, the bytes of the GET request to send, and TLS
/// settings for an `https://` URL.
#[derive(Debug, Clone)]
pub struct Target {
    pub addr: SocketAddr,
    pub request: Vec<u8>,
    pub tls: Option<Tls>,
    /// Connect and response timeout ([`RESPONSE_TIMEOUT`] unless a test shortens it).
    pub timeout: Duration,
}

/// How to open TLS to a target: the client settings and the name its certificate must hold.
#[derive(Clone)]
pub struct Tls {
    config: Arc<rustls::ClientConfig>,
    server_name: ServerName<'static>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tls({:?})", self.server_name)
    }
}

impl Target {
    /// Parse an `http://` or `https://host[:port][/path]` URL; `host_header` overrides the Host
    /// header (Knative routes on it, e.g. `hello.default.example.com` while the URL points at
    /// the ingress), and over TLS it is also the name sent (SNI) and checked in the certificate.
    /// Certificates are checked against the platform's trusted roots.
    pub fn parse(url: &str, host_header: Option<&str>) -> anyhow::Result<Target> {
        Target::parse_with_roots(url, host_header, None)
    }

    /// [`Target::parse`], trusting only the PEM certificates in `roots_pem` for `https://`.
    pub fn parse_with_roots(
        url: &str,
        host_header: Option<&str>,
        roots_pem: Option<&[u8]>,
    ) -> anyhow::Result<Target> {
        let (rest, https) = if let Some(rest) = url.strip_prefix("http://") {
            (rest, false)
        } else if let Some(rest) = url.strip_prefix("https://") {
            (rest, true)
        } else {
            bail!("the load generator needs an http:// or https:// URL, got {url:?}");
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.is_empty() {
            bail!("no host in {url:?}");
        }
        let with_port = if authority.rsplit_once(':').is_some_and(|(_, p)| {
            !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()) && !authority.ends_with(']')
        }) {
            authority.to_string()
        } else {
            format!("{authority}:{}", if https { 443 } else { 80 })
        };
        let addr = with_port
            .to_socket_addrs()
            .with_context(|| format!("resolving {with_port}"))?
            .next()
            .with_context(|| format!("{with_port} resolved to no address"))?;
        let host = host_header.unwrap_or(authority);
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: knative2nomad-verify\r\nAccept: */*\r\n\r\n"
        )
        .into_bytes();
        let tls = if https {
            Some(Tls::new(host, roots_pem)?)
        } else {
            None
        };
        Ok(Target {
            addr,
            request,
            tls,
            timeout: RESPONSE_TIMEOUT,
        })
    }
}

impl Tls {
    /// `host` is a Host header value: a name or address, maybe with a port.
    fn new(host: &str, roots_pem: Option<&[u8]>) -> anyhow::Result<Tls> {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        crate::crypto::install_crypto_provider();
        let name = match host.rsplit_once(':') {
            Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
            _ => host,
        };
        let name = name.trim_start_matches('[').trim_end_matches(']');
        let server_name = ServerName::try_from(name.to_string())
            .with_context(|| format!("{name:?} is not a valid TLS server name"))?;
        let mut config = match roots_pem {
            Some(pem) => {
                let mut roots = rustls::RootCertStore::empty();
                for cert in CertificateDer::pem_slice_iter(pem) {
                    roots
                        .add(cert.context("reading a root certificate")?)
                        .context("adding a root certificate")?;
                }
                anyhow::ensure!(!roots.is_empty(), "no certificate in the given roots");
                rustls::ClientConfig::builder()
                    .with_root_certificates(roots)
                    .with_no_client_auth()
            }
            None => {
                use rustls_platform_verifier::ConfigVerifierExt;
                rustls::ClientConfig::with_platform_verifier()
                    .context("loading the platform's trusted certificates")?
            }
        };
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Tls {
            config: Arc::new(config),
            server_name,
        })
    }
}

/// How far a buffer holds a complete response.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// More bytes needed.
    Partial,
    /// A complete response of `len` bytes with this status; `close` when the server will close.
    Complete {
        len: usize,
        status: u16,
        close: bool,
    },
}

/// Parse the response at the start of `buf`. Errors are protocol violations (the connection is
/// then dropped and counted as an error).
pub fn parse_response(buf: &[u8]) -> anyhow::Result<Parsed> {
    let Some(head_end) = find(buf, b"\r\n\r\n") else {
        if buf.len() > 64 * 1024 {
            bail!("response head larger than 64 KiB");
        }
        return Ok(Parsed::Partial);
    };
    let head = &buf[..head_end];
    let body_start = head_end + 4;
    // "HTTP/1.1 200 OK"
    if head.len() < 12 || !head.starts_with(b"HTTP/1.") {
        bail!("not an HTTP/1.x response");
    }
    let status = std::str::from_utf8(&head[9..12])
        .ok()
        .and_then(|s| s.parse::<u16>().ok())
        .context("bad status code")?;
    let mut content_length: Option<usize> = None;
    let mut chunked = false;
    let mut close = false;
    for line in head.split(|&b| b == b'\n').skip(1) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let name = &line[..colon];
        let value = trim(&line[colon + 1..]);
        if name.eq_ignore_ascii_case(b"content-length") {
            let v = std::str::from_utf8(value)
                .ok()
                .and_then(|s| s.parse().ok())
                .context("bad Content-Length")?;
            content_length = Some(v);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            chunked = contains_ignore_case(value, b"chunked");
        } else if name.eq_ignore_ascii_case(b"connection") {
            close = contains_ignore_case(value, b"close");
        }
    }
    // 1xx, 204 and 304 have no body.
    if (100..200).contains(&status) || status == 204 || status == 304 {
        return Ok(Parsed::Complete {
            len: body_start,
            status,
            close,
        });
    }
    if chunked {
        return match chunked_end(&buf[body_start..])? {
            Some(n) => Ok(Parsed::Complete {
                len: body_start + n,
                status,
                close,
            }),
            None => Ok(Parsed::Partial),
        };
    }
    let Some(cl) = content_length else {
        bail!("response without Content-Length or chunked framing (read-to-close unsupported)");
    };
    if buf.len() >= body_start + cl {
        Ok(Parsed::Complete {
            len: body_start + cl,
            status,
            close,
        })
    } else {
        Ok(Parsed::Partial)
    }
}

/// End of a chunked body (after the last chunk and trailers), if all of it is in `buf`.
fn chunked_end(buf: &[u8]) -> anyhow::Result<Option<usize>> {
    let mut at = 0;
    loop {
        let Some(eol) = find(&buf[at..], b"\r\n") else {
            return Ok(None);
        };
        let size_field = &buf[at..at + eol];
        let size_hex = size_field
            .split(|&b| b == b';')
            .next()
            .unwrap_or(size_field);
        let size = std::str::from_utf8(trim(size_hex))
            .ok()
            .and_then(|s| usize::from_str_radix(s, 16).ok())
            .context("bad chunk size")?;
        at += eol + 2;
        if size == 0 {
            // Trailers end with an empty line.
            return Ok(find(&buf[at..], b"\r\n").and_then(|first| {
                if first == 0 {
                    Some(at + 2)
                } else {
                    find(&buf[at..], b"\r\n\r\n").map(|e| at + e + 4)
                }
            }));
        }
        if buf.len() < at + size + 2 {
            return Ok(None);
        }
        at += size + 2;
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn trim(v: &[u8]) -> &[u8] {
    let start = v
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(v.len());
    let end = v
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &v[start..end.max(start)]
}

fn contains_ignore_case(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

/// A blocking keep-alive connection (the open-loop engine runs one per thread).
pub struct BlockingConn {
    stream: Stream,
    buf: Vec<u8>,
}

enum Stream {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

impl BlockingConn {
    /// Connects, and over TLS completes the handshake here, so that it is not counted in the
    /// first request's latency.
    pub fn connect(target: &Target) -> std::io::Result<BlockingConn> {
        let mut tcp = TcpStream::connect_timeout(&target.addr, target.timeout)?;
        tcp.set_nodelay(true)?;
        // A server that accepts and never answers must cost one error, not a worker thread
        // blocked for ever (and with it the whole run).
        tcp.set_read_timeout(Some(target.timeout))?;
        tcp.set_write_timeout(Some(target.timeout))?;
        let stream = match &target.tls {
            None => Stream::Plain(tcp),
            Some(tls) => {
                let mut conn =
                    rustls::ClientConnection::new(tls.config.clone(), tls.server_name.clone())
                        .map_err(std::io::Error::other)?;
                while conn.is_handshaking() {
                    conn.complete_io(&mut tcp)?;
                }
                Stream::Tls(Box::new(rustls::StreamOwned::new(conn, tcp)))
            }
        };
        Ok(BlockingConn {
            stream,
            buf: Vec::with_capacity(4096),
        })
    }

    /// Send one request and read its response; returns (status, server closes).
    pub fn round_trip(&mut self, request: &[u8]) -> anyhow::Result<(u16, bool)> {
        self.stream.write_all(request).context("sending")?;
        let mut chunk = [0u8; 8192];
        loop {
            if let Parsed::Complete { len, status, close } = parse_response(&self.buf)? {
                self.buf.drain(..len);
                return Ok((status, close));
            }
            let n = self.stream.read(&mut chunk).context("receiving")?;
            if n == 0 {
                bail!("connection closed by the server");
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

/// An async keep-alive connection (the closed-loop engine runs many on one thread).
pub struct AsyncConn {
    stream: tokio::net::TcpStream,
    buf: Vec<u8>,
}

impl AsyncConn {
    pub async fn connect(addr: SocketAddr) -> std::io::Result<AsyncConn> {
        let stream = tokio::net::TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(AsyncConn {
            stream,
            buf: Vec::with_capacity(4096),
        })
    }

    /// Wait until readable, read, and when the read drained the socket tell tokio so.
    ///
    /// Why: tokio only forgets a socket's readiness after a read fails with WouldBlock, so a
    /// plain `read_buf` loop costs one failed `read` syscall per response. A client bound by
    /// syscalls (as a loopback load generator is) pays for that in throughput. A short read
    /// means the kernel had nothing more, so reporting WouldBlock from `try_io` clears the
    /// readiness then; tokio's readiness tick keeps data that arrives afterwards from being missed.
    async fn read_drained(&mut self) -> std::io::Result<usize> {
        loop {
            self.stream.readable().await?;
            let spare = self.buf.capacity() - self.buf.len();
            let mut got = None;
            let stream = &self.stream;
            let buf = &mut self.buf;
            let r = stream.try_io(tokio::io::Interest::READABLE, || {
                let n = stream.try_read_buf(buf)?;
                got = Some(n);
                if n > 0 && n < spare {
                    Err(std::io::ErrorKind::WouldBlock.into())
                } else {
                    Ok(n)
                }
            });
            match (r, got) {
                (_, Some(n)) => return Ok(n),
                (Err(e), None) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                (Err(e), None) => return Err(e),
                (Ok(n), None) => return Ok(n),
            }
        }
    }

    pub async fn round_trip(&mut self, request: &[u8]) -> anyhow::Result<(u16, bool)> {
        use tokio::io::AsyncWriteExt;
        self.stream.write_all(request).await.context("sending")?;
        loop {
            if let Parsed::Complete { len, status, close } = parse_response(&self.buf)? {
                self.buf.drain(..len);
                return Ok((status, close));
            }
            self.buf.reserve(8192);
            if self.read_drained().await.context("receiving")? == 0 {
                bail!("connection closed by the server");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_that_never_answers_is_an_error_after_the_timeout() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        // Accepts (the kernel's backlog does) and never writes a byte.
        let mut target = Target::parse(&url, None).unwrap();
        target.timeout = Duration::from_millis(200);
        let mut conn = BlockingConn::connect(&target).unwrap();
        let started = std::time::Instant::now();
        let err = conn.round_trip(&target.request).unwrap_err();
        assert!(started.elapsed() >= Duration::from_millis(200), "{err:#}");
        assert!(format!("{err:#}").contains("receiving"), "{err:#}");
        drop(listener);
    }

    #[test]
    fn content_length_and_partial() {
        let r = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
        assert_eq!(
            parse_response(r).unwrap(),
            Parsed::Complete {
                len: r.len(),
                status: 200,
                close: false
            }
        );
        assert_eq!(parse_response(&r[..r.len() - 1]).unwrap(), Parsed::Partial);
    }

    #[test]
    fn chunked_body() {
        let r = b"HTTP/1.1 503 X\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n2\r\nok\r\n0\r\n\r\nHTTP";
        assert_eq!(
            parse_response(r).unwrap(),
            Parsed::Complete {
                len: r.len() - 4,
                status: 503,
                close: true
            }
        );
    }

    #[test]
    fn target_parsing() {
        let t = Target::parse("http://127.0.0.1:9/x?y=1", Some("svc.example")).unwrap();
        assert_eq!(t.addr.port(), 9);
        assert!(
            String::from_utf8(t.request)
                .unwrap()
                .starts_with("GET /x?y=1 HTTP/1.1\r\nHost: svc.example\r\n")
        );
        assert!(t.tls.is_none());
        assert!(Target::parse("ftp://127.0.0.1/", None).is_err());
        // https: port 443 by default, and the Host header's name is the TLS server name.
        let t = Target::parse("https://127.0.0.1/", Some("hello.default.example.com")).unwrap();
        assert_eq!(t.addr.port(), 443);
        assert!(format!("{:?}", t.tls).contains("hello.default.example.com"));
        let t = Target::parse("https://127.0.0.1:8443/", None).unwrap();
        assert_eq!(t.addr.port(), 8443);
        assert!(format!("{:?}", t.tls).contains("IpAddress"));
    }
}
