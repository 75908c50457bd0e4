//! Counters and gauges for `GET /metrics` (Prometheus text).

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

type Labels = Vec<(String, String)>;

pub struct Metrics {
    registry: Registry,
    pub submissions_accepted: Family<Labels, Counter>,
    pub submissions_rejected: Family<Labels, Counter>,
    pub honeypot_trips: Counter,
    pub blocked_ip_submissions: Counter,
    pub ack_failures: Counter,
    pub inbox_pending: Gauge,
    pub inbox_failed: Gauge,
    pub inbox_oldest_pending_age_seconds: Gauge<f64, std::sync::atomic::AtomicU64>,
    pub outbox_pending: Gauge,
    pub outbox_dead: Gauge,
    pub actor_restarts: Family<Labels, Gauge>,
    pub deliveries: Family<Labels, Counter>,
    pub leads_created: Counter,
    pub submissions_joined: Counter,
    pub forward_decisions: Family<Labels, Counter>,
    pub delivery_attempts: Counter,
    pub dead_letters: Gauge,
    pub facebook_backfill_reads: Family<Labels, Counter>,
    pub facebook_backfill_leads: Counter,
    pub tracking_events: Family<Labels, Counter>,
}

/// Registers each named field as the metric of that name (`leadgate_` + the field's name).
macro_rules! register {
    ($registry:expr, $metrics:expr, $($field:ident: $help:literal),+ $(,)?) => {
        $($registry.register(stringify!($field), $help, $metrics.$field.clone());)+
    };
}

impl Default for Metrics {
    fn default() -> Self {
        let m = Metrics {
            submissions_accepted: Family::default(),
            submissions_rejected: Family::default(),
            honeypot_trips: Counter::default(),
            blocked_ip_submissions: Counter::default(),
            ack_failures: Counter::default(),
            inbox_pending: Gauge::default(),
            inbox_failed: Gauge::default(),
            inbox_oldest_pending_age_seconds: Gauge::default(),
            outbox_pending: Gauge::default(),
            outbox_dead: Gauge::default(),
            actor_restarts: Family::default(),
            deliveries: Family::default(),
            leads_created: Counter::default(),
            submissions_joined: Counter::default(),
            forward_decisions: Family::default(),
            delivery_attempts: Counter::default(),
            dead_letters: Gauge::default(),
            facebook_backfill_reads: Family::default(),
            facebook_backfill_leads: Counter::default(),
            tracking_events: Family::default(),
            registry: Registry::default(),
        };
        let mut registry = Registry::with_prefix("leadgate");
        register!(registry, m,
            submissions_accepted: "Submissions durably accepted, by source",
            submissions_rejected: "Requests answered 4xx, by reason",
            honeypot_trips: "Submissions that filled the honeypot",
            blocked_ip_submissions: "Submissions from blocked IPs",
            ack_failures: "Submissions that could not be stored before the answer",
            inbox_pending: "Inbox rows waiting to be processed",
            inbox_failed: "Inbox rows that failed every attempt",
            inbox_oldest_pending_age_seconds: "How long the oldest inbox row waiting has waited (0 when none)",
            outbox_pending: "Deliveries waiting to be sent",
            outbox_dead: "Deliveries dead-lettered",
            actor_restarts: "Restarts per actor",
            deliveries: "Webhook delivery attempts by outcome",
            delivery_attempts: "Webhook delivery attempts made",
            dead_letters: "Dead letters kept",
            leads_created: "New canonical leads",
            submissions_joined: "Submissions that joined an existing lead",
            forward_decisions: "Forwarding decisions by outcome",
            facebook_backfill_reads: "Back-fill reads of a Facebook campaign's form, by result",
            facebook_backfill_leads: "Facebook leads the back-fill found that no webhook had brought",
            tracking_events: "Tracking events, by outcome (accepted, or why refused)",
        );
        Metrics { registry, ..m }
    }
}

pub fn label(key: &str, value: &str) -> Labels {
    vec![(key.to_string(), value.to_string())]
}

impl Metrics {
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = encode(&mut out, &self.registry);
        out
    }
}
