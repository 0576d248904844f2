//! The main listener (`server.bind`): actix-server running procura's own connection pipeline
//! in front of actix-http, so that each accepted socket is first counted against its client
//! address and then served as a [`Connection`] (see [`crate::http::connection`] for why
//! actix-web's `HttpServer` is not enough).

use crate::AppState;
use crate::http::connection::{AddressLimiter, Connection};
use actix_http::{Extensions, HttpService};
use actix_server::Server;
use actix_service::{Service, ServiceFactory, fn_factory, fn_service, map_config};
use actix_web::dev::AppConfig;
use actix_web::rt::net::TcpStream;
use std::net::TcpListener;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

/// How the listener is run: the `[server]` settings, resolved.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub workers: usize,
    pub blocking_threads_per_worker: usize,
    pub header_timeout: Duration,
    /// How long a graceful stop waits for requests in progress.
    pub shutdown_timeout: Duration,
}

impl Limits {
    pub fn from_config(server: &crate::config::ServerConfig) -> Self {
        let workers = match server.workers {
            0 => std::thread::available_parallelism().map_or(1, usize::from),
            n => n,
        };
        Self {
            workers,
            blocking_threads_per_worker: server.blocking_threads.div_ceil(workers).max(1),
            header_timeout: Duration::from_millis(server.header_timeout_ms.max(1)),
            shutdown_timeout: Duration::from_secs(server.shutdown_timeout_secs),
        }
    }
}

/// Serves the application on `listener`.
pub fn main_listener(state: AppState, listener: TcpListener) -> std::io::Result<Server> {
    let limits = Limits::from_config(&state.config.server);
    let limiter = AddressLimiter::new(state.config.server.max_connections_per_address);
    let local = listener.local_addr()?;
    Server::build()
        .workers(limits.workers)
        .worker_max_blocking_threads(limits.blocking_threads_per_worker)
        .shutdown_timeout(limits.shutdown_timeout.as_secs())
        .listen("procura", listener, move || {
            let http = HttpService::<Connection<TcpStream>, _, _>::build()
                .client_request_timeout(limits.header_timeout)
                .client_disconnect_timeout(Duration::from_secs(1))
                .local_addr(local)
                .on_connect_ext(|io: &Connection<TcpStream>, data: &mut Extensions| {
                    data.insert(io.handle());
                })
                // The application reads neither the host nor the address from its AppConfig
                // (URLs come from `oauth.issuer`), so the default one does.
                .h1(map_config(crate::http::app(state.clone()), |()| {
                    AppConfig::default()
                }));
            let limiter = Arc::clone(&limiter);
            fn_factory(move || {
                let starting = http.new_service(());
                let limiter = Arc::clone(&limiter);
                async move {
                    let http = Rc::new(starting.await?);
                    Ok::<_, ()>(fn_service(move |io: TcpStream| {
                        let http = Rc::clone(&http);
                        let limiter = Arc::clone(&limiter);
                        async move {
                            let peer = io.peer_addr().ok();
                            let slot = match peer {
                                Some(peer) => match limiter.admit(peer.ip()) {
                                    Some(slot) => Some(slot),
                                    None => {
                                        refuse(&io).await;
                                        return Ok(());
                                    }
                                },
                                None => None,
                            };
                            let _ = io.set_nodelay(true);
                            let connection = Connection::new(io, slot, limits.header_timeout);
                            http.call((connection, peer)).await
                        }
                    }))
                }
            })
        })
        .map(|b| b.run())
}

/// Answers a connection over the address's limit with a 429 problem, without reading its
/// request, and closes it (the caller drops the socket). At most a second is spent on it.
async fn refuse(io: &TcpStream) {
    tracing::debug!("connection refused: too many open from the client's address");
    let response = REFUSAL.get_or_init(refusal).as_bytes();
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        loop {
            io.writable().await?;
            match io.try_write(response) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                other => return other.map(|_| ()),
            }
        }
    })
    .await;
}

static REFUSAL: std::sync::OnceLock<String> = std::sync::OnceLock::new();

fn refusal() -> String {
    use crate::error::ProblemKind;
    let kind = ProblemKind::TooManyRequests;
    let body = serde_json::json!({
        "type": kind.type_uri(),
        "title": kind.title(),
        "status": kind.status().as_u16(),
        "detail": "Troppe connessioni aperte da questo indirizzo: riprova tra poco.",
    })
    .to_string();
    format!(
        "HTTP/1.1 {} {}\r\ncontent-type: {}\r\ncontent-length: {}\r\nretry-after: 1\r\n\
         connection: close\r\n\r\n{body}",
        kind.status().as_u16(),
        kind.status().canonical_reason().unwrap_or_default(),
        crate::error::PROBLEM_JSON,
        body.len()
    )
}
