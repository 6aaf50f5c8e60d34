//! Integration tests of the Provider: against the simulator over loopback, and against
//! scripted fetchers for the concurrency properties.

#[cfg(feature = "aws-sdk")]
mod aws_sdk;
mod container;
mod flights;
mod herd;
mod hot_path;
mod props;
mod scripted;
mod sim;
mod stats;

pub(crate) use scripted::scripted;
