//! `serve --metrics ADDR`: the library's metrics (`docs/metrics.md`) in the Prometheus text
//! format at `http://ADDR/metrics`, through `metrics-exporter-prometheus`'s HTTP listener.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use chainstore_chain::ChainStore;
use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder};

/// Upper bounds of the latency histograms (every `*_seconds` metric): 100 µs to 10 s.
const SECONDS_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// Upper bounds of the count histograms (records per group commit, operations per batch).
const COUNT_BUCKETS: &[f64] =
    &[1.0, 2.0, 4.0, 8.0, 16.0, 64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0];

/// How often the sizes that no event reports (the backend's bytes on disk) are sampled.
const SAMPLE_EVERY: Duration = Duration::from_secs(1);

/// Installs the Prometheus recorder and serves it on `addr` (loopback unless `allow_remote`).
/// Called before the store is opened: a refused address leaves the directory alone.
pub(crate) fn serve(addr: SocketAddr, allow_remote: bool) -> anyhow::Result<()> {
    if !addr.ip().is_loopback() && !allow_remote {
        bail!(
            "--metrics {addr} is not a loopback address: the metrics describe the node to anyone \
             who can reach it; add --metrics-allow-remote to serve them there"
        );
    }
    if addr.port() == 0 {
        bail!("--metrics {addr}: give a port (the exporter cannot report one it picks)");
    }
    builder()
        .and_then(|b| b.with_http_listener(addr).install())
        .with_context(|| format!("cannot serve metrics on {addr}"))?;
    Ok(())
}

/// The exporter's configuration: the histograms' buckets.
fn builder() -> Result<PrometheusBuilder, BuildError> {
    PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS)
        .and_then(|b| b.set_buckets_for_metric(Matcher::Suffix("_records".into()), COUNT_BUCKETS))
        .and_then(|b| b.set_buckets_for_metric(Matcher::Suffix("_ops".into()), COUNT_BUCKETS))
}

/// The recorder `serve --metrics` installs, without its HTTP listener, for `bench metrics`.
pub(crate) fn exporter() -> anyhow::Result<chainstore_bench::metrics_cost::Exporter> {
    let recorder = builder().context("configuring the Prometheus exporter")?.build_recorder();
    let handle = recorder.handle();
    Ok(chainstore_bench::metrics_cost::Exporter {
        recorder: Box::new(recorder),
        render: Box::new(move || handle.render()),
    })
}

/// Samples the sizes that no event reports (the backend's bytes on disk) until `store` is gone.
pub(crate) fn sample(store: &Arc<ChainStore>) -> anyhow::Result<()> {
    crate::common::every_while_open(store, "chainstore-metrics", SAMPLE_EVERY, |store| {
        // The log and memtable gauges are set by the engine at every change.
        let stats = store.database().stats();
        metrics::gauge!("chainstore_db_backend_bytes").set(stats.backend_bytes as f64);
    })
}
