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
    pub outbox_pending: Gauge,
    pub outbox_dead: Gauge,
    pub actor_restarts: Family<Labels, Gauge>,
    pub deliveries: Family<Labels, Counter>,
    pub leads_created: Counter,
    pub submissions_joined: Counter,
    pub forward_decisions: Family<Labels, Counter>,
    pub delivery_attempts: Counter,
    pub dead_letters: Gauge,
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
            outbox_pending: Gauge::default(),
            outbox_dead: Gauge::default(),
            actor_restarts: Family::default(),
            deliveries: Family::default(),
            leads_created: Counter::default(),
            submissions_joined: Counter::default(),
            forward_decisions: Family::default(),
            delivery_attempts: Counter::default(),
            dead_letters: Gauge::default(),
            registry: Registry::default(),
        };
        let mut registry = Registry::with_prefix("leadgate");
        registry.register(
            "submissions_accepted",
            "Submissions durably accepted, by source",
            m.submissions_accepted.clone(),
        );
        registry.register(
            "submissions_rejected",
            "Requests answered 4xx, by reason",
            m.submissions_rejected.clone(),
        );
        registry.register(
            "honeypot_trips",
            "Submissions that filled the honeypot",
            m.honeypot_trips.clone(),
        );
        registry.register(
            "blocked_ip_submissions",
            "Submissions from blocked IPs",
            m.blocked_ip_submissions.clone(),
        );
        registry.register(
            "ack_failures",
            "Submissions that could not be stored before the answer",
            m.ack_failures.clone(),
        );
        registry.register(
            "inbox_pending",
            "Inbox rows waiting to be processed",
            m.inbox_pending.clone(),
        );
        registry.register(
            "inbox_failed",
            "Inbox rows that failed every attempt",
            m.inbox_failed.clone(),
        );
        registry.register(
            "outbox_pending",
            "Deliveries waiting to be sent",
            m.outbox_pending.clone(),
        );
        registry.register(
            "outbox_dead",
            "Deliveries dead-lettered",
            m.outbox_dead.clone(),
        );
        registry.register(
            "actor_restarts",
            "Restarts per actor",
            m.actor_restarts.clone(),
        );
        registry.register(
            "deliveries",
            "Webhook delivery attempts by outcome",
            m.deliveries.clone(),
        );
        registry.register(
            "delivery_attempts",
            "Webhook delivery attempts made",
            m.delivery_attempts.clone(),
        );
        registry.register("dead_letters", "Dead letters kept", m.dead_letters.clone());
        registry.register(
            "leads_created",
            "New canonical leads",
            m.leads_created.clone(),
        );
        registry.register(
            "submissions_joined",
            "Submissions that joined an existing lead",
            m.submissions_joined.clone(),
        );
        registry.register(
            "forward_decisions",
            "Forwarding decisions by outcome",
            m.forward_decisions.clone(),
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
