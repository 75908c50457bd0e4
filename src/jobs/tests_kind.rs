//! A kind that is not the webhook, run by the unchanged runner: the trait is all a new side effect
//! needs (retries on its own schedule, a follow-up enqueued by a success, a dead letter).

use super::runner::{JobRunner, RunnerGate};
use super::{Attempted, DeadLetterPolicy, JobKind, KindSettings};
use crate::actors::db_executor::Db;
use crate::actors::health::ActorStats;
use crate::config::DatabaseTarget;
use crate::store::models::{Job, NewJob};
use crate::store::schema::{dead_letters, job_attempts, jobs};
use crate::store::{self, AnyConnection};
use actix::Actor;
use diesel::prelude::*;
use futures_util::future::LocalBoxFuture;
use std::time::Duration;

struct Steps(KindSettings);

fn new_job(payload: &str) -> NewJob {
    let t = store::now();
    NewJob {
        kind: Steps::NAME.into(),
        public_id: store::new_public_id(),
        lead_id: None,
        lead_submission_id: None,
        lead_public_id: None,
        destination: None,
        payload_json: payload.into(),
        status: store::jobs::PENDING.into(),
        attempts: 0,
        next_attempt_at: t,
        result_json: "{}".into(),
        created_at: t,
        updated_at: t,
    }
}

fn ended(succeeded: bool, retryable: bool, follow_ups: Vec<NewJob>) -> Attempted {
    Attempted {
        succeeded,
        retryable,
        status_code: None,
        error: (!succeeded).then(|| "step failed".to_string()),
        follow_ups,
    }
}

impl JobKind for Steps {
    const NAME: &'static str = "test_steps";
    const ACTOR: &'static str = "Steps";
    const EVENTS: &'static str = "steps";

    fn settings(&self) -> &KindSettings {
        &self.0
    }

    fn attempt(&self, job: &Job) -> LocalBoxFuture<'static, Attempted> {
        let outcome = match (job.payload_json.as_str(), job.attempts) {
            // Fails once (retryable), then succeeds and hands over to the next step.
            ("first", 0) => ended(false, true, Vec::new()),
            ("first", _) => ended(true, false, vec![new_job("second")]),
            ("second", _) => ended(true, false, Vec::new()),
            _ => ended(false, false, Vec::new()),
        };
        Box::pin(async move { outcome })
    }
}

fn state(conn: &mut AnyConnection, payload: &str) -> Option<(String, i32)> {
    jobs::table
        .filter(jobs::payload_json.eq(payload))
        .select((jobs::status, jobs::attempts))
        .first(conn)
        .optional()
        .unwrap()
}

#[actix_rt::test]
async fn a_new_kind_needs_only_the_trait() {
    let dir = tempfile::tempdir().unwrap();
    let target = DatabaseTarget::Sqlite(dir.path().join("t.db"));
    let mut conn = store::establish(&target).unwrap();
    store::run_migrations(&mut conn).unwrap();
    for payload in ["first", "poison"] {
        store::jobs::insert_job(&mut conn, &new_job(payload)).unwrap();
    }
    let db = Db::start(
        store::Pools::single(
            store::build_pool(&target, 2, store::Role::Writer).unwrap(),
            true,
        ),
        1,
        ActorStats::new("DbExecutor"),
    );
    let settings = KindSettings {
        retry_delays: vec![Duration::from_millis(10)],
        attempt_timeout: Duration::from_secs(5),
        dead_letters: DeadLetterPolicy {
            ttl: chrono::Duration::days(1),
            redrive_schedule: Vec::new(),
        },
        max_in_flight: 4,
        max_in_flight_per_destination: 4,
        poll_interval: Duration::from_millis(100),
    };
    let gate = std::sync::Arc::new(RunnerGate::default());
    let stats = ActorStats::new(Steps::ACTOR);
    JobRunner::new(db, Steps(settings), stats, gate, "owner".into()).start();
    for _ in 0..200 {
        let second = state(&mut conn, "second");
        let poison = state(&mut conn, "poison");
        if second.is_some_and(|(s, _)| s == "done") && poison.is_some_and(|(s, _)| s == "dead") {
            break;
        }
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(state(&mut conn, "first"), Some(("done".into(), 2)));
    assert_eq!(state(&mut conn, "second"), Some(("done".into(), 1)));
    assert_eq!(state(&mut conn, "poison"), Some(("dead".into(), 1)));
    let attempts: i64 = job_attempts::table.count().get_result(&mut conn).unwrap();
    assert_eq!(
        attempts, 4,
        "two for the first step, one each for the others"
    );
    let letters: i64 = dead_letters::table.count().get_result(&mut conn).unwrap();
    assert_eq!(letters, 1);
    // Expired, it is purged by its own kind's runner, not by another kind's.
    diesel::update(dead_letters::table)
        .set(dead_letters::expires_at.eq(store::now() - chrono::Duration::seconds(1)))
        .execute(&mut conn)
        .unwrap();
    let purge = store::dead_letters::purge_expired_dead_letters;
    assert_eq!(purge(&mut conn, "crm_webhook").unwrap(), 0);
    assert_eq!(purge(&mut conn, Steps::NAME).unwrap(), 1);
}
