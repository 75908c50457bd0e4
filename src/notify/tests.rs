use super::*;
use crate::crm::Representative;
use serde_json::json;

fn request(sms: Option<SmsSettings>, email: Option<EmailSettings>) -> AssignmentRequest {
    AssignmentRequest {
        lead_id: 7,
        lead_public_id: "lead-7".into(),
        account_id: "acc".into(),
        campaign_id: "camp".into(),
        representatives: vec![
            Representative {
                id: "u1".into(),
                custom_number: Some("+15550009999".into()),
            },
            Representative {
                id: "u2".into(),
                custom_number: None,
            },
        ],
        sms,
        email,
    }
}

fn assigned(user: &str, phone: Option<&str>, email: Option<&str>, fcm: Option<&str>) -> AssignedTo {
    AssignedTo {
        user_id: user.into(),
        phone: phone.map(str::to_string),
        email: email.map(str::to_string),
        fcm_token: fcm.map(str::to_string),
        lead_json: json!({"first_name": "Ana <b>Lima</b>", "last_name": null,
            "email": "ana@example.com", "phone_e164": "+14155550100",
            "project_name": "Skyline"})
        .to_string(),
    }
}

fn every_channel() -> Channels {
    Channels {
        twilio_from: Some("+15550001111".into()),
        smtp_from: Some("leads@example.com".into()),
        push: true,
    }
}

#[test]
fn templates_take_the_leads_fields() {
    let lead = json!({"first_name": "Ana Lima", "phone_e164": "+14155550100", "email": null,
        "project_name": "Skyline", "engagement_score": 40});
    assert_eq!(
        render_line(DEFAULT_SMS, &lead),
        "New lead for Skyline: Ana Lima +14155550100"
    );
    assert_eq!(
        render_line("{{ first_name }} ({{engagement_score}})", &lead),
        "Ana Lima (40)"
    );
    assert_eq!(
        render_line("{{unknown}}x {{first_name", &lead),
        "x {{first_name"
    );
    let body = render_with("Hi\n\n{{first_name}}\n", &lead, str::to_string);
    assert_eq!(body, "Hi\n\nAna Lima\n", "an email keeps its lines");
}

#[test]
fn html_content_escapes_the_leads_fields_and_text_does_not() {
    let html = EmailSettings {
        content: Some("<p>{{first_name}}</p>".into()),
        ..Default::default()
    };
    let messages = assignment_messages(
        &request(None, Some(html)),
        &assigned("u2", None, Some("rep@example.com"), None),
        &every_channel(),
    );
    let [Ok(Message::Email(email))] = messages.as_slice() else {
        panic!("{messages:?}")
    };
    assert!(email.html);
    assert_eq!(email.body, "<p>Ana &lt;b&gt;Lima&lt;/b&gt;</p>");
    assert_eq!(email.subject, "New lead for Skyline: Ana <b>Lima</b>");
    assert_eq!(
        email.from, "leads@example.com",
        "SMTP_FROM when the campaign names none"
    );
    let text = assignment_messages(
        &request(None, Some(EmailSettings::default())),
        &assigned("u2", None, Some("rep@example.com"), None),
        &every_channel(),
    );
    let [Ok(Message::Email(email))] = text.as_slice() else {
        panic!("{text:?}")
    };
    assert!(!email.html);
    assert!(
        email.body.contains("Name: Ana <b>Lima</b>"),
        "{}",
        email.body
    );
    assert!(email.body.contains("Phone: +14155550100"), "{}", email.body);
}

#[test]
fn each_channel_the_campaign_asks_for_is_one_message() {
    let sms = SmsSettings {
        content: Some("Lead {{first_name}}".into()),
        from: None,
    };
    let email = EmailSettings {
        subject: Some("S {{project_name}}".into()),
        from: Some("Team <team@example.com>".into()),
        reply_to: Some("reply@example.com".into()),
        ..Default::default()
    };
    let all = assignment_messages(
        &request(Some(sms.clone()), Some(email)),
        &assigned(
            "u1",
            Some("+15550002222"),
            Some("rep@example.com"),
            Some("tok"),
        ),
        &every_channel(),
    );
    let channels: Vec<&str> = all.iter().flatten().map(Message::channel).collect();
    assert_eq!(channels, ["sms", "email", "push"]);
    let Ok(Message::Sms(text)) = &all[0] else {
        panic!()
    };
    assert_eq!(text.to, "+15550009999", "custom_number overrides the phone");
    assert_eq!(text.from, "+15550001111");
    let Ok(Message::Email(mail)) = &all[1] else {
        panic!()
    };
    assert_eq!(
        (mail.from.as_str(), mail.subject.as_str()),
        ("Team <team@example.com>", "S Skyline")
    );
    assert_eq!(mail.reply_to.as_deref(), Some("reply@example.com"));
    let Ok(Message::Push(push)) = &all[2] else {
        panic!()
    };
    assert_eq!(push.token, "tok");
    assert_eq!(push.title, "New lead for Skyline");
    assert_eq!(push.data["lead_id"], "lead-7");
    // u2 has no custom number: their phone; unreachable channels are errors of their type.
    let unreachable = assignment_messages(
        &request(Some(sms), Some(EmailSettings::default())),
        &assigned("u2", None, None, None),
        &every_channel(),
    );
    let errors: Vec<&str> = unreachable
        .iter()
        .map(|m| m.as_ref().unwrap_err().0)
        .collect();
    assert_eq!(errors, ["SmsSendError", "emailSendError"]);
}

#[test]
fn a_channel_this_instance_has_not_configured_sends_nothing() {
    let messages = assignment_messages(
        &request(Some(SmsSettings::default()), Some(EmailSettings::default())),
        &assigned("u1", Some("+1"), Some("rep@example.com"), Some("tok")),
        &Channels::default(),
    );
    assert!(messages.is_empty(), "{messages:?}");
}

#[test]
fn jobs_are_one_per_channel_and_lead_and_read_back() {
    let message = Message::Sms(SmsMessage {
        lead_id: 7,
        to: "+1".into(),
        from: "+2".into(),
        body: "b".into(),
    });
    let job = message.job("lead-7");
    assert_eq!(
        (job.kind.as_str(), job.public_id.as_str()),
        ("notify", "sms:lead-7")
    );
    assert!(
        job.payload_json.starts_with(r#"{"channel":"sms","#),
        "{}",
        job.payload_json
    );
    let read: Message = serde_json::from_str(&job.payload_json).unwrap();
    assert_eq!(read, message);
    // An SMS job written before the channels were one kind, as migration 11 rewrites it.
    let old = r#"{"lead_id":7,"to":"+1","from":"+2","body":"b"}"#;
    let migrated = format!(r#"{{"channel":"sms",{}"#, &old[1..]);
    assert_eq!(serde_json::from_str::<Message>(&migrated).unwrap(), message);
}

#[test]
fn notification_type_chooses_the_channels() {
    let settings = |v: serde_json::Value| notification_settings(v.as_object().unwrap());
    let both = settings(json!({"notification_type": "send_email_sms",
        "email_details": {"subject": " Hi ", "content": "", "from": "a@b.c"},
        "sms_details": {"content": "x", "from": "+1"}}));
    assert_eq!(
        both.0,
        Some(EmailSettings {
            subject: Some("Hi".into()),
            content: None,
            from: Some("a@b.c".into()),
            reply_to: None
        })
    );
    assert_eq!(both.1.unwrap().from.as_deref(), Some("+1"));
    assert_eq!(settings(json!({"notification_type": "none"})), (None, None));
    assert!(settings(json!({"notification_type": "only_send_email"}))
        .1
        .is_none());
    assert!(settings(json!({"notification_type": "only_send_sms"}))
        .0
        .is_none());
}

#[test]
fn html_is_recognised_by_its_tags() {
    assert!(looks_like_html("<p>Hi</p>"));
    assert!(looks_like_html("Hi<br>there"));
    assert!(!looks_like_html("a < b and c > d"));
    assert_eq!(
        escape_html(r#"<a href="x">'&'</a>"#),
        "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
    );
}
