use super::*;
use serde_json::json;

fn campaign(settings: Value) -> Campaign {
    let mut campaign = Campaign::for_tests("c", "a", "website", settings);
    campaign.name = "Skyline".into();
    campaign
}

#[test]
fn deals_are_named_by_name_then_first_and_last_then_email_then_campaign() {
    assert_eq!(
        deal_name(Some("Ana Lima"), Some("X"), None, Some("a@x.io"), "C"),
        "Ana Lima"
    );
    assert_eq!(
        deal_name(None, Some("Ana"), Some("Lima"), Some("a@x.io"), "C"),
        "Ana Lima"
    );
    assert_eq!(deal_name(Some(" "), None, Some("Lima"), None, "C"), "Lima");
    assert_eq!(
        deal_name(None, None, None, Some("ana.lima@x.io"), "C"),
        "ana.lima"
    );
    assert_eq!(
        deal_name(None, None, None, Some("@x.io"), "Skyline"),
        "Skyline lead"
    );
    assert_eq!(deal_name(None, None, None, None, "Skyline"), "Skyline lead");
}

#[test]
fn names_split_at_the_last_space() {
    assert_eq!(
        split_name(Some("Ana Maria Lima")),
        (Some("Ana Maria".into()), Some("Lima".into()))
    );
    assert_eq!(split_name(Some(" Ana ")), (Some("Ana".into()), None));
    assert_eq!(split_name(Some("")), (None, None));
    assert_eq!(split_name(None), (None, None));
}

#[test]
fn a_campaign_asks_for_contacts_and_deals_by_its_settings() {
    assert_eq!(crm_settings(&campaign(json!({}))), None);
    let person = crm_settings(&campaign(json!({"add_to_crm": true}))).unwrap();
    assert_eq!(person.contact_type, ContactKind::Person);
    assert_eq!(person.deal, None);
    let deal = crm_settings(&campaign(json!({"create_deal": true, "pipeline_id": 7,
        "stage_id": "s1", "add_person_or_business": "business", "currency": "eur"})))
    .unwrap();
    assert_eq!(deal.contact_type, ContactKind::Business);
    let settings = deal.deal.unwrap();
    assert_eq!(
        (settings.pipeline_id.as_str(), settings.stage_id.as_str()),
        ("7", "s1")
    );
    assert_eq!(settings.value, 0.0);
    assert_eq!(settings.currency, "EUR");
    let incomplete = json!({"create_deal": true, "pipeline_id": 7});
    assert_eq!(
        crm_settings(&campaign(incomplete)),
        None,
        "no stage: no deal"
    );
}

#[test]
fn a_business_contact_takes_the_business_name_and_a_deal_only_for_a_new_lead() {
    use crate::sources::submission::RequestMeta;
    use crate::sources::website::website_submission;
    let fields = json!({"name": "Ana Lima", "email": "Ana@X.io", "company_name": "Acme Ltd",
        "city": "Lisbon"});
    let sub = website_submission(
        "s",
        "a",
        fields.as_object().unwrap(),
        &RequestMeta::default(),
    );
    let business = crm_settings(&campaign(json!({"add_person_or_business": "business",
        "create_deal": true, "pipeline_id": "p", "stage_id": "s", "deal_value": 1500})))
    .unwrap();
    let request = contact_request(&business, &sub, (9, "lead-9"));
    assert_eq!(request.contact_type, "business");
    assert_eq!(request.name.as_deref(), Some("Acme Ltd"));
    assert_eq!(request.first_name.as_deref(), Some("Ana"));
    assert_eq!(request.last_name.as_deref(), Some("Lima"));
    assert_eq!(request.email_key.as_deref(), Some("ana@x.io"));
    let deal = request.deal.unwrap();
    assert_eq!(deal.campaign_name, "Skyline");
    assert_eq!(deal.settings.value, 1500.0);
    let person = crm_settings(&campaign(json!({"add_to_crm": true}))).unwrap();
    let request = contact_request(&person, &sub, (9, "lead-9"));
    assert!(request.deal.is_none());
    assert_eq!(request.name.as_deref(), Some("Ana Lima"));
    assert_eq!(request.address["city"], "Lisbon");
}

fn reps(ids: &[&str]) -> Vec<Representative> {
    ids.iter()
        .map(|id| Representative {
            id: id.to_string(),
            custom_number: None,
        })
        .collect()
}

/// Who gets `count` leads in turn, from no previous lead.
fn turns(representatives: &[Representative], active: &[&str], count: usize) -> Vec<String> {
    let mut previous: Option<String> = None;
    (0..count)
        .map(|_| {
            let next = next_representative(
                representatives,
                |id| active.contains(&id),
                previous.as_deref(),
            )
            .map(|r| r.id.clone())
            .unwrap_or_default();
            previous = Some(next.clone());
            next
        })
        .collect()
}

#[test]
fn representatives_take_turns_and_never_twice_in_a_row() {
    let three = reps(&["u1", "u2", "u3"]);
    let got = turns(&three, &["u1", "u2", "u3"], 30);
    assert!(got.windows(2).all(|w| w[0] != w[1]), "{got:?}");
    for user in ["u1", "u2", "u3"] {
        assert_eq!(
            got.iter().filter(|g| *g == user).count(),
            10,
            "an even share"
        );
    }
    let two = turns(&reps(&["u1", "u2"]), &["u1", "u2"], 4);
    assert_eq!(two, ["u1", "u2", "u1", "u2"]);
    assert_eq!(
        turns(&reps(&["u1"]), &["u1"], 3),
        ["u1", "u1", "u1"],
        "one is always that one"
    );
    let skipping = turns(&three, &["u1", "u3"], 4);
    assert_eq!(
        skipping,
        ["u1", "u3", "u1", "u3"],
        "an inactive one is skipped"
    );
    assert_eq!(turns(&three, &[], 1), [""], "none active: none");
    // The previous one became inactive or left the list: the turn goes on from its place, or
    // from the start.
    let after_inactive = next_representative(&three, |id| id != "u2", Some("u2"));
    assert_eq!(after_inactive.unwrap().id, "u3");
    let unknown = next_representative(&three, |_| true, Some("gone"));
    assert_eq!(unknown.unwrap().id, "u1");
}

#[test]
fn selected_users_are_read_once_each_in_order() {
    let settings = crm_settings(&campaign(json!({"selected_user": [
        {"id": "u2", "custom_number": "+15550100"}, {"id": "u1", "custom_number": null},
        {"id": "u2"}, {"custom_number": "x"}]})))
    .unwrap();
    assert!(
        !settings.makes_contacts,
        "representatives alone make no contacts"
    );
    let ids: Vec<&str> = settings
        .representatives
        .iter()
        .map(|r| r.id.as_str())
        .collect();
    assert_eq!(ids, ["u2", "u1"]);
    assert_eq!(
        settings.representatives[0].custom_number.as_deref(),
        Some("+15550100")
    );
}

#[test]
fn a_lead_received_is_announced_by_the_contacts_name_else_email_else_phone() {
    let at = "2026-12-04T10:00:00Z";
    assert_eq!(
        conversation_messages(Some("Ana Lima"), Some("a@x.io"), None, at),
        [
            "Ana Lima started a new conversation on 2026-12-04T10:00:00Z".to_string(),
            "Lead received for Ana Lima".to_string()
        ]
    );
    assert_eq!(
        conversation_messages(Some(" "), Some("a@x.io"), None, at)[1],
        "Lead received for a@x.io"
    );
    assert_eq!(
        conversation_messages(None, None, Some("+14155550100"), at)[1],
        "Lead received for +14155550100"
    );
    assert_eq!(
        conversation_messages(None, None, None, at)[1],
        "Lead received for A visitor"
    );
    let string_value = json!({"create_deal": true, "pipeline_id": "p", "stage_id": "s",
        "deal_value": "2500"});
    assert_eq!(
        crm_settings(&campaign(string_value))
            .unwrap()
            .deal
            .unwrap()
            .value,
        2500.0
    );
}

#[test]
fn notification_settings_follow_the_notification_type() {
    let sms = crm_settings(&campaign(json!({"notification_type": "send_email_sms",
        "sms_details": {"content": "Hi {{first_name}}", "from": "+15550001111"}})));
    assert_eq!(sms, None, "no representatives: nobody to text");
    let with_rep = crm_settings(&campaign(json!({"notification_type": "only_send_sms",
        "selected_user": [{"id": "u1"}], "sms_details": {"content": "Hi {{first_name}}"}})))
    .unwrap();
    assert_eq!(
        with_rep.sms.unwrap().content.as_deref(),
        Some("Hi {{first_name}}")
    );
    let email_only = crm_settings(&campaign(json!({"notification_type": "only_send_email",
        "selected_user": [{"id": "u1"}]})))
    .unwrap();
    assert_eq!(email_only.sms, None);
    assert_eq!(email_only.email, Some(EmailSettings::default()));
    let none = crm_settings(&campaign(json!({"selected_user": [{"id": "u1"}],
        "email_details": {"subject": "s"}})))
    .unwrap();
    assert_eq!(
        (none.email, none.sms),
        (None, None),
        "no notification_type: none sent"
    );
}
