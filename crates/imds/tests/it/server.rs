//! A tiny HTTP/1.1 server on 127.0.0.1 for the transports' loopback tests: one thread per
//! connection, keep-alive, and scripted misbehaviour. No sleeps: a silent connection simply
//! waits until the client gives up and closes it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// A request as the server saw it.
#[derive(Clone, Debug)]
pub(crate) struct Seen {
    pub(crate) method: String,
    pub(crate) path: String,
    /// Header names lowercased.
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body_len: usize,
}

impl Seen {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == &name.to_ascii_lowercase())
            .map(|(_, v)| v.as_str())
    }
}

/// What the server does with a request.
pub(crate) enum Behave {
    /// Write these bytes (a whole response) and keep the connection.
    Raw(Vec<u8>),
    /// Never answer; hold the connection until the client closes it.
    Silent,
    /// Close the connection without answering.
    Close,
    /// Answer 200 with this `Content-Length` (or chunked when `None`) and stream bytes until the
    /// client stops reading and closes.
    Endless(Option<u64>),
}

/// A complete response with a body and extra headers.
pub(crate) fn reply(status: u16, headers: &[(&str, &str)], body: &[u8]) -> Behave {
    let mut out = format!("HTTP/1.1 {status} X\r\ncontent-length: {}\r\n", body.len());
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    Behave::Raw(bytes)
}

pub(crate) struct Server {
    pub(crate) addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    /// Bytes written by an `Endless` answer, sent once the client hung up.
    streamed: Mutex<Receiver<u64>>,
}

impl Server {
    pub(crate) fn start(handler: impl Fn(&Seen) -> Behave + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let addr = listener.local_addr().expect("local address");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (streamed_tx, streamed) = mpsc::channel();
        let handler = Arc::new(handler);
        let seen2 = Arc::clone(&seen);
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let (handler, seen, streamed) = (
                    Arc::clone(&handler),
                    Arc::clone(&seen2),
                    streamed_tx.clone(),
                );
                thread::spawn(move || serve(stream, &*handler, &seen, &streamed));
            }
        });
        Self {
            addr,
            seen,
            streamed: Mutex::new(streamed),
        }
    }

    pub(crate) fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub(crate) fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// How many bytes an `Endless` answer wrote before the client hung up, waiting at most
    /// `limit` for the hang-up.
    pub(crate) fn streamed(&self, limit: Duration) -> Option<u64> {
        self.streamed.lock().unwrap().recv_timeout(limit).ok()
    }
}

fn serve(
    stream: TcpStream,
    handler: &(dyn Fn(&Seen) -> Behave + Send + Sync),
    seen: &Mutex<Vec<Seen>>,
    streamed: &Sender<u64>,
) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
    let mut writer = stream;
    loop {
        let Some(request) = read_request(&mut reader) else {
            return;
        };
        seen.lock().unwrap().push(request.clone());
        match handler(&request) {
            Behave::Raw(bytes) => {
                if writer.write_all(&bytes).is_err() {
                    return;
                }
            }
            Behave::Silent => {
                // Wait for the client to give up: read until EOF or error.
                let mut sink = [0u8; 1024];
                while matches!(reader.read(&mut sink), Ok(n) if n > 0) {}
                return;
            }
            Behave::Close => return,
            Behave::Endless(length) => {
                let head = match length {
                    Some(len) => format!("HTTP/1.1 200 OK\r\ncontent-length: {len}\r\n\r\n"),
                    None => "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n".to_owned(),
                };
                let _ = writer.write_all(head.as_bytes());
                let chunk = vec![b'x'; 8192];
                let mut sent = 0u64;
                loop {
                    let ok = match length {
                        Some(_) => writer.write_all(&chunk),
                        None => writer
                            .write_all(b"2000\r\n")
                            .and_then(|()| writer.write_all(&chunk))
                            .and_then(|()| writer.write_all(b"\r\n")),
                    };
                    if ok.is_err() {
                        break;
                    }
                    sent += chunk.len() as u64;
                    if length.is_some_and(|len| sent >= len) {
                        break;
                    }
                }
                let _ = streamed.send(sent);
                return;
            }
        }
    }
}

fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Seen> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let path = parts.next()?.to_owned();
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).ok()? == 0 {
            return None;
        }
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    let body_len: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; body_len];
    reader.read_exact(&mut body).ok()?;
    Some(Seen {
        method,
        path,
        headers,
        body_len,
    })
}

/// An IMDS that behaves: token, listing, credentials for role `web`; 401 without the token.
pub(crate) fn imds(seen: &Seen) -> Behave {
    const TOKEN: &str = "SENTINELTOKEN";
    match (seen.method.as_str(), seen.path.as_str()) {
        ("PUT", "/latest/api/token") => match seen.header("x-aws-ec2-metadata-token-ttl-seconds") {
            Some(ttl) => reply(
                200,
                &[("x-aws-ec2-metadata-token-ttl-seconds", ttl)],
                TOKEN.as_bytes(),
            ),
            None => reply(400, &[], b""),
        },
        _ if seen.header("x-aws-ec2-metadata-token") != Some(TOKEN) => reply(401, &[], b""),
        ("GET", "/latest/meta-data/iam/security-credentials/") => reply(200, &[], b"web"),
        ("GET", "/latest/meta-data/iam/security-credentials/web") => reply(
            200,
            &[("content-type", "text/plain")],
            br#"{"Code":"Success","LastUpdated":"2026-11-28T04:41:11Z","Type":"AWS-HMAC",
"AccessKeyId":"ASIALOOPBACK","SecretAccessKey":"SENTINELSECRET","Token":"SENTINELSESSION",
"Expiration":"2026-11-28T10:41:11Z"}"#,
        ),
        _ => reply(404, &[], b"not found"),
    }
}
