//! The endpoint's lifecycle: runtime threads, listener, drain and stop. Stand-in until the
//! core's `switchboard::host::HostedEndpoint` lands; same shape (new / start / queue / hub /
//! shutdown / close) so the switch is this file only.

use crate::config::{NativeConfig, NativeMount};
use crate::error::{Code, Result, error, invalid, state};
use parking_lot::Mutex;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use switchboard::channel::Hub;
use switchboard::endpoint::{DrainConfig, Endpoint, RunningEndpoint, SocketMount};
use switchboard::host::{HostQueue, QueueConfig};

#[derive(Debug)]
pub struct Hosted {
    config: NativeConfig,
    hub: Arc<Hub>,
    queue: HostQueue,
    runtime: Mutex<Option<tokio::runtime::Runtime>>,
    handle: tokio::runtime::Handle,
    running: Mutex<Option<RunningEndpoint>>,
}

impl Hosted {
    pub fn new(config: NativeConfig) -> Result<Hosted> {
        if config.mounts.is_empty() {
            return Err(invalid("at least one socket mount is needed"));
        }
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.enable_all().thread_name("switchboard");
        if config.worker_threads > 0 {
            builder.worker_threads(config.worker_threads as usize);
        }
        let runtime = builder
            .build()
            .map_err(|e| error(Code::Io, format!("cannot start runtime threads: {e}")))?;
        let queue = HostQueue::with_config(QueueConfig {
            max_pending: config.max_pending as usize,
            connect_timeout: Duration::from_millis(u64::from(config.request_timeout_ms)),
        });
        Ok(Hosted {
            hub: Hub::new(&config.node, config.shards as usize),
            handle: runtime.handle().clone(),
            runtime: Mutex::new(Some(runtime)),
            running: Mutex::new(None),
            queue,
            config,
        })
    }

    pub fn queue(&self) -> &HostQueue {
        &self.queue
    }

    pub fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }

    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.running.lock().as_ref().map(|r| r.local_addr())
    }

    fn mount(&self, m: &NativeMount) -> SocketMount {
        let c = &self.config;
        let mut mount = SocketMount::new()
            .max_channels(m.max_channels.unwrap_or(c.max_channels) as usize)
            .request_timeout_ms(u64::from(c.request_timeout_ms))
            .auth_token(m.auth_token.unwrap_or(c.auth_token))
            .max_frame_size(m.max_frame_bytes.unwrap_or(c.max_frame_bytes) as usize)
            .idle_timeout_ms(u64::from(m.idle_timeout_ms.unwrap_or(c.idle_timeout_ms)))
            .outbox_limits(
                m.outbox_max_frames.unwrap_or(c.outbox_max_frames) as usize,
                m.outbox_max_bytes.unwrap_or(c.outbox_max_bytes) as usize,
            );
        if let Some(origins) = m.check_origin.as_ref().or(c.check_origin.as_ref()) {
            mount = mount.check_origin(origins.iter().cloned());
        }
        if c.host_connect {
            mount = mount.connect(self.queue.connect_handler());
        }
        for route in &c.channels {
            mount = mount.channel(
                &route.pattern,
                self.queue
                    .channel_handler()
                    .intercept(route.intercepts.iter().cloned()),
            );
        }
        mount
    }

    pub fn start(&self) -> Result<SocketAddr> {
        let mut running = self.running.lock();
        if running.is_some() {
            return Err(state("the endpoint is already listening"));
        }
        let c = &self.config;
        let bind: SocketAddr = c
            .bind
            .parse()
            .map_err(|_| invalid(format!("{:?} is not `ip:port`", c.bind)))?;
        let mut builder = Endpoint::builder()
            .bind(bind)
            .hub(self.hub.clone())
            .drain(DrainConfig {
                batch_size: c.drain_batch_size.max(1) as usize,
                batch_interval: Duration::from_millis(u64::from(c.drain_interval_ms)),
                timeout: Duration::from_millis(u64::from(c.drain_timeout_ms)),
            });
        for m in &c.mounts {
            builder = builder.socket(m.path.clone(), self.mount(m));
        }
        for f in &c.static_files {
            builder = builder.static_file(f.route.clone(), f.path.clone(), f.content_type.clone());
        }
        let ep = self.handle.block_on(builder.start()).map_err(|e| {
            let code = match e {
                switchboard::endpoint::EndpointError::Bind { .. } => Code::Io,
                _ => Code::InvalidArgument,
            };
            error(code, e.to_string())
        })?;
        let addr = ep.local_addr();
        *running = Some(ep);
        Ok(addr)
    }

    /// Drains (close 1012, channels terminate) and stops listening. Blocking.
    pub fn shutdown(&self) -> Result<()> {
        let ep = self.running.lock().clone();
        if let Some(ep) = ep {
            self.handle
                .block_on(ep.shutdown())
                .map_err(|e| error(Code::Io, e.to_string()))?;
        }
        Ok(())
    }

    /// Shutdown, then stops the runtime threads. Blocking.
    pub fn close(&self) -> Result<()> {
        let result = self.shutdown();
        if let Some(rt) = self.runtime.lock().take() {
            rt.shutdown_timeout(Duration::from_secs(10));
        }
        result
    }
}
