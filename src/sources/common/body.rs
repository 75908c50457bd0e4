//! Request bodies to form fields: JSON, urlencoded, multipart and text/plain holding either.
//! Text in a declared `charset` other than UTF-8 (a Latin-1 page's form) is decoded from it;
//! undeclared escaped bytes (`%E9`) that are not UTF-8 are read as windows-1252, the web's legacy
//! default, rather than replaced: a visitor's name is worth more than a question mark.

use encoding_rs::Encoding;
use serde_json::{Map, Value};

pub const MAX_BODY_BYTES: usize = 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error("body is not valid JSON: {0}")]
    Json(String),
    #[error("a JSON body must be an object of form fields")]
    NotAnObject,
    #[error("body is not valid UTF-8")]
    NotUtf8,
    #[error("multipart body could not be read: {0}")]
    Multipart(String),
    #[error("unsupported content type {0:?}; send JSON, urlencoded, multipart or text")]
    UnsupportedType(String),
    #[error("unsupported charset {0:?}")]
    UnsupportedCharset(String),
}

/// What a body's `Content-Type` says it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyKind {
    Json,
    UrlEncoded,
    Multipart { boundary: String },
    Text,
}

pub fn body_kind(content_type: Option<&str>) -> Result<BodyKind, BodyError> {
    let Some(content_type) = content_type.map(str::trim).filter(|c| !c.is_empty()) else {
        return Ok(BodyKind::Text);
    };
    let mime: mime::Mime = content_type
        .parse()
        .map_err(|_| BodyError::UnsupportedType(content_type.to_string()))?;
    match (
        mime.type_().as_str(),
        mime.subtype().as_str(),
        mime.suffix(),
    ) {
        ("application", "json", _) | ("application", _, Some(mime::JSON)) => Ok(BodyKind::Json),
        ("application", "x-www-form-urlencoded", _) => Ok(BodyKind::UrlEncoded),
        ("multipart", "form-data", _) => mime
            .get_param(mime::BOUNDARY)
            .map(|b| BodyKind::Multipart {
                boundary: b.as_str().to_string(),
            })
            .ok_or_else(|| BodyError::Multipart("no boundary in Content-Type".into())),
        ("text", "plain", _) => Ok(BodyKind::Text),
        _ => Err(BodyError::UnsupportedType(content_type.to_string())),
    }
}

/// The `charset` a `Content-Type` declares, when it is not UTF-8 (`None`: UTF-8).
pub fn body_charset(content_type: Option<&str>) -> Result<Option<&'static Encoding>, BodyError> {
    let Some(mime) = content_type.and_then(|c| c.trim().parse::<mime::Mime>().ok()) else {
        return Ok(None);
    };
    match mime.get_param(mime::CHARSET) {
        None => Ok(None),
        Some(label) => match Encoding::for_label(label.as_str().as_bytes()) {
            Some(encoding) if encoding == encoding_rs::UTF_8 => Ok(None),
            Some(encoding) => Ok(Some(encoding)),
            None => Err(BodyError::UnsupportedCharset(label.as_str().to_string())),
        },
    }
}

/// Bytes of text in the declared charset; undeclared, UTF-8 if they are, else windows-1252.
fn decode_text(bytes: &[u8], charset: Option<&'static Encoding>) -> String {
    match charset {
        Some(encoding) => encoding.decode_without_bom_handling(bytes).0.into_owned(),
        None => match std::str::from_utf8(bytes) {
            Ok(text) => text.to_string(),
            Err(_) => encoding_rs::WINDOWS_1252
                .decode_without_bom_handling(bytes)
                .0
                .into_owned(),
        },
    }
}

/// Parses a body into a JSON object of form fields (a repeated form key becomes an array).
pub async fn parse_form_body(
    kind: &BodyKind,
    charset: Option<&'static Encoding>,
    body: &[u8],
) -> Result<Map<String, Value>, BodyError> {
    match kind {
        BodyKind::Multipart { boundary } => parse_multipart(boundary, charset, body).await,
        _ => parse_plain_body(kind, charset, body),
    }
}

/// The synchronous kinds: JSON, urlencoded, and text holding either.
pub fn parse_plain_body(
    kind: &BodyKind,
    charset: Option<&'static Encoding>,
    body: &[u8],
) -> Result<Map<String, Value>, BodyError> {
    let decoded;
    let body = match charset {
        Some(encoding) if !matches!(kind, BodyKind::UrlEncoded) => {
            decoded = encoding.decode_without_bom_handling(body).0.into_owned();
            decoded.as_bytes()
        }
        _ => body,
    };
    match kind {
        BodyKind::Json => parse_json_object(body),
        BodyKind::UrlEncoded => parse_urlencoded(body, charset),
        BodyKind::Text => {
            let text = std::str::from_utf8(body)
                .map_err(|_| BodyError::NotUtf8)?
                .trim();
            if text.is_empty() {
                Ok(Map::new())
            } else if text.starts_with('{') || text.starts_with('[') {
                parse_json_object(text.as_bytes())
            } else {
                parse_urlencoded(text.as_bytes(), None)
            }
        }
        BodyKind::Multipart { .. } => Err(BodyError::Multipart(
            "multipart needs the async parser".into(),
        )),
    }
}

fn parse_json_object(body: &[u8]) -> Result<Map<String, Value>, BodyError> {
    let text = std::str::from_utf8(body).map_err(|_| BodyError::NotUtf8)?;
    // An empty body holds no fields: the caller answers that no contact was given (422).
    if text.trim().is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(BodyError::NotAnObject),
        Err(e) => Err(BodyError::Json(e.to_string())),
    }
}

/// `a=1&b=2`: `+` is a space, `%XX` a byte; the bytes of each name and value are text in the
/// form's charset. Raw bytes that are not UTF-8, with no charset declared, are malformed.
fn parse_urlencoded(
    body: &[u8],
    charset: Option<&'static Encoding>,
) -> Result<Map<String, Value>, BodyError> {
    if charset.is_none() {
        std::str::from_utf8(body).map_err(|_| BodyError::NotUtf8)?;
    }
    let decode = |part: &[u8]| {
        let spaced: Vec<u8> = part
            .iter()
            .map(|b| if *b == b'+' { b' ' } else { *b })
            .collect();
        let bytes: Vec<u8> = percent_encoding::percent_decode(&spaced).collect();
        decode_text(&bytes, charset)
    };
    let mut fields = Map::new();
    for pair in body.split(|b| *b == b'&').filter(|p| !p.is_empty()) {
        let (key, value) = match pair.iter().position(|b| *b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &[][..]),
        };
        insert_field(&mut fields, decode(key), decode(value));
    }
    Ok(fields)
}

async fn parse_multipart(
    boundary: &str,
    charset: Option<&'static Encoding>,
    body: &[u8],
) -> Result<Map<String, Value>, BodyError> {
    let bytes = bytes::Bytes::copy_from_slice(body);
    let stream =
        futures_util::stream::once(async move { Ok::<_, std::convert::Infallible>(bytes) });
    let mut multipart = multer::Multipart::new(stream, boundary);
    let mut fields = Map::new();
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| BodyError::Multipart(e.to_string()))?
    {
        let name = field.name().unwrap_or_default().to_string();
        // Uploaded files are not lead data: their names are kept, their bytes are not.
        if let Some(file_name) = field.file_name().map(str::to_string) {
            insert_field(&mut fields, name, file_name);
            continue;
        }
        let value = field
            .bytes()
            .await
            .map_err(|e| BodyError::Multipart(e.to_string()))?;
        insert_field(&mut fields, name, decode_text(&value, charset));
    }
    Ok(fields)
}

/// U+0000 removed from every key and text value: PostgreSQL cannot store it in text, and no form
/// field means it. Whatever is answered 200 must be storable on both backends.
pub fn without_nul_characters(fields: Map<String, Value>) -> Map<String, Value> {
    fields
        .into_iter()
        .map(|(key, value)| (strip_nul(key), value_without_nul(value)))
        .collect()
}

fn value_without_nul(value: Value) -> Value {
    match value {
        Value::String(s) => Value::String(strip_nul(s)),
        Value::Array(items) => Value::Array(items.into_iter().map(value_without_nul).collect()),
        Value::Object(map) => Value::Object(without_nul_characters(map)),
        other => other,
    }
}

fn strip_nul(text: String) -> String {
    if text.contains('\0') {
        text.replace('\0', "")
    } else {
        text
    }
}

fn insert_field(fields: &mut Map<String, Value>, key: String, value: String) {
    match fields.get_mut(&key) {
        None => {
            fields.insert(key, Value::String(value));
        }
        Some(Value::Array(values)) => values.push(Value::String(value)),
        Some(existing) => {
            let first = existing.take();
            *existing = Value::Array(vec![first, Value::String(value)]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        assert_eq!(
            body_kind(Some("application/json; charset=utf-8")).unwrap(),
            BodyKind::Json
        );
        assert_eq!(
            body_kind(Some("application/x-www-form-urlencoded")).unwrap(),
            BodyKind::UrlEncoded
        );
        assert_eq!(body_kind(None).unwrap(), BodyKind::Text);
        assert!(
            matches!(body_kind(Some("multipart/form-data; boundary=xyz")).unwrap(), BodyKind::Multipart { boundary } if boundary == "xyz")
        );
        assert!(body_kind(Some("application/xml")).is_err());
        assert!(body_kind(Some("multipart/form-data")).is_err());
    }

    #[test]
    fn urlencoded_repeated_keys_become_arrays() {
        let m = parse_plain_body(&BodyKind::UrlEncoded, None, b"a=1&b=2&a=3").unwrap();
        assert_eq!(m["a"], serde_json::json!(["1", "3"]));
        assert_eq!(m["b"], "2");
    }

    #[test]
    fn text_holds_json_or_urlencoded() {
        let m = parse_plain_body(&BodyKind::Text, None, br#" {"email":"a@b.co"} "#).unwrap();
        assert_eq!(m["email"], "a@b.co");
        let m = parse_plain_body(&BodyKind::Text, None, b"email=a%40b.co").unwrap();
        assert_eq!(m["email"], "a@b.co");
    }

    #[test]
    fn declared_charsets_are_decoded() {
        let latin1 = body_charset(Some(
            "application/x-www-form-urlencoded; charset=ISO-8859-1",
        ))
        .unwrap();
        assert!(latin1.is_some());
        let m = parse_plain_body(
            &BodyKind::UrlEncoded,
            latin1,
            b"name=Ren%E9e+M%FCller&city=K\xf6ln",
        )
        .unwrap();
        assert_eq!(m["name"], "Renée Müller");
        assert_eq!(m["city"], "Köln");
        let json = parse_plain_body(&BodyKind::Json, latin1, b"{\"name\": \"Jos\xe9\"}").unwrap();
        assert_eq!(json["name"], "José");
        assert_eq!(
            body_charset(Some("application/json; charset=utf-8")).unwrap(),
            None
        );
        assert_eq!(body_charset(None).unwrap(), None);
        assert!(body_charset(Some("text/plain; charset=klingon")).is_err());
        let utf8 = parse_plain_body(&BodyKind::UrlEncoded, None, b"name=Ren%C3%A9e").unwrap();
        assert_eq!(utf8["name"], "Renée");
    }

    #[test]
    fn nul_characters_are_removed_everywhere() {
        let m = parse_plain_body(
            &BodyKind::Json,
            None,
            br#"{"na\u0000me": "a\u0000b", "list": ["x\u0000"], "nested": {"k": "\u0000"}}"#,
        )
        .unwrap();
        let clean = serde_json::to_string(&without_nul_characters(m)).unwrap();
        assert_eq!(clean, r#"{"list":["x"],"name":"ab","nested":{"k":""}}"#);
    }

    #[test]
    fn malformed_bodies() {
        assert!(matches!(
            parse_plain_body(&BodyKind::Json, None, b"{\"a\":"),
            Err(BodyError::Json(_))
        ));
        assert_eq!(
            parse_plain_body(&BodyKind::Json, None, b"[1,2]"),
            Err(BodyError::NotAnObject)
        );
        assert_eq!(
            parse_plain_body(&BodyKind::Json, None, b"\xff\xfe"),
            Err(BodyError::NotUtf8)
        );
        assert_eq!(
            parse_plain_body(&BodyKind::UrlEncoded, None, b"a=%FF&b=caf%E9").unwrap(),
            serde_json::json!({"a": "ÿ", "b": "café"})
                .as_object()
                .unwrap()
                .clone(),
            "escaped bytes that are not UTF-8 are windows-1252, never lost"
        );
        assert_eq!(
            parse_plain_body(&BodyKind::UrlEncoded, None, b"a=\xff"),
            Err(BodyError::NotUtf8),
            "raw bytes must be escaped in a urlencoded body"
        );
        assert_eq!(
            parse_plain_body(&BodyKind::Text, None, b"   "),
            Ok(Map::new())
        );
    }

    #[actix_rt::test]
    async fn multipart_fields() {
        let body = "--XX\r\nContent-Disposition: form-data; name=\"email\"\r\n\r\na@b.co\r\n--XX\r\nContent-Disposition: form-data; name=\"cv\"; filename=\"cv.pdf\"\r\n\r\n%PDF\r\n--XX--\r\n";
        let m = parse_form_body(
            &BodyKind::Multipart {
                boundary: "XX".into(),
            },
            None,
            body.as_bytes(),
        )
        .await
        .unwrap();
        assert_eq!(m["email"], "a@b.co");
        assert_eq!(m["cv"], "cv.pdf");
        assert!(parse_form_body(
            &BodyKind::Multipart {
                boundary: "XX".into()
            },
            None,
            b"garbage"
        )
        .await
        .is_err());
    }
}
