//! `--prefill N`: a database filled to N leads in set-based SQL (not through the pipeline), shaped
//! like months of traffic: people with varied names, emails and phones (a search index meets real
//! text's spread of trigrams, not one prefix shared by every row), one submission per lead and a
//! second for one lead in five, their identity keys, the search index (its triggers fire as for
//! any insert), all at least a day old.

use diesel::RunQueryDsl;
use leadgate::store::AnyConnection;
use std::time::{Duration, Instant};

/// The SQL that differs between the backends.
struct Dialect {
    /// `WITH RECURSIVE n(i) ...` before the INSERT on SQLite, empty on PostgreSQL.
    series_prefix: String,
    /// The FROM of the series.
    series_from: String,
    newline: &'static str,
    /// A timestamp `days` days before now, `days` being an SQL expression.
    days_ago: fn(&str) -> String,
}

fn dialect(conn: &AnyConnection, leads: usize) -> Dialect {
    match conn {
        AnyConnection::Sqlite(_) => Dialect {
            series_prefix: format!(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {leads})"
            ),
            series_from: "n".into(),
            newline: "char(10)",
            days_ago: |days| format!("datetime('now', '-' || ({days}) || ' days')"),
        },
        AnyConnection::Postgresql(_) => Dialect {
            series_prefix: String::new(),
            series_from: format!("generate_series(1::bigint, {leads}) AS n(i)"),
            newline: "chr(10)",
            days_ago: |days| format!("(now() AT TIME ZONE 'UTC') - ({days}) * interval '1 day'"),
        },
    }
}

/// `CASE <expr> % len WHEN 0 THEN 'a' ... END` over SQL string literals.
fn cycle(expr: &str, values: &[String]) -> String {
    let arms: String = values
        .iter()
        .enumerate()
        .map(|(i, v)| format!(" WHEN {i} THEN '{}'", v.replace('\'', "''")))
        .collect();
    format!("CASE {expr} % {}{arms} END", values.len())
}

const FIRST_NAMES: &[&str] = &[
    "Aarav",
    "Priya",
    "Rahul",
    "Ananya",
    "Vikram",
    "Sneha",
    "Arjun",
    "Kavya",
    "Rohan",
    "Isha",
    "Karan",
    "Meera",
    "Aditya",
    "Pooja",
    "Siddharth",
    "Neha",
    "Manish",
    "Divya",
    "Nikhil",
    "Riya",
    "James",
    "Maria",
    "David",
    "Sarah",
    "Michael",
    "Laura",
    "Daniel",
    "Emma",
    "Thomas",
    "Sofia",
    "Omar",
    "Fatima",
    "Ali",
    "Aisha",
    "Chen",
    "Mei",
    "Lucas",
    "Julia",
    "Mateo",
    "Elena",
];
const LAST_NAMES: &[&str] = &[
    "Sharma", "Verma", "Iyer", "Nair", "Reddy", "Gupta", "Patel", "Mehta", "Kapoor", "Joshi",
    "Rao", "Desai", "Bose", "Menon", "Pillai", "Chopra", "Malhotra", "Saxena", "Kulkarni", "Das",
    "Smith", "Garcia", "Brown", "Wilson", "Taylor", "Martin", "Khan", "Ahmed", "Wang", "Silva",
    "Rossi", "Muller", "Dubois", "Novak", "Kowalski", "Jensen", "Santos", "Lopez", "Ivanov", "Tan",
];
const DOMAINS: &[&str] = &["gmail.com", "yahoo.com", "outlook.com", "example.org"];

/// Lead `i`'s person, as the SQL below makes it (the searches look for real ones).
pub struct Person {
    pub name: String,
    pub email: String,
    pub phone_digits: String,
}

pub fn person(i: usize) -> Person {
    let first = FIRST_NAMES[(i * 7919) % FIRST_NAMES.len()];
    let last = LAST_NAMES[(i * 104_729 / 7) % LAST_NAMES.len()];
    let domain = DOMAINS[i % DOMAINS.len()];
    Person {
        name: format!("{first} {last}"),
        email: format!(
            "{}.{}{}@{domain}",
            first.to_lowercase(),
            last.to_lowercase(),
            i % 997
        ),
        phone_digits: format!(
            "91{}",
            7_000_000_000u64 + (i as u64 * 2_654_435_761) % 2_999_999_999
        ),
    }
}

/// Fills `conn` (migrated, without leads of its own) with `leads` leads of `account_id` over
/// `projects`; returns how long it took.
pub fn prefill(
    conn: &mut AnyConnection,
    leads: usize,
    account_id: &str,
    projects: &[&str],
) -> Result<Duration, diesel::result::Error> {
    let started = Instant::now();
    let d = dialect(conn, leads);
    let names: Vec<String> = projects.iter().map(|p| p.to_string()).collect();
    let keys: Vec<String> = projects
        .iter()
        .map(|p| leadgate::sources::submission::project_key(Some(p)))
        .collect();
    let strings = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let lower = |list: &[&str]| list.iter().map(|s| s.to_lowercase()).collect::<Vec<_>>();
    let at = (d.days_ago)("1 + i % 90");
    let nl = d.newline;
    let leads_sql = format!(
        "{prefix}
         INSERT INTO leads (public_id, account_id, project_key, project_name, name, email,
             phone_e164, status, lead_source, submission_count, data_json, search_text,
             errors_json, first_submitted_at, last_submitted_at, created_at, updated_at)
         SELECT 'pf-' || i, '{account_id}', pk, pn, name, email, phone, 'new',
             'website', CASE WHEN i % 5 = 0 THEN 2 ELSE 1 END,
             '{{\"first_name\": \"' || name || '\", \"email\": \"' || email ||
                 '\", \"phone\": \"' || phone || '\", \"lead_public_id\": \"pf-' || i ||
                 '\", \"event\": \"lead.created\", \"project\": \"' || pn ||
                 '\", \"utm_source\": \"google\", \"utm_campaign\": \"winter-sale\", ' ||
                 '\"page_url\": \"https://example.com/pricing\", \"cta\": \"hero\"}}',
             lower(name) || {nl} || email || {nl} || substr(phone, 2),
             '[]', t, t, t, t
         FROM (SELECT i, {pk} AS pk, {pn} AS pn, {first} || ' ' || {last} AS name,
                   {first_lower} || '.' || {last_lower} || (i % 997) || '@' || {domain} AS email,
                   '+91' || (7000000000 + (i * 2654435761) % 2999999999) AS phone, {at} AS t
               FROM {from}) s",
        prefix = d.series_prefix,
        from = d.series_from,
        pk = cycle("i", &keys),
        pn = cycle("i", &names),
        first = cycle("(i * 7919)", &strings(FIRST_NAMES)),
        last = cycle("(i * 104729 / 7)", &strings(LAST_NAMES)),
        first_lower = cycle("(i * 7919)", &lower(FIRST_NAMES)),
        last_lower = cycle("(i * 104729 / 7)", &lower(LAST_NAMES)),
        domain = cycle("i", &strings(DOMAINS)),
    );
    diesel::sql_query(leads_sql).execute(conn)?;
    for (tag, which) in [("pfs", "TRUE"), ("pfs2", "submission_count = 2")] {
        let submissions_sql = format!(
            "INSERT INTO lead_submissions (public_id, lead_id, account_id, project_key,
                 lead_source, visitor_id, email_key, phone_e164, ip, cta, page_url,
                 payload_json, data_json, is_duplicate, forwarded, submitted_at, created_at,
                 forward_decision)
             SELECT '{tag}-' || id, id, account_id, project_key, 'website', 'pfv_' || id, email,
                 phone_e164, '10.200.' || (id % 250) || '.' || (id / 250 % 250), 'hero',
                 'https://example.com/pricing', data_json, data_json, FALSE, TRUE,
                 first_submitted_at, created_at, 'sent'
             FROM leads WHERE public_id LIKE 'pf-%' AND {which}"
        );
        diesel::sql_query(submissions_sql).execute(conn)?;
    }
    for (kind, column) in [
        ("visitor", "visitor_id"),
        ("email", "email_key"),
        ("phone", "phone_e164"),
    ] {
        diesel::sql_query(format!(
            "INSERT INTO lead_keys (account_id, key_kind, key_value, project_key, lead_id)
             SELECT DISTINCT account_id, '{kind}', {column}, project_key, lead_id
             FROM lead_submissions WHERE public_id LIKE 'pfs%'"
        ))
        .execute(conn)?;
    }
    // As autovacuum would have by now: plans made for a settled table, not an empty one.
    if let AnyConnection::Postgresql(_) = conn {
        diesel::sql_query("ANALYZE").execute(conn)?;
    }
    Ok(started.elapsed())
}

/// The `q=` terms a search run cycles through: a prefilled person's email, name and the last
/// seven digits of their phone, and a common term.
pub fn search_terms(leads: usize) -> Vec<String> {
    let pick = |k: usize| 1 + (k * 7919) % leads.max(1);
    (0..64)
        .map(|k| {
            let who = person(pick(k));
            match k % 4 {
                0 => who.email,
                1 => who.name,
                2 => who.phone_digits[who.phone_digits.len() - 7..].to_string(),
                _ => "gmail".to_string(),
            }
        })
        .collect()
}
