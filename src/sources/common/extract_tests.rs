use super::*;
use serde_json::json;

fn person(payload: Value) -> Extracted {
    extract_contact(&payload, ContactKind::Person)
}

fn fixture(path: &str) -> Value {
    let text = std::fs::read_to_string(format!(
        "{}/tests/fixtures/{path}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn the_name_by_priority_then_first_and_last() {
    assert_eq!(
        person(json!({"full_name": "A B", "name": "C D"}))
            .name
            .as_deref(),
        Some("C D")
    );
    assert_eq!(
        person(json!({"Full Name": "A B"})).name.as_deref(),
        Some("A B")
    );
    assert_eq!(
        person(json!({"First Name*": "Ann", "last_name": "Lee"}))
            .name
            .as_deref(),
        Some("Ann Lee")
    );
    assert_eq!(
        person(json!({"lastName": "Lee"})).name.as_deref(),
        Some("Lee")
    );
    assert_eq!(
        person(json!({"name": "  ", "first_name": "Ann"}))
            .name
            .as_deref(),
        Some("Ann")
    );
    assert_eq!(
        person(json!({"cnam": "JANE DOE"})).name.as_deref(),
        Some("JANE DOE")
    );
    assert_eq!(
        person(json!({"formatted_customer_name": "Grace Hopper"}))
            .name
            .as_deref(),
        Some("Grace Hopper")
    );
    assert_eq!(person(json!({})).name, None);
}

#[test]
fn a_business_takes_the_business_name_first_and_a_person_never() {
    let payload = json!({"Company Name*": "Acme Ltd", "name": "Ann Lee"});
    let business = extract_contact(&payload, ContactKind::Business);
    assert_eq!(business.name.as_deref(), Some("Acme Ltd"));
    assert_eq!(business.person_name.as_deref(), Some("Ann Lee"));
    assert_eq!(person(payload).name.as_deref(), Some("Ann Lee"));
    let without = extract_contact(&json!({"name": "Ann Lee"}), ContactKind::Business);
    assert_eq!(without.name.as_deref(), Some("Ann Lee"));
    assert_eq!(without.business_name, None);
    for key in ["company_name", "business_name", "COMPANY", "Organisation"] {
        let found = extract_contact(&json!({ key: "Acme" }), ContactKind::Business);
        assert_eq!(found.business_name.as_deref(), Some("Acme"), "{key}");
    }
}

#[test]
fn keys_are_case_insensitive_and_a_trailing_star_is_ignored() {
    let found = person(json!({"EMAIL*": "a@example.com", "Phone Number *": "+12025550143"}));
    assert_eq!(found.email.as_deref(), Some("a@example.com"));
    assert_eq!(found.phone.as_deref(), Some("+12025550143"));
}

#[test]
fn the_top_level_wins_over_nested_objects_which_are_still_searched() {
    let found = person(json!({"email": "top@example.com", "data": {"email": "inner@example.com"}}));
    assert_eq!(found.email.as_deref(), Some("top@example.com"));
    let nested = person(json!({"data": {"attributes": {"email": "deep@example.com"}}}));
    assert_eq!(nested.email.as_deref(), Some("deep@example.com"));
}

#[test]
fn each_level_is_searched_whole_before_the_next() {
    let tagged =
        person(json!({"first_name": "Ann", "last_name": "Lee", "tags": [{"name": "VIP"}]}));
    assert_eq!(tagged.name.as_deref(), Some("Ann Lee"));
    let nulls = person(
        json!({"phone": null, "email": "", "contact": {"phone": "+12025550143", "email": "c@example.com"}}),
    );
    assert_eq!(nulls.phone.as_deref(), Some("+12025550143"));
    assert_eq!(nulls.email.as_deref(), Some("c@example.com"));
}

#[test]
fn a_phone_object_gives_its_value() {
    let found = person(json!({"mobilePhone": {"value": "+44 7700 900123", "type": "mobile"}}));
    assert_eq!(found.phone.as_deref(), Some("+44 7700 900123"));
}

#[test]
fn arrays_give_their_first_non_empty_element() {
    let found = person(json!({"email": [], "name": ["", "Ada"], "phone_number": ["2025550188"]}));
    assert_eq!(found.name.as_deref(), Some("Ada"));
    assert_eq!(found.phone.as_deref(), Some("2025550188"));
    assert_eq!(found.email, None);
}

#[test]
fn email_and_phone_fall_back_to_a_pattern_search_over_whole_string_values() {
    let found = person(json!({
        "custom_fields": {"Contact Email": "maria@example.com", "WhatsApp No": "+55 11 91234-5678"}
    }));
    assert_eq!(found.email.as_deref(), Some("maria@example.com"));
    assert_eq!(found.phone.as_deref(), Some("+55 11 91234-5678"));
    // Only whole values: text around an address or a number is no field.
    let prose = person(json!({"notes": "write to a@example.com or call 2025550143"}));
    assert_eq!(prose.email, None);
    assert_eq!(prose.phone, None);
}

#[test]
fn numbers_ids_urls_dates_and_the_business_lines_are_never_the_persons_phone() {
    let found = person(json!({
        "id": "4155551234",
        "lead_id": "2025550143",
        "page_uuid": "7648177d",
        "count": 2025550143u64,
        "url": "https://example.com/2025550143",
        "date_submitted": "2017-11-15",
        "when": "15/11/2017",
        "time": "11:45",
        "price": "1234567.50",
        "business_phone_number": "+15555550100",
        "tracking_phone_number": "+14155559999",
        "trackingnum": "+14155559999",
        "ip": "127.0.0.1",
        "visitor": "85.73.39.163",
        "zip": "10001-1234",
        "created": "1700000000"
    }));
    assert_eq!(found.phone, None, "{found:?}");
    // Found by its look only, a number must be valid where the lead is.
    let with_country = person(json!({"country": "US", "other": "4155551234"}));
    assert_eq!(with_country.phone.as_deref(), Some("4155551234"));
    assert_eq!(person(json!({"other": "4155551234"})).phone, None);
}

#[test]
fn a_named_email_that_is_not_one_gives_way_to_the_fallback() {
    let found = person(json!({"email": "not an email", "other": "b@example.com"}));
    assert_eq!(found.email.as_deref(), Some("b@example.com"));
    let none = person(json!({"email": "nope"}));
    assert_eq!(none.email, None);
}

#[test]
fn addresses_for_the_person_and_for_the_business() {
    let found = extract_contact(
        &json!({
            "address": "1 Main St", "City": "New York", "state": "NY", "zip": "10001",
            "country": "United States", "company_city": "Boston"
        }),
        ContactKind::Business,
    );
    assert_eq!(
        found.address,
        Address {
            street: Some("1 Main St".into()),
            city: Some("New York".into()),
            state: Some("NY".into()),
            postal_code: Some("10001".into()),
            country: Some("United States".into()),
        }
    );
    assert_eq!(found.business_address.city.as_deref(), Some("Boston"));
    assert_eq!(found.business_address.street.as_deref(), Some("1 Main St"));
    assert_eq!(found.country.as_deref(), Some("United States"));
}

#[test]
fn what_is_not_an_object_has_no_fields() {
    for payload in [
        json!(null),
        json!("a@example.com"),
        json!([1, 2]),
        json!(42),
    ] {
        assert_eq!(person(payload), Extracted::default());
    }
}

#[test]
fn a_deeply_nested_body_is_searched_to_a_bound() {
    // As deep as a request body can be read (serde_json stops at 128 levels).
    let deep = format!(
        "{}{{\"email\": \"deep@example.com\"}}{}",
        "{\"x\": ".repeat(120),
        "}".repeat(120)
    );
    let payload: Value = serde_json::from_str(&deep).unwrap();
    assert_eq!(person(payload).email, None);
    let shallow = format!(
        "{}{{\"email\": \"deep@example.com\"}}{}",
        "{\"x\": ".repeat(MAX_DEPTH - 1),
        "}".repeat(MAX_DEPTH - 1)
    );
    let payload: Value = serde_json::from_str(&shallow).unwrap();
    assert_eq!(person(payload).email.as_deref(), Some("deep@example.com"));
}

#[test]
fn countries_by_name_alias_or_iso_code() {
    for (given, iso) in [
        ("United States", "US"),
        ("united states of america", "US"),
        ("USA", "US"),
        ("us", "US"),
        ("India", "IN"),
        ("IND", "IN"),
        ("UK", "GB"),
        ("United Kingdom", "GB"),
        ("Brazil", "BR"),
        ("Deutschland", ""),
    ] {
        assert_eq!(country_iso_code(given).unwrap_or_default(), iso, "{given}");
    }
}

#[test]
fn phones_take_their_own_code_then_the_platforms_then_the_countrys() {
    let own = format_phone("+44 7911 123456", Some("+1"), Some("India")).unwrap();
    assert_eq!(own.e164, "+447911123456");
    let platform = format_phone("2025550143", Some("+1"), Some("India")).unwrap();
    assert_eq!(platform.e164, "+12025550143");
    let by_country = format_phone("4155551234", None, Some("United States")).unwrap();
    assert_eq!(by_country.e164, "+14155551234");
    let by_iso = format_phone("09812345678", None, Some("IN")).unwrap();
    assert_eq!(by_iso.e164, "+919812345678");
    assert_eq!(by_iso.mobile(), "+91-9812345678");
    assert_eq!(format_phone("4155551234", None, None), None);
    assert_eq!(format_phone("12345", None, Some("US")), None);
}

#[test]
fn looks_like_phone_accepts_the_usual_writings() {
    for phone in [
        "+1 (202) 555-0143",
        "202.555.0143",
        "2025550143",
        "+55 11 91234-5678",
    ] {
        assert!(looks_like_phone(phone), "{phone}");
    }
    for not in [
        "12345",
        "2017-11-15",
        "1234567.50",
        "+1 202 555 0143 ext 4",
        "1+2025550143",
        "",
    ] {
        assert!(!looks_like_phone(not), "{not}");
    }
}

#[test]
fn the_platforms_fixtures() {
    let clickfunnels = person(fixture("clickfunnels/attributes_form.json"));
    assert_eq!(clickfunnels.name.as_deref(), Some("John Doe"));
    assert_eq!(clickfunnels.email.as_deref(), Some("john@example.com"));
    assert_eq!(clickfunnels.country.as_deref(), Some("United States"));
    let identified = person(fixture("clickfunnels/contact_identified.json"));
    assert_eq!(identified.name.as_deref(), Some("Bob Dullan"));
    assert_eq!(identified.email.as_deref(), Some("bob@example.com"));
    assert_eq!(identified.phone.as_deref(), Some("+18472555555"));
    let manychat = person(fixture("manychat/full_contact.json"));
    assert_eq!(manychat.name.as_deref(), Some("Maria Silva"));
    assert_eq!(manychat.email.as_deref(), Some("maria.silva@example.com"));
    assert_eq!(manychat.phone.as_deref(), Some("+55 11 91234-5678"));
    let kartra = person(fixture("kartra/filled_form.json"));
    assert_eq!(kartra.name.as_deref(), Some("John Doe"));
    assert_eq!(kartra.phone_country_code.as_deref(), Some("+1"));
    assert_eq!(kartra.address.postal_code.as_deref(), Some("10001"));
    let phone = format_phone(
        kartra.phone.as_deref().unwrap(),
        kartra.phone_country_code.as_deref(),
        kartra.country.as_deref(),
    );
    assert_eq!(phone.unwrap().e164, "+12025550143");
    let callrail = person(fixture("callrail/post_call.json"));
    assert_eq!(callrail.name.as_deref(), Some("Grace Hopper"));
    assert_eq!(callrail.phone.as_deref(), Some("+12025550111"));
    assert_eq!(callrail.address.city.as_deref(), Some("Arlington"));
    let ctm = person(fixture("calltrackingmetrics/call.json"));
    assert_eq!(ctm.name.as_deref(), Some("Jane Doe"));
    assert_eq!(ctm.phone.as_deref(), Some("+17607058888"));
    assert_eq!(ctm.email.as_deref(), Some("jane@example.com"));
    let instapage = person(fixture("instapage/form.json"));
    assert_eq!(instapage.name.as_deref(), Some("John Doe"));
    let phone = format_phone("4155551234", None, instapage.country.as_deref()).unwrap();
    assert_eq!(phone.mobile(), "+1-4155551234");
    let phonesites = person(fixture("phonesites/form.json"));
    assert_eq!(phonesites.name.as_deref(), Some("John Doe"));
    assert_eq!(phonesites.phone.as_deref(), Some("4155551234"));
}
