use super::*;
use crate::sources::submission::{Geo, RequestMeta};
use crate::sources::website::website_submission;
use serde_json::json;

fn submission(fields: serde_json::Value, meta: RequestMeta) -> Submission {
    website_submission("p", "a", fields.as_object().unwrap(), &meta)
}

fn meta(ip: &str, country: Option<&str>, timezone: Option<&str>) -> RequestMeta {
    RequestMeta {
        ip: Some(ip.into()),
        user_agent: Some("Mozilla/5.0".into()),
        geo: Geo {
            country: country.map(str::to_string),
            timezone: timezone.map(str::to_string),
            ..Geo::default()
        },
        ..RequestMeta::default()
    }
}

fn reasons_of(fields: serde_json::Value, meta: RequestMeta) -> Vec<String> {
    suspicion(&signals_of(&submission(fields, meta), &[]), 1).reasons
}

#[test]
fn a_plain_person_raises_nothing() {
    let fields = json!({"name": "Asha Rao", "email": "asha@gmail.com", "phone": "+91 98123 45678"});
    let out = suspicion(
        &signals_of(&submission(fields, meta("1.2.3.4", Some("IN"), None)), &[]),
        1,
    );
    assert_eq!(
        out,
        Suspicion {
            score: 0,
            reasons: vec![],
            vpn_suspected: None
        }
    );
}

#[test]
fn each_rule_names_its_reason() {
    let m = || meta("1.2.3.4", Some("IN"), None);
    let cases: Vec<(serde_json::Value, &str)> = vec![
        (
            json!({"name": "A", "email": "x@mailinator.com"}),
            "disposable_email_domain",
        ),
        (
            json!({"name": "A", "email": "x@sub.yopmail.com"}),
            "disposable_email_domain",
        ),
        (
            json!({"name": "Buy now http://spam.example", "email": "a@b.co"}),
            "url_or_markup_in_name",
        ),
        (
            json!({"name": "<b>Asha</b>", "email": "a@b.co"}),
            "url_or_markup_in_name",
        ),
        (
            json!({"name": "cheap-pills.ru", "email": "a@b.co"}),
            "url_or_markup_in_name",
        ),
        (json!({"name": "A", "phone": "12345"}), "invalid_phone"),
        (
            json!({"name": "A", "phone": "+1 416 555 0123"}),
            "phone_country_differs_from_ip_country",
        ),
        (
            json!({"name": "A", "email": "a@b.co", "__pg_hp": "filled"}),
            "honeypot_filled",
        ),
    ];
    for (fields, reason) in cases {
        let reasons = reasons_of(fields.clone(), m());
        assert_eq!(reasons, vec![reason.to_string()], "{fields}");
    }
}

#[test]
fn rules_that_need_context_stay_quiet_without_it() {
    let no_country = RequestMeta {
        ip: Some("1.2.3.4".into()),
        ..RequestMeta::default()
    };
    // A local number with no country anywhere cannot be judged.
    assert!(reasons_of(json!({"name": "A", "phone": "12345"}), no_country).is_empty());
    // A site's own session id, for a visitor tracking never saw.
    let fields = json!({"name": "A", "email": "a@b.co", "session_id": "s-1"});
    let mut signals = signals_of(&submission(fields, meta("1.2.3.4", None, None)), &[]);
    assert!(suspicion(&signals, 1).reasons.is_empty());
    signals.activity = Some(VisitorActivity::default());
    assert_eq!(suspicion(&signals, 1).reasons, vec!["form_time_missing"]);
    assert!(
        !has_link_or_markup("john@gmail.com"),
        "an email in the name field"
    );
}

#[test]
fn names_that_look_like_links_only_when_they_are() {
    for fine in [
        "Asha Rao",
        "J. R. R. Tolkien",
        "Mary-Jane O'Neil",
        "Dr.Strange",
        "Anne.Marie",
    ] {
        assert!(!has_link_or_markup(fine), "{fine}");
    }
    for link in [
        "www.win.example",
        "visit mysite.com",
        "https://x",
        "a<script>",
    ] {
        assert!(has_link_or_markup(link), "{link}");
    }
}

#[test]
fn the_time_to_submit_the_burst_and_the_agent_add_up_and_the_score_is_capped() {
    let now_ms = chrono::Utc::now().timestamp_millis();
    let fields = json!({"name": "A", "email": "x@mailinator.com", "__pg_ts": now_ms - 1_000});
    let mut m = meta("1.2.3.4", None, None);
    m.received_at_ms = now_ms;
    let signals = signals_of(&submission(fields.clone(), m.clone()), &[]);
    let out = suspicion(&signals, 1);
    assert_eq!(
        out.reasons,
        vec!["time_to_submit_under_3s", "disposable_email_domain"]
    );
    assert_eq!(out.score, 70);
    assert!(suspicion(&signals, 6)
        .reasons
        .contains(&"many_form_submits_in_an_hour".to_string()));
    m.user_agent = Some("Googlebot/2.1".into());
    let bot = signals_of(&submission(fields, m), &[]);
    assert_eq!(suspicion(&bot, 50).score, 100);
    assert!(is_bot_lead(true, &bot));
    assert!(!is_bot_lead(false, &bot));
}

#[test]
fn a_browser_clock_in_another_offset_than_the_address_is_a_vpn() {
    let fields = json!({"name": "A", "email": "a@b.co", "visitor_id": "v"});
    let with_browser = |tz: &str, address_tz: Option<&str>| {
        let mut s = signals_of(
            &submission(fields.clone(), meta("1.2.3.4", None, address_tz)),
            &[],
        );
        s.activity = Some(VisitorActivity {
            time_zone: Some(tz.into()),
            ..VisitorActivity::default()
        });
        suspicion(&s, 1)
    };
    let far = with_browser("America/New_York", Some("Asia/Kolkata"));
    assert_eq!(far.vpn_suspected, Some(true));
    assert_eq!(far.reasons, vec!["vpn_suspected"]);
    // An old alias of the same zone keeps the same offset.
    assert_eq!(
        with_browser("Asia/Calcutta", Some("Asia/Kolkata")).vpn_suspected,
        Some(false)
    );
    assert_eq!(with_browser("Asia/Kolkata", None).vpn_suspected, None);
    assert_eq!(
        with_browser("Not/AZone", Some("Asia/Kolkata")).vpn_suspected,
        None
    );
}

#[test]
fn an_address_in_the_vpn_ranges_is_a_vpn() {
    let ranges: Vec<IpNet> = vec!["203.0.113.0/24".parse().unwrap()];
    let fields = json!({"name": "A", "email": "a@b.co"});
    let inside = signals_of(
        &submission(fields.clone(), meta("203.0.113.9", None, None)),
        &ranges,
    );
    assert_eq!(suspicion(&inside, 1).vpn_suspected, Some(true));
    let outside = signals_of(
        &submission(fields.clone(), meta("198.51.100.1", None, None)),
        &ranges,
    );
    assert_eq!(suspicion(&outside, 1).vpn_suspected, Some(false));
    let unknown = signals_of(&submission(fields, meta("198.51.100.1", None, None)), &[]);
    assert_eq!(suspicion(&unknown, 1).vpn_suspected, None);
}

#[test]
fn engagement_labels() {
    assert_eq!(engagement(0, 0, 0).label, "cold");
    assert_eq!(engagement(300, 3, 1).label, "warm");
    assert_eq!(engagement(1200, 10, 5).label, "hot");
    assert!(engagement(100_000, 1000, 1000).score <= 100);
    let activity = VisitorActivity {
        sessions: 3,
        page_views: 4,
        seconds_on_site: 300,
        time_zone: None,
    };
    let e = engagement_of(Some(&activity));
    assert_eq!((e.return_visits, e.score, e.label), (2, 60, "warm"));
    assert_eq!(engagement_of(None), engagement(0, 0, 0));
}
