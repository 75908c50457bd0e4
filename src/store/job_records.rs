//! Recording attempts that finished together, on PostgreSQL, in a few statements whatever their
//! number: who still holds each job, the attempt log, the jobs' new state, the dead letters a
//! success clears, the follow-ups; a death's dead letter (rare) one by one. A round trip per
//! statement per job held the CRM webhook's delivery rate under the pipeline's.

use super::jobs::{after_verdict, attempt_row, verdict_row, PENDING};
use super::models::NewJobAttempt;
use super::schema::*;
use super::{now, AnyConnection, DbError};
use crate::jobs::{DeadLetterPolicy, Recorded, RecordedAttempt};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Integer, Nullable, Text, Timestamp};
use std::collections::HashMap;

pub fn record_all_in(
    conn: &mut AnyConnection,
    records: &[RecordedAttempt],
    policy: &DeadLetterPolicy,
) -> Result<Vec<Recorded>, DbError> {
    let AnyConnection::Postgresql(pg) = conn else {
        return Err(DbError::Invalid("recording at once is PostgreSQL's".into()));
    };
    let ids: Vec<i64> = records.iter().map(|rec| rec.job_id).collect();
    let holders: HashMap<i64, (String, Option<String>)> = jobs::table
        .filter(jobs::id.eq_any(&ids))
        .select((jobs::id, jobs::status, jobs::lease_owner))
        .load::<(i64, String, Option<String>)>(pg)?
        .into_iter()
        .map(|(id, status, owner)| (id, (status, owner)))
        .collect();
    let t = now();
    let recorded: Vec<Recorded> = records
        .iter()
        .map(|rec| {
            let ours = holders.get(&rec.job_id).is_some_and(|(status, owner)| {
                status == PENDING && owner.as_deref() == Some(&rec.lease_owner)
            });
            match ours {
                true => verdict_row(rec, t).2,
                false => Recorded::NotOurs,
            }
        })
        .collect();
    let ours: Vec<&RecordedAttempt> = records
        .iter()
        .zip(&recorded)
        .filter(|(_, r)| **r != Recorded::NotOurs)
        .map(|(rec, _)| rec)
        .collect();
    if ours.is_empty() {
        return Ok(recorded);
    }
    let attempts: Vec<NewJobAttempt> = ours.iter().map(|rec| attempt_row(rec, t)).collect();
    diesel::insert_into(job_attempts::table)
        .values(&attempts)
        .execute(pg)?;
    update_jobs(pg, &ours, t)?;
    let done: Vec<&RecordedAttempt> = records
        .iter()
        .zip(&recorded)
        .filter(|(_, r)| **r == Recorded::Done)
        .map(|(rec, _)| rec)
        .collect();
    let done_ids: Vec<i64> = done.iter().map(|rec| rec.job_id).collect();
    // A replayed dead letter that got through leaves the list; what follows is due now.
    diesel::delete(dead_letters::table.filter(dead_letters::job_id.eq_any(&done_ids)))
        .execute(pg)?;
    let follow_ups: Vec<_> = done.iter().flat_map(|rec| rec.follow_ups.clone()).collect();
    if !follow_ups.is_empty() {
        // Once each: a retried attempt (recorded before, then its lease ran out) writes them again.
        diesel::insert_into(jobs::table)
            .values(&follow_ups)
            .on_conflict(jobs::public_id)
            .do_nothing()
            .execute(pg)?;
    }
    for (rec, outcome) in records.iter().zip(&recorded) {
        if *outcome == Recorded::DeadLettered {
            after_verdict(conn, rec, *outcome, policy, t)?;
        }
    }
    Ok(recorded)
}

/// Each job's state after its attempt, in one statement.
fn update_jobs(
    conn: &mut diesel::PgConnection,
    ours: &[&RecordedAttempt],
    t: chrono::NaiveDateTime,
) -> Result<(), DbError> {
    let rows: Vec<_> = ours.iter().map(|rec| (rec, verdict_row(rec, t))).collect();
    diesel::sql_query(
        "UPDATE jobs SET status = v.status, attempts = v.attempts, last_status = v.last_status,
             last_error = v.last_error, next_attempt_at = v.next_attempt_at, lease_owner = NULL,
             lease_until = NULL, updated_at = $7
         FROM unnest($1::bigint[], $2::text[], $3::int4[], $4::int4[], $5::text[],
                     $6::timestamp[])
             AS v(id, status, attempts, last_status, last_error, next_attempt_at)
         WHERE jobs.id = v.id",
    )
    .bind::<Array<BigInt>, _>(rows.iter().map(|(rec, _)| rec.job_id).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(rows.iter().map(|(_, v)| v.0).collect::<Vec<_>>())
    .bind::<Array<Integer>, _>(rows.iter().map(|(rec, _)| rec.attempt).collect::<Vec<_>>())
    .bind::<Array<Nullable<Integer>>, _>(
        rows.iter()
            .map(|(rec, _)| rec.status_code)
            .collect::<Vec<_>>(),
    )
    .bind::<Array<Nullable<Text>>, _>(
        rows.iter()
            .map(|(rec, _)| rec.error.clone())
            .collect::<Vec<_>>(),
    )
    .bind::<Array<Timestamp>, _>(rows.iter().map(|(_, v)| v.1).collect::<Vec<_>>())
    .bind::<Timestamp, _>(t)
    .execute(conn)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::jobs::{DeadLetterPolicy, Recorded, RecordedAttempt, Verdict};
    use crate::store::models::NewJob;
    use crate::store::schema::{dead_letters, job_attempts, jobs};
    use crate::store::statements::test_databases;
    use crate::store::{self, jobs as job_store, AnyConnection};
    use diesel::prelude::*;

    fn new_job(public_id: &str) -> NewJob {
        let t = store::now();
        NewJob {
            kind: "test".into(),
            public_id: public_id.into(),
            lead_id: None,
            lead_submission_id: None,
            lead_public_id: None,
            destination: None,
            payload_json: "{}".into(),
            status: job_store::PENDING.into(),
            attempts: 0,
            next_attempt_at: t,
            result_json: "{}".into(),
            created_at: t,
            updated_at: t,
        }
    }

    fn record(job: &crate::store::models::Job, verdict: Verdict, owner: &str) -> RecordedAttempt {
        RecordedAttempt {
            job_id: job.id,
            lease_owner: owner.into(),
            attempt: 1,
            status_code: Some(500),
            duration_ms: 3,
            error: Some("boom".into()),
            follow_ups: match verdict {
                Verdict::Done => vec![new_job("follow-up")],
                _ => Vec::new(),
            },
            verdict,
        }
    }

    fn state(conn: &mut AnyConnection, public_id: &str) -> (String, i32, Option<String>) {
        jobs::table
            .filter(jobs::public_id.eq(public_id))
            .select((jobs::status, jobs::attempts, jobs::lease_owner))
            .first(conn)
            .unwrap()
    }

    /// Recorded together (at once on PostgreSQL, one by one on SQLite): each job as if alone.
    #[test]
    fn attempts_recorded_together_are_each_recorded_as_alone() {
        for mut database in test_databases() {
            let conn = &mut database.conn;
            for id in ["done", "retry", "dead", "lost"] {
                job_store::insert_job(conn, &new_job(id)).unwrap();
            }
            let lease = chrono::Duration::seconds(60);
            let mut claimed = job_store::claim_due(conn, "test", "me", 10, lease, &[]).unwrap();
            claimed.sort_by_key(|job| job.id);
            let records = [
                record(&claimed[0], Verdict::Done, "me"),
                record(
                    &claimed[1],
                    Verdict::Retry(std::time::Duration::from_secs(60)),
                    "me",
                ),
                record(&claimed[2], Verdict::Dead, "me"),
                record(&claimed[3], Verdict::Done, "someone else"),
            ];
            let policy = DeadLetterPolicy {
                ttl: chrono::Duration::days(1),
                redrive_schedule: Vec::new(),
            };
            let outcomes = job_store::record_attempts(conn, &records, &policy);
            let outcomes: Vec<Recorded> = outcomes.into_iter().map(Result::unwrap).collect();
            assert_eq!(
                outcomes,
                [
                    Recorded::Done,
                    Recorded::Retrying,
                    Recorded::DeadLettered,
                    Recorded::NotOurs
                ]
            );
            assert_eq!(state(conn, "done"), ("done".into(), 1, None));
            assert_eq!(state(conn, "retry"), ("pending".into(), 1, None));
            assert_eq!(state(conn, "dead"), ("dead".into(), 1, None));
            assert_eq!(
                state(conn, "lost"),
                ("pending".into(), 0, Some("me".into()))
            );
            assert_eq!(state(conn, "follow-up"), ("pending".into(), 0, None));
            let logged: i64 = job_attempts::table.count().get_result(conn).unwrap();
            assert_eq!(
                logged, 3,
                "an attempt-log row each, none for the lost lease"
            );
            let letters: Vec<i64> = dead_letters::table
                .select(dead_letters::job_id)
                .load(conn)
                .unwrap();
            assert_eq!(letters, vec![claimed[2].id]);
        }
    }
}
