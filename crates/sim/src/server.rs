//! The HTTP adapter: [`serve`] puts a [`SimImds`] on a TCP listener (tokio + hyper 1, HTTP/1
//! only), and [`SimServer`] runs that on a background thread for tests, demos and the CLI.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::Duration;

use bytes::Bytes;
use credcycle_clock::{Clock, SystemClock};
use credcycle_core::RoleName;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinSet;

use crate::config::SimConfig;
use crate::imds::SimImds;
use crate::report::{LoggedRequest, Report, UseRecord};
use crate::request::{Headers, SimReply, SimRequest};

/// How long a [`SimReply::Drop`] holds a connection open before closing it, if the client has
/// not given up first. Clients time out long before (the SDKs' default is one second).
pub const DROP_HOLD_CAP: Duration = Duration::from_secs(600);

/// The largest request body read; longer bodies get a 413.
const MAX_BODY: usize = 64 * 1024;

/// A shared, thread-safe handle on a running simulator: the state behind the HTTP server, plus
/// the clock it reads. Clones share the same simulator.
///
/// The lock is held only for the duration of one sans-IO call, never across an `await`.
#[derive(Clone)]
pub struct SimHandle {
    sim: Arc<Mutex<SimImds>>,
    clock: Arc<dyn Clock>,
}

impl SimHandle {
    /// Shares `sim`, driven by `clock`.
    #[must_use]
    pub fn new(sim: SimImds, clock: Arc<dyn Clock>) -> Self {
        Self {
            sim: Arc::new(Mutex::new(sim)),
            clock,
        }
    }

    /// Answers `req` at the clock's current time.
    #[must_use]
    pub fn handle(&self, req: &SimRequest) -> SimReply {
        let now = self.clock.now();
        self.lock().handle(now, req)
    }

    /// The audit so far (after applying the scripted events due by now).
    #[must_use]
    pub fn report(&self) -> Report {
        let now = self.clock.now();
        let mut sim = self.lock();
        sim.advance(now);
        sim.report()
    }

    /// The IMDS requests answered so far (see [`SimImds::request_log`]).
    #[must_use]
    pub fn request_log(&self) -> Vec<LoggedRequest> {
        self.lock().request_log().to_vec()
    }

    /// Removes the instance profile now (see [`SimImds::detach`]).
    pub fn detach(&self) {
        let now = self.clock.now();
        self.lock().detach(now);
    }

    /// Attaches `role` now (see [`SimImds::attach`]).
    pub fn attach(&self, role: RoleName) {
        let now = self.clock.now();
        self.lock().attach(now, role);
    }

    /// Issues a new set now; its access key id, or `None` when detached.
    pub fn rotate(&self) -> Option<String> {
        let now = self.clock.now();
        self.lock().rotate(now)
    }

    /// Records a use of `access_key_id` now (see [`SimImds::record_use`]).
    pub fn record_use(&self, access_key_id: &str) -> Option<UseRecord> {
        let now = self.clock.now();
        self.lock().record_use(now, access_key_id)
    }

    /// Replaces the container endpoint's token (see [`SimImds::set_authorization`]).
    pub fn set_authorization(&self, token: &str) -> bool {
        self.lock().set_authorization(token)
    }

    /// The simulator's lock. A panic while it was held cannot leave it half-updated in a way
    /// that matters to a test tool (the core is total: no request panics it), so a poisoned
    /// lock is taken over.
    fn lock(&self) -> MutexGuard<'_, SimImds> {
        self.sim.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl std::fmt::Debug for SimHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimHandle")
            .field("sim", &*self.lock())
            .finish_non_exhaustive()
    }
}

/// Serves `sim` on `listener` until `shutdown` completes, reading time from `clock`.
///
/// Each connection is served by hyper's HTTP/1 server on its own task. A reply's scripted
/// delay is slept with `tokio::time::sleep`; [`SimReply::Drop`] holds the connection open
/// without answering until the client closes it (or [`DROP_HOLD_CAP`] passes);
/// [`SimReply::Reset`] closes the socket with a TCP reset. On shutdown, open connections are
/// closed at once.
///
/// # Errors
///
/// None so far: errors accepting a connection (out of file descriptors...) are retried after a
/// short pause. The `io::Result` leaves room for listener failures.
pub async fn serve(
    listener: TcpListener,
    sim: SimImds,
    clock: Arc<dyn Clock>,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    serve_handle(listener, SimHandle::new(sim, clock), shutdown).await
}

/// [`serve`] for a simulator that is already shared, so that the caller keeps a [`SimHandle`]
/// to read the report and control the simulator while it runs.
///
/// # Errors
///
/// As [`serve`].
pub async fn serve_handle(
    listener: TcpListener,
    handle: SimHandle,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let mut connections = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    connections.spawn(connection(stream, handle.clone()));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.abort_all();
    while connections.join_next().await.is_some() {}
    Ok(())
}

/// How a connection ends when the service decides it, not hyper.
#[derive(Default)]
struct Abort {
    /// Set before `notify` when the connection must be reset rather than closed.
    reset: std::sync::atomic::AtomicBool,
    notify: Notify,
}

async fn connection(mut stream: TcpStream, handle: SimHandle) {
    let _ = stream.set_nodelay(true);
    let abort = Arc::new(Abort::default());
    let served = {
        let signal = Arc::clone(&abort);
        let service = service_fn(move |req| respond(handle.clone(), Arc::clone(&signal), req));
        let conn = http1::Builder::new()
            .title_case_headers(true)
            .serve_connection(TokioIo::new(&mut stream), service);
        tokio::select! {
            _ = conn => true,
            () = abort.notify.notified() => false,
        }
    };
    // The hyper connection (and its borrow of the stream) is gone; end the socket ourselves.
    if !served && abort.reset.load(std::sync::atomic::Ordering::SeqCst) {
        // SO_LINGER 0: closing sends RST instead of FIN.
        let _ = stream.set_zero_linger();
    }
    drop(stream);
}

async fn respond(
    handle: SimHandle,
    abort: Arc<Abort>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = req.into_parts();
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes().to_vec(),
        Err(_) => return Ok(plain(StatusCode::PAYLOAD_TOO_LARGE, "")),
    };
    let headers: Headers = parts
        .headers
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    let sim_req = SimRequest {
        method: parts.method.as_str().to_owned(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers,
        body,
    };
    match handle.handle(&sim_req) {
        SimReply::Respond {
            status,
            headers,
            body,
            delay,
        } => {
            if let Some(delay) = delay {
                tokio::time::sleep(delay).await;
            }
            Ok(build(status, &headers, body))
        }
        SimReply::Drop => {
            // hyper notices a client that closes mid-request and drops this future; otherwise
            // give up after the cap and close the connection without an answer.
            tokio::time::sleep(DROP_HOLD_CAP).await;
            abort.notify.notify_one();
            std::future::pending().await
        }
        SimReply::Reset => {
            abort.reset.store(true, std::sync::atomic::Ordering::SeqCst);
            abort.notify.notify_one();
            std::future::pending().await
        }
    }
}

fn build(status: u16, headers: &Headers, body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (name, value) in headers.iter() {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            response.headers_mut().append(name, value);
        }
    }
    response
}

fn plain(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    response
}

/// A simulator serving HTTP on a background thread (its own single-threaded tokio runtime):
/// for integration tests, demos and the `credcycle sim` command.
///
/// ```
/// use std::net::SocketAddr;
///
/// use credcycle_sim::{SimConfig, SimServer};
///
/// let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
/// let server = SimServer::start(addr, SimConfig::default().with_seed(7))?;
/// assert!(server.url().starts_with("http://127.0.0.1:"));
/// assert_eq!(server.report().issued, 0);
/// server.shutdown()?;
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// Dropping the server shuts it down too.
pub struct SimServer {
    addr: SocketAddr,
    handle: SimHandle,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<thread::JoinHandle<io::Result<()>>>,
}

impl SimServer {
    /// Binds `addr` and serves a simulator configured by `config` on the system clock.
    ///
    /// Bind `127.0.0.1:0` for a free loopback port; [`url`](Self::url) says which. Any other
    /// address is used as given: the simulator never widens it on its own.
    ///
    /// # Errors
    ///
    /// The bind error, a failure to start the runtime or thread, or (kind `InvalidInput`,
    /// wrapping a [`ConfigError`](crate::ConfigError)) an invalid configuration.
    pub fn start(addr: SocketAddr, config: SimConfig) -> io::Result<Self> {
        Self::start_with_clock(addr, config, Arc::new(SystemClock::new()))
    }

    /// [`start`](Self::start) with a given clock (a `ManualClock` in tests).
    ///
    /// # Errors
    ///
    /// As [`start`](Self::start).
    pub fn start_with_clock(
        addr: SocketAddr,
        config: SimConfig,
        clock: Arc<dyn Clock>,
    ) -> io::Result<Self> {
        let sim = SimImds::new(config, clock.now())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let std_listener = std::net::TcpListener::bind(addr)?;
        std_listener.set_nonblocking(true)?;
        let addr = std_listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()?;
        let listener = {
            let _entered = runtime.enter();
            TcpListener::from_std(std_listener)?
        };
        let handle = SimHandle::new(sim, clock);
        let (stop, stopped) = oneshot::channel::<()>();
        let served = handle.clone();
        let thread = thread::Builder::new()
            .name("credcycle-sim".to_owned())
            .spawn(move || {
                runtime.block_on(serve_handle(listener, served, async {
                    // A dropped sender stops the server too.
                    let _ = stopped.await;
                }))
            })?;
        Ok(Self {
            addr,
            handle,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The base URL, `http://HOST:PORT` (IPv6 hosts in brackets), with no trailing slash.
    #[must_use]
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The address bound (with the port chosen, when `0` was asked for).
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// A handle on the running simulator.
    #[must_use]
    pub fn handle(&self) -> SimHandle {
        self.handle.clone()
    }

    /// The audit so far.
    #[must_use]
    pub fn report(&self) -> Report {
        self.handle.report()
    }

    /// Removes the instance profile now.
    pub fn detach(&self) {
        self.handle.detach();
    }

    /// Attaches `role` now.
    pub fn attach(&self, role: RoleName) {
        self.handle.attach(role);
    }

    /// Issues a new credential set now; its access key id, or `None` when detached.
    pub fn rotate(&self) -> Option<String> {
        self.handle.rotate()
    }

    /// Records a use of `access_key_id` now.
    pub fn record_use(&self, access_key_id: &str) -> Option<UseRecord> {
        self.handle.record_use(access_key_id)
    }

    /// Replaces the container endpoint's token; false without one, or for an invalid token.
    pub fn set_authorization(&self, token: &str) -> bool {
        self.handle.set_authorization(token)
    }

    /// Stops serving, closes open connections and waits for the server thread.
    ///
    /// # Errors
    ///
    /// The server's own error, or one of kind `Other` if its thread panicked.
    pub fn shutdown(mut self) -> io::Result<()> {
        self.stop_and_join()
    }

    fn stop_and_join(&mut self) -> io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.thread.take() {
            Some(thread) => thread
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("simulator thread panicked"))),
            None => Ok(()),
        }
    }
}

impl Drop for SimServer {
    fn drop(&mut self) {
        let _ = self.stop_and_join();
    }
}

impl std::fmt::Debug for SimServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimServer")
            .field("addr", &self.addr)
            .field("handle", &self.handle)
            .finish_non_exhaustive()
    }
}
