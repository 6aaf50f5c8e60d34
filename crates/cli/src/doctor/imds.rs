//! The way to IMDS: one attempt per request, every reply's `Date` kept; and the connect step.

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use credcycle_clock::SystemClock;
use credcycle_core::{MonoTime, WallTime};
use credcycle_imds::{
    Endpoint, HttpRequest, HttpResponse, ImdsConfig, Transport, TransportError, UreqTransport,
};
use serde_json::json;

use super::report::{Step, Verdict, seconds};

/// One request's reply, and when it came (wall clock).
pub(super) struct Exchange {
    pub(super) reply: Result<HttpResponse, TransportError>,
    pub(super) received: WallTime,
}

impl Exchange {
    /// The reply and when it came, or the failed `step` saying that its request (`what`) got
    /// no reply.
    pub(super) fn or_no_reply(
        self,
        step: &'static str,
        what: &str,
    ) -> Result<(HttpResponse, WallTime), Step> {
        match self.reply {
            Ok(reply) => Ok((reply, self.received)),
            Err(e) => Err(Step::no_reply(step, what, &e)),
        }
    }
}

pub(super) struct Imds {
    pub(super) endpoint: Endpoint,
    pub(super) timeout: Duration,
    transport: UreqTransport,
    clock: SystemClock,
    /// Every reply's `Date` and the wall-clock bounds of its request.
    pub(super) dates: Vec<(String, WallTime, WallTime)>,
}

impl Imds {
    pub(super) fn new(config: &ImdsConfig) -> Self {
        Self {
            endpoint: config.endpoint().clone(),
            timeout: config.timeout(),
            transport: UreqTransport::new(),
            clock: SystemClock::new(),
            dates: Vec::new(),
        }
    }

    pub(super) fn send(&mut self, request: &HttpRequest) -> Exchange {
        let sent = self.clock.now().wall;
        let reply = self.transport.send(request, self.timeout);
        let received = self.clock.now().wall;
        if let Ok(r) = &reply
            && let Some(date) = r.header("Date")
        {
            self.dates.push((date.to_owned(), sent, received));
        }
        Exchange { reply, received }
    }
}

/// The host and port of an endpoint (`http://host[:port]`, validated already).
fn host_port(endpoint: &Endpoint) -> (String, u16) {
    let authority = endpoint
        .as_str()
        .strip_prefix("http://")
        .unwrap_or(endpoint.as_str());
    let (host, port) = match authority.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((host, after)) => (host, after.strip_prefix(':')),
            None => (rest, None),
        },
        None => match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        },
    };
    let port = port.and_then(|p| p.parse().ok()).unwrap_or(80);
    (host.to_owned(), port)
}

pub(super) fn connect(imds: &Imds) -> Step {
    let (host, port) = host_port(&imds.endpoint);
    let addrs: Vec<SocketAddr> = match (host.as_str(), port).to_socket_addrs() {
        Ok(addrs) => addrs.collect(),
        Err(_) => {
            return Step::new(
                "connect",
                Verdict::Fail,
                format!("cannot resolve {host}: no address for the endpoint's host"),
            );
        }
    };
    let mut last = None;
    for addr in &addrs {
        let start = imds.clock.now().mono;
        match TcpStream::connect_timeout(addr, imds.timeout) {
            Ok(_) => {
                let ms = ms_since(imds, start);
                return Step::new(
                    "connect",
                    Verdict::Ok,
                    format!("TCP connection to {addr} opened in {ms} ms"),
                )
                .data(json!({ "address": addr.to_string(), "ms": ms }));
            }
            Err(e) => last = Some((*addr, e)),
        }
    }
    let Some((addr, e)) = last else {
        return Step::new(
            "connect",
            Verdict::Fail,
            format!("{host} resolves to no address"),
        );
    };
    let data = json!({ "address": addr.to_string(), "error": e.kind().to_string() });
    let step = match e.kind() {
        std::io::ErrorKind::ConnectionRefused => Step::new(
            "connect",
            Verdict::Fail,
            format!(
                "connection to {addr} refused: nothing listens there (not on EC2, or the wrong \
                 endpoint)"
            ),
        ),
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => Step::new(
            "connect",
            Verdict::Fail,
            format!(
                "no answer to a connection to {addr} within {}: not on EC2, IMDS turned off, or \
                 a firewall drops the packets",
                seconds(imds.timeout)
            ),
        )
        .fix(
            "on EC2: aws ec2 modify-instance-metadata-options --instance-id <instance-id> \
             --http-endpoint enabled",
        ),
        kind => Step::new(
            "connect",
            Verdict::Fail,
            format!("cannot connect to {addr}: {kind}"),
        ),
    };
    step.data(data)
}

fn ms_since(imds: &Imds, start: MonoTime) -> u64 {
    u64::try_from(
        imds.clock
            .now()
            .mono
            .saturating_duration_since(start)
            .as_millis(),
    )
    .unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_and_port_of_endpoints() {
        let hp = |url: &str| host_port(&Endpoint::parse(url).unwrap());
        assert_eq!(hp("http://169.254.169.254"), ("169.254.169.254".into(), 80));
        assert_eq!(hp("http://127.0.0.1:1338"), ("127.0.0.1".into(), 1338));
        assert_eq!(hp("http://[fd00:ec2::254]"), ("fd00:ec2::254".into(), 80));
        assert_eq!(hp("http://[::1]:8080"), ("::1".into(), 8080));
        assert_eq!(hp("http://localhost:9"), ("localhost".into(), 9));
    }

    #[test]
    fn the_default_endpoint_is_imds_without_connecting() {
        // Only the URL is checked: nothing may ever be sent to 169.254.169.254 in a test.
        let config = ImdsConfig::builder()
            .build_with_sources(|_| None, None)
            .unwrap();
        assert_eq!(config.endpoint().as_str(), "http://169.254.169.254");
        assert_eq!(
            host_port(config.endpoint()),
            ("169.254.169.254".to_owned(), 80)
        );
    }
}
