//! The main listener's connections: at most `server.max_connections_per_address` open at once
//! from one client address, and a deadline on every request head.
//!
//! Why a wrapped stream rather than a middleware: a stalled client that never finishes its
//! request head never reaches a middleware, and actix-web's `HttpServer` takes a plain
//! `TcpStream`. So the main listener is an actix-server pipeline of its own
//! ([`crate::http::server`]): each accepted socket is admitted here first (an excess one gets
//! a short 503 problem and is closed at once, before any HTTP parsing or buffer is spent on
//! it), then wrapped in a [`Connection`] that holds the address's slot until the socket is
//! dropped — so the count can never leak, whatever way the connection ends.
//!
//! actix times out only the *first* request head of a connection (`client_request_timeout`);
//! a kept-alive connection that trickles the next head byte by byte would be held forever.
//! [`Connection`] arms `server.header_timeout_ms` whenever bytes arrive between requests and
//! ends the connection when no request started in time; the middleware in
//! [`crate::http::body_deadline`] tells it, through the [`ConnectionHandle`] in the
//! connection's data, when a request starts and ends.

use std::cell::Cell;
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv6Addr};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

/// Counts the open connections of each client address (an IPv6 client by its /64, which
/// one subscriber usually holds whole).
#[derive(Debug)]
pub struct AddressLimiter {
    max: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

impl AddressLimiter {
    /// `max` open connections per address; 0 means no limit.
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(Self {
            max,
            open: Mutex::new(HashMap::new()),
        })
    }

    /// A slot for one more connection from `ip`, or `None` when the address has `max` open.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<AddressSlot> {
        let key = address_key(ip);
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(key).or_insert(0);
        if self.max != 0 && *count >= self.max {
            return None;
        }
        *count += 1;
        Some(AddressSlot {
            limiter: Arc::clone(self),
            key,
        })
    }

    /// Open connections from `ip` now (tests, metrics).
    pub fn open(&self, ip: IpAddr) -> usize {
        let open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        open.get(&address_key(ip)).copied().unwrap_or(0)
    }
}

fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let [a, b, c, d, ..] = v6.segments();
                IpAddr::V6(Ipv6Addr::new(a, b, c, d, 0, 0, 0, 0))
            }
        },
    }
}

/// One admitted connection; freed when dropped.
#[derive(Debug)]
pub struct AddressSlot {
    limiter: Arc<AddressLimiter>,
    key: IpAddr,
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut open = self
            .limiter
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.key);
            }
        }
    }
}

/// What the request middleware and the stream share (one worker thread: no locks).
#[derive(Default)]
struct Watch {
    in_request: Cell<bool>,
    close: Cell<bool>,
    reader: Cell<Option<Waker>>,
}

/// The connection as the request middleware sees it (in `conn_data`).
#[derive(Clone)]
pub struct ConnectionHandle(Rc<Watch>);

impl ConnectionHandle {
    pub fn request_started(&self) {
        self.0.in_request.set(true);
    }

    pub fn request_finished(&self) {
        self.0.in_request.set(false);
    }

    /// Reads nothing more from the client: the connection ends once the response is written.
    pub fn close_after_response(&self) {
        self.0.close.set(true);
        if let Some(w) = self.0.reader.take() {
            w.wake();
        }
    }
}

/// An accepted socket holding its address slot and watching the time between requests.
pub struct Connection<S> {
    io: S,
    _slot: Option<AddressSlot>,
    watch: Rc<Watch>,
    header_timeout: Duration,
    head_deadline: Option<Pin<Box<Sleep>>>,
}

impl<S> Connection<S> {
    pub fn new(io: S, slot: Option<AddressSlot>, header_timeout: Duration) -> Self {
        Self {
            io,
            _slot: slot,
            watch: Rc::default(),
            header_timeout,
            head_deadline: None,
        }
    }

    pub fn handle(&self) -> ConnectionHandle {
        ConnectionHandle(Rc::clone(&self.watch))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Connection<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.watch.close.get() {
            // End of input as far as actix is concerned: it writes the response and closes.
            return Poll::Ready(Ok(()));
        }
        if this.watch.in_request.get() {
            this.head_deadline = None;
        } else if let Some(deadline) = &mut this.head_deadline
            && deadline.as_mut().poll(cx).is_ready()
        {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "request head not received in time",
            )));
        }
        let before = buf.filled().len();
        let poll = Pin::new(&mut this.io).poll_read(cx, buf);
        match &poll {
            Poll::Pending => {
                this.watch.reader.replace(Some(cx.waker().clone()));
            }
            Poll::Ready(Ok(()))
                if buf.filled().len() > before
                    && !this.watch.in_request.get()
                    && this.head_deadline.is_none() =>
            {
                let mut deadline = Box::pin(tokio::time::sleep(this.header_timeout));
                // Registers the timer with this task; it cannot have elapsed yet.
                let _ = deadline.as_mut().poll(cx);
                this.head_deadline = Some(deadline);
            }
            Poll::Ready(_) => {}
        }
        poll
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Connection<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_counted_per_address_and_freed_on_drop() {
        let limiter = AddressLimiter::new(2);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let first = limiter.admit(a).unwrap();
        let _second = limiter.admit(a).unwrap();
        assert!(limiter.admit(a).is_none());
        let _other = limiter.admit(b).unwrap();
        drop(first);
        assert_eq!(limiter.open(a), 1);
        assert!(limiter.admit(a).is_some());
    }

    #[test]
    fn ipv6_clients_count_by_their_64_and_mapped_ipv4_as_ipv4() {
        let limiter = AddressLimiter::new(1);
        let _one = limiter.admit("2001:db8:1:2::1".parse().unwrap()).unwrap();
        assert!(
            limiter
                .admit("2001:db8:1:2::ffff".parse().unwrap())
                .is_none()
        );
        assert!(limiter.admit("2001:db8:1:3::1".parse().unwrap()).is_some());
        let _v4 = limiter.admit("192.0.2.9".parse().unwrap()).unwrap();
        assert!(limiter.admit("::ffff:192.0.2.9".parse().unwrap()).is_none());
    }

    #[test]
    fn zero_means_no_limit() {
        let limiter = AddressLimiter::new(0);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let slots: Vec<_> = (0..1000).map(|_| limiter.admit(ip).unwrap()).collect();
        assert_eq!(limiter.open(ip), 1000);
        drop(slots);
        assert_eq!(limiter.open(ip), 0);
    }
}
