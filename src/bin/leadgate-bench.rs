//! leadgate-bench: a load generator for `POST /v1/leads`, run against leadgate and, in the same
//! run and with the same generator, against a bare actix-web handler that appends each body to
//! SQLite through one writer thread with group commit and `synchronous=FULL` — the machine's
//! own limit for a durable ack.
//!
//! ```text
//! cargo build --release
//! target/release/leadgate-bench [--connections 64,8] [--requests 20000] [--people 5000]
//!     [--database-url postgres://postgres@127.0.0.1:5432/postgres] [--one-ip]
//! ```
//! Each run: accepted submissions/s, ack latency p50/p99/max, leadgate's as a ratio of the bare
//! handler's; for leadgate also the time from the first request until the inbox is drained
//! (leads stored/s on a sustained burst) and the daemon's peak memory. Each person posts from
//! an address of their own (`X-Forwarded-For`, which leadgate believes from 127.0.0.1), or with
//! `--one-ip` everyone from one address, as behind an office NAT or a proxy without its header.

#[path = "leadgate-bench/prefill.rs"]
mod prefill;
#[path = "leadgate-bench/tracking.rs"]
mod tracking;

use actix_web::{web, App, HttpResponse, HttpServer};
use clap::{Parser, Subcommand};
use diesel::connection::SimpleConnection;
use diesel::{Connection, RunQueryDsl};
use leadgate::store::scratch::ScratchDatabase;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

const PROJECTS: &[&str] = &[
    "Skyline Towers",
    "Lake View",
    "Green Acres",
    "Harbour Point",
    "Palm Residency",
    "Metro Heights",
    "Cedar Park",
    "Sunrise Villas",
];

/// Load generator for `POST /v1/leads`: leadgate against a bare actix-web handler that appends
/// each body to SQLite (one writer thread, group commit, `synchronous=FULL`), same generator.
#[derive(Parser)]
#[command(
    name = "leadgate-bench",
    version,
    args_conflicts_with_subcommands = true,
    args_override_self = true
)]
struct Args {
    /// Concurrent connections, one leadgate and one bare-handler run per value (comma-separated)
    #[arg(
        long,
        value_name = "N,N,...",
        value_delimiter = ',',
        value_parser = connection_count,
        default_value = "64,8",
        action = clap::ArgAction::Set
    )]
    connections: Vec<usize>,
    /// Requests per run
    #[arg(long, value_name = "N", default_value_t = 20_000)]
    requests: usize,
    /// Distinct people the requests are drawn from: about 70% of requests are new people until all
    /// of them are introduced, the rest returning ones
    #[arg(long, value_name = "N", default_value_t = 5_000)]
    people: usize,
    /// The leadgate binary to run [default: `leadgate` next to this binary]
    #[arg(long, value_name = "PATH")]
    leadgate_bin: Option<String>,
    /// A PostgreSQL server to run leadgate on (a fresh database is created on it for each run and
    /// dropped after); SQLite in a temporary folder without it
    #[arg(long, value_name = "URL", value_parser = postgres_url)]
    database_url: Option<String>,
    /// Every request from one client address (as behind an office NAT) instead of one per person
    #[arg(long)]
    one_ip: bool,
    /// Fill leadgate's database to N leads first (1.2 submissions each) and compare its bursts and
    /// `q=` searches with an empty database's, instead of the usual runs
    #[arg(long, value_name = "N")]
    prefill: Option<usize>,
    /// Instead of the usual runs: `/v1/track` alone, then beside the lead burst (tracking
    /// events/s, and the lead acks beside a burst without tracking).
    #[arg(long)]
    track: bool,

    #[command(subcommand)]
    command: Option<Internal>,
}

#[derive(Subcommand)]
enum Internal {
    /// The bare handler on a free port (started by the benchmark itself)
    #[command(hide = true)]
    BareServer {
        #[arg(value_name = "DB_PATH")]
        db: String,
    },
}

struct Options {
    connections: Vec<usize>,
    requests: usize,
    people: usize,
    leadgate_bin: String,
    postgres: Option<String>,
    one_ip: bool,
}

/// One request: its JSON body and the client address it comes from.
#[derive(Clone)]
struct Request {
    body: String,
    ip: String,
}

/// A PostgreSQL URL (`postgres://` or `postgresql://`).
fn postgres_url(value: &str) -> Result<String, String> {
    match value.starts_with("postgres://") || value.starts_with("postgresql://") {
        true => Ok(value.to_string()),
        false => Err("expected postgres://... (SQLite is the default)".into()),
    }
}

/// A connection count: a positive integer (blanks around it allowed).
fn connection_count(value: &str) -> Result<usize, String> {
    match value.trim().parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

fn sibling_binary(name: &str) -> String {
    let me = std::env::current_exe().expect("current exe");
    me.with_file_name(name).to_string_lossy().into_owned()
}

fn main() {
    let args = Args::parse();
    if let Some(Internal::BareServer { db }) = &args.command {
        return bare_server(db);
    }
    let options = Options {
        connections: args.connections,
        requests: args.requests,
        people: args.people,
        leadgate_bin: args
            .leadgate_bin
            .unwrap_or_else(|| sibling_binary("leadgate")),
        postgres: args.database_url,
        one_ip: args.one_ip,
    };
    let bodies = Arc::new(request_bodies(
        options.requests,
        options.people,
        options.one_ip,
    ));
    println!(
        "leadgate-bench: {} requests per run, {} people over {} projects ({} distinct), {}, leadgate on {}, {} cores",
        options.requests,
        options.people,
        PROJECTS.len(),
        distinct_people(&bodies),
        if options.one_ip { "every request from one IP" } else { "an IP per person" },
        if options.postgres.is_some() { "PostgreSQL" } else { "SQLite" },
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    let receiver = BenchReceiver::start();
    if let Some(leads) = args.prefill {
        return prefill_runs(&options, leads, &bodies, &receiver);
    }
    if args.track {
        return tracking::track_runs(&options, &bodies, &receiver);
    }
    backlog_run(&options, &bodies, &receiver);
    delivery_runs(&options, &receiver);
    for &connections in &options.connections {
        let dir = tempfile::tempdir().expect("temp dir");
        let bare = Server::bare(&dir.path().join("bare.db"));
        let bare_result = load(&bare.base, connections, &bodies);
        println!(
            "{}",
            bare_result.line(&format!("bare handler  c={connections:<3}"))
        );
        drop(bare);

        let db = BenchDb::new(&options, &dir, "burst");
        let burst = burst_run(&options, &db, connections, &bodies, &receiver, None);
        print_burst("leadgate     ", connections, &burst, &bare_result, &options);
        drop(db);
    }
}

/// What one leadgate burst measured.
struct Burst {
    acks: LoadResult,
    stored_per_second: f64,
    drained: Duration,
    processed: Duration,
    leads: usize,
    peak_rss: String,
    /// `q=` latencies during the burst and after it, when searched.
    searches: Option<(Vec<Duration>, Vec<Duration>)>,
}

/// The bodies posted at `connections` to leadgate on `db`, until its inbox is empty; with
/// `search_terms`, a client searching `q=` ten times a second meanwhile, and 200 times after.
fn burst_run(
    options: &Options,
    db: &BenchDb,
    connections: usize,
    bodies: &Arc<Vec<Request>>,
    receiver: &BenchReceiver,
    search_terms: Option<Vec<String>>,
) -> Burst {
    let leadgate = Server::leadgate_to(&options.leadgate_bin, &db.url, &receiver.url);
    let searching = search_terms.map(|terms| Searcher::start(&leadgate.base, terms));
    let started = Instant::now();
    let acks = load(&leadgate.base, connections, bodies);
    let drained = leadgate.wait_drained();
    let processed = started.elapsed();
    let searches = searching.map(|s| s.finish(200));
    Burst {
        stored_per_second: options.requests as f64 / processed.as_secs_f64(),
        acks,
        drained,
        processed,
        leads: leadgate.count_leads(),
        peak_rss: leadgate.peak_rss_mib(),
        searches,
    }
}

fn print_burst(
    label: &str,
    connections: usize,
    burst: &Burst,
    bare: &LoadResult,
    options: &Options,
) {
    let acks = &burst.acks;
    println!("{}", acks.line(&format!("{label} c={connections:<3}")));
    println!(
        "{label} c={connections:<3} {:.2}x the bare handler's acks/s, p99 {:.2}x its p99",
        acks.acks_per_second() / bare.acks_per_second(),
        acks.percentile(0.99) / bare.percentile(0.99).max(0.001)
    );
    println!(
        "{label} c={connections:<3} processed {} submissions into {} leads in {:.2}s after the first request: {:.0} submissions/s end to end (inbox drained {:.2}s after the last ack); peak RSS {} MiB",
        options.requests,
        burst.leads,
        burst.processed.as_secs_f64(),
        burst.stored_per_second,
        burst.drained.as_secs_f64(),
        burst.peak_rss
    );
}

/// `--prefill`: for each connection count, the bare handler, leadgate on an empty database and
/// leadgate on one filled to `leads` leads (searched meanwhile), with the ratios.
fn prefill_runs(
    options: &Options,
    leads: usize,
    bodies: &Arc<Vec<Request>>,
    receiver: &BenchReceiver,
) {
    for &connections in &options.connections {
        let dir = tempfile::tempdir().expect("temp dir");
        let bare = Server::bare(&dir.path().join("bare.db"));
        let bare_result = load(&bare.base, connections, bodies);
        println!(
            "{}",
            bare_result.line(&format!("bare handler  c={connections:<3}"))
        );
        drop(bare);
        let empty_db = BenchDb::new(options, &dir, "empty");
        let empty = burst_run(options, &empty_db, connections, bodies, receiver, None);
        print_burst("empty db     ", connections, &empty, &bare_result, options);
        drop(empty_db);
        let filled_db = BenchDb::new(options, &dir, "prefilled");
        migrate_with_binary(options, &filled_db);
        let target =
            leadgate::config::parse_database_url(&filled_db.url).expect("bench database URL");
        let mut conn = leadgate::store::establish(&target).expect("open bench db");
        let account =
            leadgate::store::accounts::ensure_default_account(&mut conn).expect("account");
        let took = prefill::prefill(&mut conn, leads, &account.id, PROJECTS).expect("prefill");
        drop(conn);
        println!(
            "prefilled     {leads} leads, {} submissions in {:.1}s",
            leads + leads / 5,
            took.as_secs_f64()
        );
        let terms = prefill::search_terms(leads);
        let filled = burst_run(
            options,
            &filled_db,
            connections,
            bodies,
            receiver,
            Some(terms),
        );
        print_burst("prefilled db ", connections, &filled, &bare_result, options);
        println!(
            "prefilled db  c={connections:<3} {:.2}x the empty database's acks/s, {:.2}x its stored/s",
            filled.acks.acks_per_second() / empty.acks.acks_per_second(),
            filled.stored_per_second / empty.stored_per_second
        );
        if let Some((during, after)) = &filled.searches {
            println!(
                "prefilled db  q= searches during the burst: {}",
                latency_summary(during)
            );
            println!(
                "prefilled db  q= searches after it:         {}",
                latency_summary(after)
            );
            println!(
                "prefilled db  q= searches that found no lead: {} of {}",
                SEARCHES_FOUND_NOTHING.load(Ordering::SeqCst),
                during.len() + after.len()
            );
        }
    }
}

fn latency_summary(latencies: &[Duration]) -> String {
    let mut ms: Vec<f64> = latencies.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
    ms.sort_by(f64::total_cmp);
    let at = |p: f64| {
        ms.get(((ms.len().max(1) - 1) as f64 * p).round() as usize)
            .copied()
            .unwrap_or(0.0)
    };
    format!(
        "{} requests, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        ms.len(),
        at(0.5),
        at(0.99),
        at(1.0)
    )
}

/// A client that searches `q=` ten times a second on its own thread until told to finish.
struct Searcher {
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<Vec<Duration>>,
    base: String,
    terms: Vec<String>,
}

impl Searcher {
    fn start(base: &str, terms: Vec<String>) -> Searcher {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (flag, url, words) = (stop.clone(), base.to_string(), terms.clone());
        let thread = std::thread::spawn(move || {
            let mut latencies = Vec::new();
            // Ten a second, as a dashboard or a few operators would: what a burst meets.
            let mut next = Instant::now();
            while !flag.load(Ordering::SeqCst) {
                let term = &words[latencies.len() % words.len()];
                latencies.push(search_once(&url, term));
                next += Duration::from_millis(100);
                std::thread::sleep(next.saturating_duration_since(Instant::now()));
            }
            latencies
        });
        Searcher {
            stop,
            thread,
            base: base.to_string(),
            terms,
        }
    }

    /// The searches made so far, and `more` made afterwards with nothing else running.
    fn finish(self, more: usize) -> (Vec<Duration>, Vec<Duration>) {
        self.stop.store(true, Ordering::SeqCst);
        let during = self.thread.join().expect("searcher");
        let after = (0..more)
            .map(|i| search_once(&self.base, &self.terms[i % self.terms.len()]))
            .collect();
        (during, after)
    }
}

/// Searches that found no lead: every term names a prefilled person, so this should stay 0.
static SEARCHES_FOUND_NOTHING: AtomicUsize = AtomicUsize::new(0);

fn search_once(base: &str, term: &str) -> Duration {
    let started = Instant::now();
    let page = admin_get(
        base,
        &format!("/admin/leads?limit=50&q={}", urlencode(term)),
    );
    let elapsed = started.elapsed();
    if page["leads"].as_array().is_none_or(Vec::is_empty) {
        SEARCHES_FOUND_NOTHING.fetch_add(1, Ordering::SeqCst);
    }
    elapsed
}

/// An admin page's JSON (the bench's own token); a refused request stops the bench.
fn admin_get(base: &str, path: &str) -> serde_json::Value {
    let url = format!("{base}{path}");
    actix_web::rt::System::new().block_on(async move {
        let mut response = awc::Client::default()
            .get(url)
            .insert_header(("Authorization", "Bearer bench"))
            .send()
            .await
            .expect("admin request");
        assert!(
            response.status().is_success(),
            "admin request answered {}",
            response.status()
        );
        response
            .json::<serde_json::Value>()
            .limit(64 << 20)
            .await
            .expect("admin JSON")
    })
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// End to end to a receiver started here: how fast new leads reach it, and the latency from the
/// client's ack to the receiver at a steady 1,000 leads/s.
fn delivery_runs(options: &Options, receiver: &BenchReceiver) {
    let count = options.requests.min(20_000);
    let already = receiver.arrivals().len();

    let dir = tempfile::tempdir().expect("temp dir");
    let db = BenchDb::new(options, &dir, "throughput");
    let leadgate = Server::leadgate_to(&options.leadgate_bin, &db.url, &receiver.url);
    let bodies = Arc::new(new_people(count, "fast", options.one_ip));
    let started = Instant::now();
    let acks = load(&leadgate.base, 64, &bodies);
    receiver.wait_for(already + count);
    let elapsed = started.elapsed();
    println!(
        "delivery       c=64  {count} new leads acked in {:.2}s ({:.0} acks/s), all received by the webhook in {:.2}s: {:.0} leads delivered/s end to end",
        acks.elapsed.as_secs_f64(),
        acks.accepted as f64 / acks.elapsed.as_secs_f64(),
        elapsed.as_secs_f64(),
        count as f64 / elapsed.as_secs_f64()
    );
    drop(leadgate);
    drop(db);

    let rate = 1_000.0;
    let paced_count = (rate as usize) * 10;
    let db = BenchDb::new(options, &dir, "latency");
    let leadgate = Server::leadgate_to(&options.leadgate_bin, &db.url, &receiver.url);
    let bodies = Arc::new(new_people(paced_count, "paced", options.one_ip));
    let acked = paced_load(&leadgate.base, 8, rate, &bodies);
    receiver.wait_for(already + count + paced_count);
    let arrivals = receiver.arrivals();
    let mut latencies_us: Vec<u64> = acked
        .iter()
        .filter_map(|(email, ack)| {
            arrivals
                .get(email)
                .map(|at| at.saturating_duration_since(*ack).as_micros() as u64)
        })
        .collect();
    latencies_us.sort_unstable();
    let result = LoadResult {
        accepted: latencies_us.len(),
        failed: paced_count - latencies_us.len(),
        elapsed: Duration::from_secs(10),
        latencies_us,
    };
    println!(
        "delivery at {rate:.0} leads/s for 10 s: ack to webhook p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms  ({} of {paced_count} matched)",
        result.percentile(0.50),
        result.percentile(0.99),
        result.latencies_us.last().copied().unwrap_or(0) as f64 / 1000.0,
        result.accepted
    );
}

fn new_people(count: usize, tag: &str, one_ip: bool) -> Vec<Request> {
    (0..count)
        .map(|i| Request {
            body: serde_json::json!({"name": format!("New {i}"), "email": format!("{tag}{i}@example.com"), "project": PROJECTS[i % PROJECTS.len()]})
                .to_string(),
            ip: client_ip(i, one_ip),
        })
        .collect()
}

/// Person `n`'s address: one of 16 million in 10.0.0.0/8, or with `one_ip` everyone's the same.
fn client_ip(person: usize, one_ip: bool) -> String {
    if one_ip {
        return "203.0.113.7".into();
    }
    let n = (person as u32).wrapping_mul(2_654_435_761) >> 8;
    format!("10.{}.{}.{}", (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff)
}

fn email_of(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["email"].as_str().map(str::to_string))
        .unwrap_or_default()
}

/// `connections` tasks sending leads at `rate` requests/s in total; returns each email's ack time.
fn paced_load(
    base: &str,
    connections: usize,
    rate: f64,
    bodies: &Arc<Vec<Request>>,
) -> Vec<(String, Instant)> {
    paced_load_to(base, "/v1/leads", connections, rate, bodies)
}

/// `connections` tasks posting `bodies` to `path` at `rate` requests/s in total.
fn paced_load_to(
    base: &str,
    path: &str,
    connections: usize,
    rate: f64,
    bodies: &Arc<Vec<Request>>,
) -> Vec<(String, Instant)> {
    let url = format!("{base}{path}");
    let bodies = bodies.clone();
    actix_web::rt::System::new().block_on(async move {
        let client = awc::Client::builder()
            .connector(awc::Connector::new().limit(connections))
            .timeout(Duration::from_secs(30))
            .finish();
        let start = Instant::now();
        let tasks = (0..connections).map(|task| {
            let (client, bodies, url) = (client.clone(), bodies.clone(), url.clone());
            async move {
                let mut acked = Vec::new();
                for i in (task..bodies.len()).step_by(connections) {
                    let due = start + Duration::from_secs_f64(i as f64 / rate);
                    actix_web::rt::time::sleep_until(due.into()).await;
                    let response = client
                        .post(&url)
                        .insert_header(("Content-Type", "application/json"))
                        .insert_header(("Accept", "application/json"))
                        .insert_header(("X-Forwarded-For", bodies[i].ip.as_str()))
                        .send_body(bodies[i].body.clone())
                        .await;
                    if let Ok(mut r) = response {
                        let _ = r.body().await;
                        if r.status().is_success() {
                            acked.push((email_of(&bodies[i].body), Instant::now()));
                        }
                    }
                }
                acked
            }
        });
        futures_util::future::join_all(tasks)
            .await
            .into_iter()
            .flatten()
            .collect()
    })
}

/// The webhook receiver: records when each lead (by email) arrived, answers 200.
struct BenchReceiver {
    url: String,
    arrivals: Arc<std::sync::Mutex<std::collections::HashMap<String, Instant>>>,
}

impl BenchReceiver {
    fn start() -> BenchReceiver {
        let arrivals: Arc<std::sync::Mutex<std::collections::HashMap<String, Instant>>> =
            Arc::default();
        let (tx, rx) = mpsc::channel();
        let sink = arrivals.clone();
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server = HttpServer::new(move || {
                    let sink = sink.clone();
                    App::new().route(
                        "/hook",
                        web::post().to(move |body: web::Bytes| {
                            let sink = sink.clone();
                            async move {
                                let email = email_of(&String::from_utf8_lossy(&body));
                                sink.lock()
                                    .unwrap()
                                    .entry(email)
                                    .or_insert_with(Instant::now);
                                HttpResponse::Ok().finish()
                            }
                        }),
                    )
                })
                .workers(1)
                .bind("127.0.0.1:0")
                .expect("bind receiver");
                let _ = tx.send(server.addrs()[0]);
                server.run().await.expect("receiver");
            });
        });
        let addr = rx.recv().expect("receiver address");
        BenchReceiver {
            url: format!("http://{addr}/hook"),
            arrivals,
        }
    }

    fn arrivals(&self) -> std::collections::HashMap<String, Instant> {
        self.arrivals.lock().unwrap().clone()
    }

    fn wait_for(&self, count: usize) {
        let deadline = Instant::now() + Duration::from_secs(300);
        while self.arrivals.lock().unwrap().len() < count && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// The pipeline alone: the inbox is filled before leadgate starts, then drained.
fn backlog_run(options: &Options, bodies: &[Request], receiver: &BenchReceiver) {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = BenchDb::new(options, &dir, "backlog");
    migrate_with_binary(options, &db);
    let target = leadgate::config::parse_database_url(&db.url).expect("bench database URL");
    let mut conn = leadgate::store::establish(&target).expect("open bench db");
    let account = leadgate::store::accounts::ensure_default_account(&mut conn).expect("account");
    // Since the inbox has a file of its own on SQLite, it is filled there (older builds: here).
    if let leadgate::config::DatabaseTarget::Sqlite(path) = &target {
        let inbox_file = leadgate::store::inbox_file::inbox_file_of(path);
        if inbox_file.exists() {
            conn = leadgate::store::inbox_file::establish_inbox_file(path).expect("inbox file");
        }
    }
    let now = leadgate::store::now();
    let received_at_ms = chrono::Utc::now().timestamp_millis();
    let writes: Vec<_> = bodies
        .iter()
        .map(|request| {
            let meta = serde_json::json!({"ip": request.ip, "user_agent": "bench", "geo": {}, "received_at_ms": received_at_ms});
            leadgate::store::inbox::AckWrite::Inbox(leadgate::store::models::NewInboxRow {
                public_id: leadgate::store::new_public_id(),
                kind: leadgate::sources::website::NAME.into(),
                account_id: account.id.clone(),
                body: request.body.clone(),
                meta_json: meta.to_string(),
                status: "pending".into(),
                attempts: 0,
                next_attempt_at: now,
                received_at: now,
            })
        })
        .collect();
    let no_one_else = Instant::now() + Duration::from_secs(5);
    for result in leadgate::store::inbox::append_ack_writes(&mut conn, &writes, no_one_else) {
        result.expect("fill inbox");
    }
    drop(conn);
    let started = Instant::now();
    let leadgate = Server::leadgate_to(&options.leadgate_bin, &db.url, &receiver.url);
    leadgate.wait_drained();
    let elapsed = started.elapsed();
    // CPU time moves less with a busy machine than wall time: the figure to compare builds by.
    let cpu = leadgate.cpu_seconds();
    println!(
        "leadgate pipeline alone: {} queued submissions into {} leads and job rows in {:.2}s (start-up included): {:.0} submissions/s, {:.0} µs of the daemon's CPU each; peak RSS {} MiB",
        bodies.len(),
        leadgate.count_leads(),
        elapsed.as_secs_f64(),
        bodies.len() as f64 / elapsed.as_secs_f64(),
        cpu * 1e6 / bodies.len() as f64,
        leadgate.peak_rss_mib()
    );
}

/// The binary under test migrates its database itself: an older one must not meet a schema it was
/// not built for (this bench's own migrations may be newer).
fn migrate_with_binary(options: &Options, db: &BenchDb) {
    let migrated = Command::new(&options.leadgate_bin)
        .arg("migrate")
        .env("DATABASE_URL", &db.url)
        .env("ADMIN_TOKEN", "bench")
        .output()
        .expect("run leadgate migrate");
    assert!(
        migrated.status.success(),
        "leadgate migrate failed: {}",
        String::from_utf8_lossy(&migrated.stderr)
    );
}

/// Deterministic bodies: about 70% new people, 30% returning ones, spread over the projects.
fn request_bodies(count: usize, people: usize, one_ip: bool) -> Vec<Request> {
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut introduced = 0usize;
    (0..count)
        .map(|i| {
            let returning = introduced > 0 && (next() % 10 < 3 || introduced >= people);
            let person = if returning {
                (next() as usize) % introduced
            } else {
                introduced
            };
            if !returning {
                introduced += 1;
            }
            let project = PROJECTS[person % PROJECTS.len()];
            let body = serde_json::json!({
                "name": format!("Person {person}"),
                "email": format!("person{person}@example.com"),
                "phone": format!("98{:08}", person),
                "country_code": "+91",
                "project": project,
                "visitor_id": format!("v_{person:x}"),
                "cta": if i % 2 == 0 { "hero" } else { "footer" },
                "page_url": "https://example.com/pricing",
            })
            .to_string();
            Request {
                body,
                ip: client_ip(person, one_ip),
            }
        })
        .collect()
}

fn distinct_people(bodies: &[Request]) -> usize {
    let mut emails: Vec<&str> = bodies
        .iter()
        .filter_map(|r| r.body.split("\"email\":\"").nth(1)?.split('"').next())
        .collect();
    emails.sort_unstable();
    emails.dedup();
    emails.len()
}

struct LoadResult {
    accepted: usize,
    failed: usize,
    elapsed: Duration,
    latencies_us: Vec<u64>,
}

impl LoadResult {
    fn acks_per_second(&self) -> f64 {
        self.accepted as f64 / self.elapsed.as_secs_f64()
    }

    fn percentile(&self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return 0.0;
        }
        let index = ((self.latencies_us.len() as f64 - 1.0) * p).round() as usize;
        self.latencies_us[index] as f64 / 1000.0
    }

    fn line(&self, label: &str) -> String {
        format!(
            "{label} {:>7.0} acks/s  p50 {:>6.2} ms  p99 {:>6.2} ms  max {:>7.2} ms  ({} accepted, {} failed, {:.2}s)",
            self.accepted as f64 / self.elapsed.as_secs_f64(),
            self.percentile(0.50),
            self.percentile(0.99),
            self.latencies_us.last().copied().unwrap_or(0) as f64 / 1000.0,
            self.accepted,
            self.failed,
            self.elapsed.as_secs_f64()
        )
    }
}

/// `connections` concurrent keep-alive connections posting leads, split over two threads.
fn load(base: &str, connections: usize, bodies: &Arc<Vec<Request>>) -> LoadResult {
    load_path(base, "/v1/leads", connections, bodies)
}

/// `connections` concurrent keep-alive connections posting `bodies` to `path`.
fn load_path(base: &str, path: &str, connections: usize, bodies: &Arc<Vec<Request>>) -> LoadResult {
    let next = Arc::new(AtomicUsize::new(0));
    let threads = 2.min(connections);
    let started = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let per_thread = connections / threads + usize::from(t < connections % threads);
            let (url, bodies, next) = (format!("{base}{path}"), bodies.clone(), next.clone());
            std::thread::spawn(move || {
                actix_web::rt::System::new().block_on(generate(url, per_thread, bodies, next))
            })
        })
        .collect();
    let mut result = LoadResult {
        accepted: 0,
        failed: 0,
        elapsed: Duration::ZERO,
        latencies_us: Vec::new(),
    };
    for handle in handles {
        let (accepted, failed, latencies) = handle.join().expect("generator thread");
        result.accepted += accepted;
        result.failed += failed;
        result.latencies_us.extend(latencies);
    }
    result.elapsed = started.elapsed();
    result.latencies_us.sort_unstable();
    result
}

async fn generate(
    url: String,
    connections: usize,
    bodies: Arc<Vec<Request>>,
    next: Arc<AtomicUsize>,
) -> (usize, usize, Vec<u64>) {
    let client = awc::Client::builder()
        .connector(awc::Connector::new().limit(connections))
        .timeout(Duration::from_secs(30))
        .finish();
    let tasks = (0..connections).map(|_| {
        let (client, bodies, next, url) =
            (client.clone(), bodies.clone(), next.clone(), url.clone());
        async move {
            let (mut accepted, mut failed, mut latencies) = (0usize, 0usize, Vec::new());
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(request) = bodies.get(i) else { break };
                let sent = Instant::now();
                let response = client
                    .post(&url)
                    .insert_header(("Content-Type", "application/json"))
                    .insert_header(("Accept", "application/json"))
                    .insert_header(("X-Forwarded-For", request.ip.as_str()))
                    .send_body(request.body.clone())
                    .await;
                match response {
                    Ok(mut r) if r.status().is_success() => {
                        let _ = r.body().await;
                        latencies.push(sent.elapsed().as_micros() as u64);
                        accepted += 1;
                    }
                    _ => failed += 1,
                }
            }
            (accepted, failed, latencies)
        }
    });
    let results = futures_util::future::join_all(tasks).await;
    results
        .into_iter()
        .fold((0, 0, Vec::new()), |(a, f, mut l), (a2, f2, l2)| {
            l.extend(l2);
            (a + a2, f + f2, l)
        })
}

/// An empty database for one run: a SQLite file in the run's folder, or a PostgreSQL database
/// created on the server of `--database-url` (dropped with this, after its leadgate stopped).
struct BenchDb {
    url: String,
    _postgres: Option<ScratchDatabase>,
}

impl BenchDb {
    fn new(options: &Options, dir: &tempfile::TempDir, name: &str) -> BenchDb {
        let Some(server) = &options.postgres else {
            let path = dir.path().join(format!("{name}.db"));
            return BenchDb {
                url: format!("sqlite://{}", path.display()),
                _postgres: None,
            };
        };
        let scratch = ScratchDatabase::create(server, &format!("leadgate_bench_{name}"))
            .unwrap_or_else(|e| panic!("create the bench database: {e}"));
        BenchDb {
            url: scratch.url.clone(),
            _postgres: Some(scratch),
        }
    }
}

/// A server process on a free port, killed when dropped.
struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn spawn(mut command: Command, marker: &'static str) -> Server {
        let mut child = command
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn server");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        // LEADGATE_BENCH_SERVER_LOG=<file> keeps the servers' log lines, to see where time goes.
        let mut log = std::env::var_os("LEADGATE_BENCH_SERVER_LOG").and_then(|path| {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path);
            file.ok()
        });
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(file) = log.as_mut() {
                    let _ = writeln!(file, "{line}");
                }
                if let Some(addr) = line.split(marker).nth(1) {
                    let _ = tx.send(addr.trim().to_string());
                }
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("server did not start");
        Server {
            child,
            base: format!("http://{addr}"),
        }
    }

    fn bare(db: &std::path::Path) -> Server {
        let mut command = Command::new(std::env::current_exe().unwrap());
        command.arg("bare-server").arg(db);
        Server::spawn(command, "bare.listening addr=")
    }

    fn leadgate_to(bin: &str, database_url: &str, webhook: &str) -> Server {
        let mut command = Command::new(bin);
        command
            .arg("serve")
            .env("LEADGATE_BIND", "127.0.0.1:0")
            .env("DATABASE_URL", database_url)
            .env("ADMIN_TOKEN", "bench")
            .env("ENVIRONMENT", "production")
            .env("MAKE_WEBHOOK_URL", webhook)
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
            );
        Server::spawn(command, "server.listening addr=")
    }

    fn admin_get(&self, path: &str) -> serde_json::Value {
        admin_get(&self.base, path)
    }

    /// Waits for the inbox to drain; returns how long that took.
    fn wait_drained(&self) -> Duration {
        let started = Instant::now();
        while self.admin_get("/admin/health")["inbox"]["pending"] != 0 {
            // Not more often: the health page counts the backlog, and the bench must not load it.
            std::thread::sleep(Duration::from_millis(50));
        }
        started.elapsed()
    }

    fn count_leads(&self) -> usize {
        let mut count = 0;
        let mut cursor = String::new();
        loop {
            let page = self.admin_get(&format!("/admin/leads?limit=500&cursor={cursor}"));
            count += page["leads"].as_array().map_or(0, Vec::len);
            match page["next_cursor"].as_str() {
                Some(c) => cursor = c.to_string(),
                None => return count,
            }
        }
    }

    /// The process's CPU time so far (user and system), in seconds.
    fn cpu_seconds(&self) -> f64 {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        // The fields after the command name (which may hold spaces) are space-separated.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map_or(Vec::new(), |(_, rest)| rest.split_whitespace().collect());
        let ticks: f64 = [11, 12]
            .iter()
            .filter_map(|&i| fields.get(i)?.parse::<f64>().ok())
            .sum();
        // SAFETY: sysconf reads a constant of the system.
        ticks / (unsafe { libc::sysconf(libc::_SC_CLK_TCK) }).max(1) as f64
    }

    fn peak_rss_mib(&self) -> String {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmHWM:"))
                    .map(str::to_string)
            })
            .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
            .map_or("?".into(), |kib| format!("{:.0}", kib / 1024.0))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

type Append = (web::Bytes, tokio::sync::oneshot::Sender<bool>);

/// The bare handler: append the body to SQLite through one writer thread, group commit,
/// `synchronous=FULL`, then answer.
fn bare_server(db_path: &str) {
    let (tx, rx) = mpsc::channel::<Append>();
    let db_path = db_path.to_string();
    std::thread::spawn(move || bare_writer(&db_path, rx));
    actix_web::rt::System::new().block_on(async move {
        let server = HttpServer::new(move || {
            App::new()
                .app_data(web::Data::new(tx.clone()))
                .route("/v1/leads", web::post().to(bare_append))
        })
        .workers(2)
        .backlog(2048)
        .bind("127.0.0.1:0")
        .expect("bind");
        for addr in server.addrs() {
            eprintln!("bare.listening addr={addr}");
        }
        server.run().await.expect("bare server");
    });
}

async fn bare_append(body: web::Bytes, tx: web::Data<mpsc::Sender<Append>>) -> HttpResponse {
    let (done, committed) = tokio::sync::oneshot::channel();
    if tx.send((body, done)).is_err() {
        return HttpResponse::ServiceUnavailable().finish();
    }
    match committed.await {
        Ok(true) => HttpResponse::Ok().json(serde_json::json!({"success": true})),
        _ => HttpResponse::ServiceUnavailable().finish(),
    }
}

fn bare_writer(db_path: &str, rx: mpsc::Receiver<Append>) {
    let mut conn = diesel::SqliteConnection::establish(db_path).expect("open bare db");
    conn.batch_execute(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
         CREATE TABLE IF NOT EXISTS bodies (id INTEGER PRIMARY KEY, body BLOB NOT NULL);",
    )
    .expect("prepare bare db");
    while let Ok(first) = rx.recv() {
        let mut group = vec![first];
        while group.len() < 1024 {
            match rx.try_recv() {
                Ok(next) => group.push(next),
                Err(_) => break,
            }
        }
        let ok = conn
            .transaction(|conn| {
                for (body, _) in &group {
                    diesel::sql_query("INSERT INTO bodies (body) VALUES (?)")
                        .bind::<diesel::sql_types::Binary, _>(body.as_ref())
                        .execute(conn)?;
                }
                Ok::<_, diesel::result::Error>(())
            })
            .is_ok();
        for (_, done) in group {
            let _ = done.send(ok);
        }
    }
}
