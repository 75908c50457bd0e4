//! `--track`: `/v1/track` events, alone and beside the lead burst. The events come from many
//! visitors, each from an address of their own (the rate limits are per visitor and address),
//! a page view then heartbeats; written/s is measured until no event waits to be written.

use super::{
    load, load_path, paced_load_to, BenchDb, BenchReceiver, LoadResult, Options, Request, Server,
};
use std::sync::Arc;
use std::time::{Duration, Instant};

const EVENTS: usize = 100_000;
const VISITORS: usize = 20_000;
const TRACK_CONNECTIONS: usize = 32;
const LEAD_CONNECTIONS: usize = 64;
/// The tracking rate the leads are measured beside (the figure).
const PACED_RATE: f64 = 10_000.0;

fn track_events(count: usize, visitors: usize) -> Vec<Request> {
    let now = chrono::Utc::now().timestamp_millis();
    (0..count)
        .map(|i| {
            let visitor = i % visitors;
            let kind = if i < visitors {
                "pageview"
            } else {
                "heartbeat"
            };
            let body = serde_json::json!({
                "visitor_id": format!("tv_{visitor:x}"), "session_id": format!("ts_{visitor:x}"),
                "type": kind, "url": format!("https://example.com/page/{}", i % 7),
                "title": "A page", "ts": now + (i / visitors) as i64 * 15_000,
                "tz": "Asia/Kolkata",
            });
            Request {
                body: body.to_string(),
                ip: format!(
                    "10.{}.{}.{}",
                    100 + visitor / 65_536,
                    (visitor / 256) % 256,
                    visitor % 256
                ),
            }
        })
        .collect()
}

/// Waits until the daemon has no tracking event waiting; returns how long that took.
fn wait_written(leadgate: &Server) -> Duration {
    let started = Instant::now();
    while leadgate.admin_get("/admin/health")["tracking"]["waiting"] != 0 {
        std::thread::sleep(Duration::from_millis(50));
    }
    started.elapsed()
}

fn print_track(label: &str, events: &LoadResult, written_after: Duration) {
    println!(
        "{}",
        events
            .line(&format!("{label} track c={TRACK_CONNECTIONS:<3}"))
            .replace("acks/s", "events/s")
    );
    println!(
        "{label} track: {} events written {:.2}s after the first request ({:.0} written/s end to end)",
        events.accepted,
        (events.elapsed + written_after).as_secs_f64(),
        events.accepted as f64 / (events.elapsed + written_after).as_secs_f64()
    );
}

pub(super) fn track_runs(options: &Options, leads: &Arc<Vec<Request>>, receiver: &BenchReceiver) {
    let events = Arc::new(track_events(EVENTS, VISITORS));
    let dir = tempfile::tempdir().expect("temp dir");
    println!(
        "tracking: {EVENTS} events from {VISITORS} visitors, each from an address of their own"
    );

    // What 10,000 events/s cost the daemon: its CPU time over 5 s of them, until written.
    let db = BenchDb::new(options, &dir, "track_cpu");
    let leadgate = Server::leadgate_to(&options.leadgate_bin, &db.url, &receiver.url);
    let paced: Arc<Vec<Request>> = Arc::new(events[..PACED_RATE as usize * 5].to_vec());
    let (cpu_before, started) = (leadgate.cpu_seconds(), Instant::now());
    let taken = paced_load_to(
        &leadgate.base,
        "/v1/track",
        TRACK_CONNECTIONS,
        PACED_RATE,
        &paced,
    );
    wait_written(&leadgate);
    let (cpu, wall) = (leadgate.cpu_seconds() - cpu_before, started.elapsed());
    println!(
        "paced         track: {} of {} events at {PACED_RATE:.0}/s took {:.2}s of the daemon's CPU over {:.2}s: {:.0}% of a core, {:.0} µs an event",
        taken.len(),
        paced.len(),
        cpu,
        wall.as_secs_f64(),
        cpu / wall.as_secs_f64() * 100.0,
        cpu * 1e6 / taken.len().max(1) as f64
    );
    drop(leadgate);

    let db = BenchDb::new(options, &dir, "track_alone");
    let leadgate = Server::leadgate_to(&options.leadgate_bin, &db.url, &receiver.url);
    let alone = load_path(&leadgate.base, "/v1/track", TRACK_CONNECTIONS, &events);
    print_track("alone        ", &alone, wait_written(&leadgate));
    drop(leadgate);

    let db = BenchDb::new(options, &dir, "leads_alone");
    let burst = super::burst_run(options, &db, LEAD_CONNECTIONS, leads, receiver, None);
    let leads_alone = burst.acks.acks_per_second();
    let p99_alone = burst.acks.percentile(0.99);
    println!(
        "{}",
        burst
            .acks
            .line(&format!("leads alone   c={LEAD_CONNECTIONS:<3}"))
    );
    println!(
        "leads alone: {:.0} submissions stored/s end to end",
        burst.stored_per_second
    );

    // Tracking paced at 10,000 events/s for 5 s; the lead burst starts a second into it.
    let db = BenchDb::new(options, &dir, "beside");
    let leadgate = Server::leadgate_to(&options.leadgate_bin, &db.url, &receiver.url);
    let (base, paced_events) = (leadgate.base.clone(), paced.clone());
    let started = Instant::now();
    let tracking = std::thread::spawn(move || {
        paced_load_to(
            &base,
            "/v1/track",
            TRACK_CONNECTIONS,
            PACED_RATE,
            &paced_events,
        )
        .len()
    });
    std::thread::sleep(Duration::from_secs(1));
    let acks = load(&leadgate.base, LEAD_CONNECTIONS, leads);
    let tracked = tracking.join().expect("tracking load");
    let tracked_for = started.elapsed();
    println!(
        "{}",
        acks.line(&format!("leads beside  c={LEAD_CONNECTIONS:<3}"))
    );
    println!(
        "leads beside {PACED_RATE:.0} events/s: {:.2}x the acks/s of the burst alone, p99 {:.2}x",
        acks.acks_per_second() / leads_alone,
        acks.percentile(0.99) / p99_alone.max(0.001)
    );
    let written_after = wait_written(&leadgate);
    println!(
        "beside leads  track: {tracked} of {} events taken in {:.2}s ({:.0}/s), written {:.2}s after the last",
        paced.len(),
        tracked_for.as_secs_f64(),
        tracked as f64 / tracked_for.as_secs_f64(),
        written_after.as_secs_f64()
    );
    let drained = leadgate.wait_drained();
    println!(
        "beside leads: inbox drained {:.2}s after; peak RSS {} MiB",
        drained.as_secs_f64(),
        leadgate.peak_rss_mib()
    );
}
