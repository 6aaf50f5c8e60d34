//! Scripted fault windows applied to IMDS requests, in order: throttling, outages, malformed
//! bodies, then delays.

use std::time::Duration;

use credcycle_core::MonoTime;

use super::reply::{error, with_delay};
use super::state::{SimImds, Window};
use crate::request::{PathClass, SimReply, SimRequest};
use crate::scenario::{Fault, Malformation, OutageMode};
use crate::wire::error_page;

impl SimImds {
    pub(super) fn active(&self, t: MonoTime, class: PathClass) -> impl Iterator<Item = &Window> {
        self.windows
            .iter()
            .filter(move |w| w.active(t) && w.target.matches(class))
    }

    pub(super) fn imds(&mut self, t: MonoTime, class: PathClass, req: &SimRequest) -> SimReply {
        // 1. Throttling. The real service limits packets per second and mostly drops the
        //    excess, so a throttled request is not answered: the client sees a timeout. (A 429
        //    is rarer; scenarios script it as an `http` outage.)
        let mut throttled = false;
        for window in &mut self.windows {
            if let Fault::Throttle { per_second } = window.fault
                && window.active(t)
                && window.target.matches(class)
                && !window.admit(t, per_second)
            {
                throttled = true;
            }
        }
        if throttled {
            return SimReply::Drop;
        }
        // 2. Outages.
        let outage = self.active(t, class).find_map(|w| match w.fault {
            Fault::Outage(mode) => Some(mode),
            _ => None,
        });
        match outage {
            Some(OutageMode::Timeout) => return SimReply::Drop,
            Some(OutageMode::Reset) => return SimReply::Reset,
            Some(OutageMode::Http {
                status,
                retry_after,
            }) => {
                let mut reply = error(status);
                if let (Some(secs), SimReply::Respond { headers, .. }) = (retry_after, &mut reply) {
                    headers.append("Retry-After", secs.to_string());
                }
                return with_delay(reply, self.delay(t, class));
            }
            None => {}
        }
        // 3. The service itself, with broken bodies where scripted.
        let malformation = self.active(t, class).find_map(|w| match w.fault {
            Fault::Malformed(m) => Some(m),
            _ => None,
        });
        let mut reply = self.serve(t, req, malformation);
        if let (
            Some(m),
            SimReply::Respond {
                status: 200, body, ..
            },
        ) = (malformation, &mut reply)
        {
            match m {
                Malformation::Truncated => body.truncate(body.len() / 2),
                Malformation::NotJson => *body = error_page(502).into_bytes(),
                Malformation::Empty => body.clear(),
                // Written by the JSON builders themselves.
                Malformation::MissingFields
                | Malformation::BadExpiration
                | Malformation::AssumeRoleFailure => {}
            }
        }
        // 4. Slow responses.
        with_delay(reply, self.delay(t, class))
    }

    pub(super) fn delay(&self, t: MonoTime, class: PathClass) -> Option<Duration> {
        let total: Duration = self
            .active(t, class)
            .filter_map(|w| match w.fault {
                Fault::Delay(d) => Some(d),
                _ => None,
            })
            .fold(Duration::ZERO, Duration::saturating_add);
        (!total.is_zero()).then_some(total)
    }
}

impl Window {
    pub(super) fn active(&self, t: MonoTime) -> bool {
        self.from <= t && self.until.is_none_or(|until| t < until)
    }

    /// Admits a request at `t` if fewer than `per_second` were admitted in the second before.
    pub(super) fn admit(&mut self, t: MonoTime, per_second: u32) -> bool {
        while self
            .recent
            .front()
            .is_some_and(|&e| t.saturating_duration_since(e) >= Duration::from_secs(1))
        {
            self.recent.pop_front();
        }
        if self.recent.len() >= per_second as usize {
            return false;
        }
        self.recent.push_back(t);
        true
    }
}
