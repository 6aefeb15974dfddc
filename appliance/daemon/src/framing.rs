//! The answer to a request hyper cannot parse (a broken request line, a header block over the
//! buffer) is written by hyper itself, before any of vigild's code sees a request: a bodiless
//! 400 or 431 and a closed connection, with no hook to shape it. This adapter sits between TLS
//! and hyper and gives that answer the JSON error body every other refusal carries.
//!
//! It recognises hyper's answer by what only hyper writes on this connection: a 400 or 431 head
//! with `content-length: 0` (every answer of vigild's own with an error status has a JSON body:
//! `api::error::json_errors`). Writes are offered to hyper as unvectored, so a head arrives in
//! one buffer; the rewritten bytes are kept until the connection below has taken them.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::api::{ApiError, Code};

/// An HTTPS connection's byte stream, with hyper's bare framing refusals made JSON.
#[derive(Debug)]
pub struct JsonFramingErrors<S> {
    inner: S,
    /// Rewritten bytes not yet taken by `inner`, and how many of them it took.
    pending: Vec<u8>,
    sent: usize,
}

impl<S> JsonFramingErrors<S> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> Self {
        JsonFramingErrors {
            inner,
            pending: Vec::new(),
            sent: 0,
        }
    }
}

/// The JSON answer for hyper's bare head `head`, if it is one.
pub fn rewrite(head: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(head).ok()?;
    if !text.ends_with("\r\n\r\n") {
        return None;
    }
    let (code, detail) = match text.get(..13)? {
        "HTTP/1.1 400 " => (Code::Malformed, "the request is not well-formed HTTP/1.1"),
        "HTTP/1.1 431 " => (
            Code::HeadersTooLarge,
            "the request's header block is over the appliance's bound",
        ),
        _ => return None,
    };
    let lines: Vec<&str> = text[..text.len() - 4].split("\r\n").collect();
    if !lines[1..]
        .iter()
        .any(|l| l.eq_ignore_ascii_case("content-length: 0"))
    {
        return None;
    }
    let body = ApiError::new(code, detail).json();
    let mut out = String::with_capacity(head.len() + body.len() + 48);
    out.push_str(lines[0]);
    out.push_str("\r\n");
    for l in &lines[1..] {
        if l.eq_ignore_ascii_case("content-length: 0") {
            out.push_str("content-type: application/json\r\n");
            out.push_str(&format!("content-length: {}\r\n", body.len()));
        } else {
            out.push_str(l);
            out.push_str("\r\n");
        }
    }
    out.push_str("\r\n");
    out.push_str(&body);
    Some(out.into_bytes())
}

impl<S: AsyncWrite + Unpin> JsonFramingErrors<S> {
    /// Writes what is pending; ready once all of it is taken.
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.sent < self.pending.len() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.pending[self.sent..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.sent += n;
        }
        self.pending.clear();
        self.sent = 0;
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for JsonFramingErrors<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for JsonFramingErrors<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_pending(cx))?;
        if let Some(json) = rewrite(buf) {
            this.pending = json;
            // Taken: the rewritten bytes go out now or with the next write, flush or shutdown.
            if let Poll::Ready(Err(e)) = this.poll_pending(cx) {
                return Poll::Ready(Err(e));
            }
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_pending(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_pending(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        // One buffer per write, so that a head is seen whole.
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hypers_bare_refusals_become_the_json_error() {
        let bare = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\ndate: Sat, 28 Nov 2026 10:00:00 GMT\r\n\r\n";
        let out = String::from_utf8(rewrite(bare).expect("rewritten")).expect("utf-8");
        let (head, body) = out.split_once("\r\n\r\n").expect("a head");
        assert!(head.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{out}");
        assert!(
            head.contains("\r\ndate: Sat, 28 Nov 2026 10:00:00 GMT"),
            "other headers kept"
        );
        assert!(head.contains("content-type: application/json"));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let e: vigil_core::wire::ErrorBody = serde_json::from_str(body).expect("json");
        assert_eq!(e.error, "malformed");
        let big = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\n\r\n";
        let out = String::from_utf8(rewrite(big).expect("rewritten")).expect("utf-8");
        assert!(out.contains("\"error\":\"headers_too_large\""), "{out}");
    }

    #[test]
    fn everything_else_passes_untouched() {
        for other in [
            &b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 40\r\n\r\n"[..],
            b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n",
            b"{\"error\":\"malformed\"}",
        ] {
            assert_eq!(rewrite(other), None, "{}", String::from_utf8_lossy(other));
        }
    }
}
