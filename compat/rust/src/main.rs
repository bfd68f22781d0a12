//! A `tagseal conformance` testee over Confluent's Rust client
//! (`schema-registry-client`, by the author of Confluent's rule executors)
//! with its local KMS.
//!
//! Protocol (testvectors/SPEC.md §10): frames on stdin/stdout, each a 4-byte
//! little-endian length and that many bytes of UTF-8 JSON. Requests are
//! `{"op":"capabilities"}`, then `{"op":"read"|"write","name":…,"vector":{…}}`;
//! answers are `{"plaintext":…}`, `{"serialized":"<hex>"}`,
//! `{"error":{"class":…,"message":…}}` or `{"skipped":…}`. stdout carries
//! only frames; diagnostics go to stderr.
//!
//! Every vector gets a fresh Schema Registry ([`VectorRegistry`], which keeps
//! the vector's schema ids) and a fresh DEK Registry (the crate's
//! `MockDekRegistryClient`, found by the executors through a per-vector
//! `mock://` URL), and the process-wide KMS clients are cleared, so no state
//! crosses vectors.

mod avrojson;
mod protoraw;
mod registry;

use prost_reflect::ReflectMessage;
use registry::{VectorDeks, VectorRegistry};
use schema_registry_client::rest::apis::Error as RestError;
use schema_registry_client::rest::client_config::ClientConfig;
use schema_registry_client::rest::dek_registry_client::Client as DekClient;
use schema_registry_client::rest::models::dek::Algorithm;
use schema_registry_client::rest::models::{CreateDekRequest, CreateKekRequest, RegisteredSchema};
use schema_registry_client::rest::schema_registry_client::Client as SrClient;
use schema_registry_client::rules::encryption::clear_kms_clients;
use schema_registry_client::rules::encryption::encrypt_executor::{
    EncryptionExecutor, FieldEncryptionExecutor, SystemClock,
};
use schema_registry_client::rules::encryption::localkms::local_driver::LocalKmsDriver;
use schema_registry_client::serdes::avro::{AvroDeserializer, AvroSerializer};
use schema_registry_client::serdes::config::{
    DeserializerConfig, SchemaSelector, SerializerConfig,
};
use schema_registry_client::serdes::json::{JsonDeserializer, JsonSerializer};
use schema_registry_client::serdes::protobuf::{ProtobufDeserializer, ProtobufSerializer};
use schema_registry_client::serdes::rule_registry::RuleRegistry;
use schema_registry_client::serdes::serde::{
    SerdeError, SerdeFormat, SerdeHeader, SerdeHeaders, SerdeType, SerializationContext,
    SubjectNameStrategyType, header_schema_id_serializer,
};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};

/// Error classes (SPEC §7) this testee reports: only failures the crate
/// tells apart by error type or message. Its Tink errors ("tink error") do
/// not say whether the ciphertext was malformed, the key wrong or the tag
/// bad; a frame shorter than its header panics (answered without a class).
const ERROR_CLASSES: &[&str] = &[
    "ErrUnknownMagicByte",
    "ErrSchemaNotFound",
    "ErrMalformedPayload",
    "ErrDEKNotFound",
];

/// A failure answered to the harness: an optional SPEC §7 class and a
/// message (the crate's; panic messages are cut before any value).
struct Failure {
    class: Option<&'static str>,
    message: String,
}

impl Failure {
    fn plain(message: impl Into<String>) -> Failure {
        Failure {
            class: None,
            message: message.into(),
        }
    }
}

impl From<SerdeError> for Failure {
    fn from(e: SerdeError) -> Failure {
        Failure {
            class: None,
            message: describe(&e),
        }
    }
}

/// A read's failure, with its SPEC §7 class where the crate tells it.
fn read_failure(e: SerdeError) -> Failure {
    Failure {
        class: classify(&e),
        message: describe(&e),
    }
}

/// The SPEC §7 class of a crate error met on read, where the crate says it
/// unambiguously.
fn classify(e: &SerdeError) -> Option<&'static str> {
    match e {
        SerdeError::Serialization(m) if m == "invalid magic byte" => Some("ErrUnknownMagicByte"),
        SerdeError::Serialization(m) if m.starts_with("message descriptor not found at index") => {
            Some("ErrMalformedPayload")
        }
        SerdeError::Serialization(m)
            if m.contains("rule failed: no dek found for") && m.ends_with("during consume") =>
        {
            Some("ErrDEKNotFound")
        }
        SerdeError::Avro(_) | SerdeError::Json(_) | SerdeError::ProtobufDecode(_) => {
            Some("ErrMalformedPayload")
        }
        SerdeError::Rest(RestError::ResponseError(r)) if r.status.as_u16() == 404 => {
            registry::schema_not_found(r).then_some("ErrSchemaNotFound")
        }
        _ => None,
    }
}

/// The crate's error with its sources (its Display alone hides them).
fn describe(e: &SerdeError) -> String {
    let mut out = e.to_string();
    match e {
        SerdeError::Tink(t) => out = format!("{out}: {t:?}"),
        SerdeError::Rest(r) => out = format!("{out}: {r}"),
        SerdeError::Avro(a) => out = format!("avro error: {a}"),
        _ => {
            let mut src = std::error::Error::source(e);
            while let Some(s) = src {
                out = format!("{out}: {s}");
                src = s.source();
            }
        }
    }
    out
}

static VECTOR_SEQ: AtomicU64 = AtomicU64::new(0);

/// One vector's registries and rule executors.
struct Setup {
    sr: VectorRegistry,
    rules: RuleRegistry,
    rule_config: HashMap<String, String>,
    record: RegisteredSchema,
    topic: String,
}

async fn setup(v: &Value) -> Result<Setup, Failure> {
    // Tink keeps KMS clients, with the local secret, per key URI and
    // process-wide: forget the previous vector's.
    clear_kms_clients();
    let url = format!(
        "mock://tagseal-vector-{}",
        VECTOR_SEQ.fetch_add(1, Ordering::Relaxed)
    );
    let config = ClientConfig::new(vec![url.clone()]);
    let sr = VectorRegistry::new(config.clone());
    let format = str_field(v, "format")?;
    let schemas = v["schemas"]
        .as_array()
        .ok_or_else(|| Failure::plain("vector has no schemas"))?;
    let files = if format == "PROTOBUF" {
        Some(protoraw::files(v).map_err(Failure::plain)?)
    } else {
        None
    };
    let mut record = None;
    for (i, s) in schemas.iter().enumerate() {
        let mut rs: RegisteredSchema = serde_json::from_value(s.clone())
            .map_err(|e| Failure::plain(format!("schema {i}: {e}")))?;
        if let Some(files) = &files {
            // The registry's "serialized" Protobuf form: a base64 FileDescriptorProto.
            let name = protoraw::file_name(v, i).map_err(Failure::plain)?;
            rs.schema = Some(
                files
                    .get(&name)
                    .cloned()
                    .ok_or_else(|| Failure::plain(format!("no file {name}")))?,
            );
        }
        sr.add(rs.clone());
        record = Some(rs);
    }
    let deks = VectorDeks::fresh(config.clone());
    for k in v["keks"].as_array().into_iter().flatten() {
        deks.register_kek(CreateKekRequest {
            name: str_field(k, "name")?.to_string(),
            kms_type: str_field(k, "kmsType")?.to_string(),
            kms_key_id: str_field(k, "kmsKeyId")?.to_string(),
            kms_props: None,
            doc: None,
            shared: k["shared"].as_bool().unwrap_or(false),
        })
        .await
        .map_err(|e| Failure::plain(format!("register KEK: {e}")))?;
    }
    for d in v["deks"].as_array().into_iter().flatten() {
        let algorithm: Algorithm = serde_json::from_value(d["algorithm"].clone())
            .map_err(|e| Failure::plain(format!("DEK algorithm: {e}")))?;
        deks.register_dek(
            str_field(d, "kekName")?,
            CreateDekRequest {
                subject: str_field(d, "subject")?.to_string(),
                version: d["version"].as_i64().map(|n| n as i32),
                algorithm: Some(algorithm),
                encrypted_key_material: Some(str_field(d, "encryptedKeyMaterial")?.to_string()),
            },
        )
        .await
        .map_err(|e| Failure::plain(format!("register DEK: {e}")))?;
    }
    registry::publish_deks(&url, deks);
    let rules = RuleRegistry::new();
    rules.register_executor(FieldEncryptionExecutor::<VectorDeks>::new(
        SystemClock::new(),
    ));
    rules.register_executor(EncryptionExecutor::<VectorDeks>::new(SystemClock::new()));
    let rule_config = HashMap::from([(
        "secret".to_string(),
        str_field(v, "localKmsSecret")?.to_string(),
    )]);
    Ok(Setup {
        sr,
        rules,
        rule_config,
        record: record.ok_or_else(|| Failure::plain("vector has no schemas"))?,
        topic: str_field(v, "topic")?.to_string(),
    })
}

fn str_field<'a>(v: &'a Value, key: &str) -> Result<&'a str, Failure> {
    v[key]
        .as_str()
        .ok_or_else(|| Failure::plain(format!("vector field {key} missing")))
}

fn context(topic: &str, format: SerdeFormat) -> SerializationContext {
    SerializationContext {
        topic: topic.to_string(),
        serde_type: SerdeType::Value,
        serde_format: format,
        headers: None,
    }
}

/// The vector's record headers (guid-header framing), for the deserializer.
fn vector_headers(v: &Value) -> Result<Option<SerdeHeaders>, Failure> {
    let Some(list) = v["headers"].as_array() else {
        return Ok(None);
    };
    let mut headers = Vec::new();
    for h in list {
        headers.push(SerdeHeader {
            key: str_field(h, "key")?.to_string(),
            value: Some(hex_decode(str_field(h, "value")?).map_err(Failure::plain)?),
        });
    }
    Ok(Some(SerdeHeaders::new(headers)))
}

async fn read(v: &Value) -> Result<Value, Failure> {
    let s = setup(v).await?;
    let headers = vector_headers(v)?;
    let context = |topic: &str, format| SerializationContext {
        headers: headers.clone(),
        ..context(topic, format)
    };
    let payload = hex_decode(str_field(v, "serialized")?).map_err(Failure::plain)?;
    let mut conf = DeserializerConfig::new(None, false, s.rule_config.clone());
    conf.subject_name_strategy_type = SubjectNameStrategyType::Topic;
    match str_field(v, "format")? {
        "AVRO" => {
            let d = AvroDeserializer::new(&s.sr, Some(s.rules.clone()), conf)?;
            let got = d
                .deserialize(&context(&s.topic, SerdeFormat::Avro), &payload)
                .await
                .map_err(read_failure)?;
            avrojson::to_json(v, &got.value).map_err(Failure::plain)
        }
        "JSON" => {
            let d = JsonDeserializer::new(&s.sr, Some(s.rules.clone()), conf)?;
            d.deserialize(&context(&s.topic, SerdeFormat::Json), &payload)
                .await
                .map_err(read_failure)
        }
        "PROTOBUF" => {
            let d = ProtobufDeserializer::new(&s.sr, Some(s.rules.clone()), conf)?;
            let got: protoraw::RawMessage = d
                .deserialize(&context(&s.topic, SerdeFormat::Protobuf), &payload)
                .await
                .map_err(read_failure)?;
            protoraw::to_json(v, &got.0).map_err(Failure::plain)
        }
        other => Err(Failure::plain(format!("unknown format {other}"))),
    }
}

/// A written record: the value, and the headers for guid-header framing.
struct Written {
    value: Vec<u8>,
    headers: Vec<SerdeHeader>,
}

async fn write(v: &Value) -> Result<Written, Failure> {
    let s = setup(v).await?;
    let id = s
        .record
        .id
        .ok_or_else(|| Failure::plain("record schema has no id"))?;
    let mut conf = SerializerConfig::new(
        false,
        Some(SchemaSelector::SchemaId(id)),
        false,
        false,
        s.rule_config.clone(),
    );
    conf.subject_name_strategy_type = SubjectNameStrategyType::Topic;
    let headers = match v["framing"].as_str() {
        Some("guid-header") => {
            conf.schema_id_serializer = header_schema_id_serializer;
            Some(SerdeHeaders::new(Vec::new()))
        }
        _ => None,
    };
    let context = |topic: &str, format| SerializationContext {
        headers: headers.clone(),
        ..context(topic, format)
    };
    let plaintext = &v["plaintext"];
    let value = match str_field(v, "format")? {
        "AVRO" => {
            let value = avrojson::from_json(v, plaintext).map_err(Failure::plain)?;
            let ser = AvroSerializer::new(&s.sr, None, Some(s.rules.clone()), conf)?;
            ser.serialize(&context(&s.topic, SerdeFormat::Avro), value)
                .await?
        }
        "JSON" => {
            let ser = JsonSerializer::new(&s.sr, None, Some(s.rules.clone()), conf)?;
            ser.serialize(&context(&s.topic, SerdeFormat::Json), plaintext.clone())
                .await?
        }
        "PROTOBUF" => {
            let msg = protoraw::from_json(v, plaintext).map_err(Failure::plain)?;
            let ser = ProtobufSerializer::new(&s.sr, Some(s.rules.clone()), conf)?;
            let md = msg.descriptor();
            ser.serialize_with_message_desc(&context(&s.topic, SerdeFormat::Protobuf), &msg, &md)
                .await?
        }
        other => return Err(Failure::plain(format!("unknown format {other}"))),
    };
    let headers = headers
        .map(|h| h.headers.lock().unwrap().clone())
        .unwrap_or_default();
    Ok(Written { value, headers })
}

fn hex_decode(s: &str) -> Result<Vec<u8>, String> {
    if s.len() % 2 != 0 {
        return Err("odd-length hex".into());
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).map_err(|e| e.to_string()))
        .collect()
}

fn hex_encode(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn failure_json(f: Failure) -> Value {
    let mut e = json!({ "message": f.message });
    if let Some(c) = f.class {
        e["class"] = json!(c);
    }
    json!({ "error": e })
}

async fn answer(req: &Value) -> Value {
    match req["op"].as_str() {
        Some("capabilities") => json!({
            "name": "rust",
            "implementation": "schema-registry-client 0.4.2 (Rust)",
            "formats": ["AVRO", "JSON", "PROTOBUF"],
            "algorithms": ["AES128_GCM", "AES256_GCM", "AES256_SIV"],
            "kms": ["local-kms"],
            "errorClasses": ERROR_CLASSES,
            "ops": ["read", "write"],
            "framings": ["id", "guid", "guid-header"],
        }),
        Some("read") => match read(&req["vector"]).await {
            Ok(p) => json!({ "plaintext": p }),
            Err(f) => failure_json(f),
        },
        Some("write") => match write(&req["vector"]).await {
            Ok(w) if w.headers.is_empty() => json!({ "serialized": hex_encode(&w.value) }),
            Ok(w) => json!({
                "serialized": hex_encode(&w.value),
                "headers": w.headers.iter().map(|h| json!({
                    "key": h.key,
                    "value": hex_encode(h.value.as_deref().unwrap_or_default()),
                })).collect::<Vec<_>>(),
            }),
            Err(f) => failure_json(f),
        },
        other => failure_json(Failure::plain(format!("unknown op {other:?}"))),
    }
}

fn read_frame(r: &mut impl Read) -> std::io::Result<Option<Vec<u8>>> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let mut buf = vec![0u8; u32::from_le_bytes(len) as usize];
    r.read_exact(&mut buf)?;
    Ok(Some(buf))
}

fn write_frame(w: &mut impl Write, v: &Value) -> std::io::Result<()> {
    let b = serde_json::to_vec(v)?;
    w.write_all(&(b.len() as u32).to_le_bytes())?;
    w.write_all(&b)?;
    w.flush()
}

/// A panic's message without the value prost-reflect puts in it (a field
/// value must not reach logs).
fn panic_message(msg: &str) -> String {
    match msg.find(", value: ") {
        Some(i) => format!("{}, value: <not shown> }}", &msg[..i]),
        None => msg.to_string(),
    }
}

fn main() {
    // Panics in the crate are answered as failures; one line on stderr each.
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| info.payload().downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        let at = info.location().map(|l| l.to_string()).unwrap_or_default();
        eprintln!("rust testee: panic at {at}: {}", panic_message(&msg));
    }));
    LocalKmsDriver::register();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let mut stdin = std::io::stdin().lock();
    let mut stdout = std::io::stdout().lock();
    loop {
        let frame = match read_frame(&mut stdin) {
            Ok(Some(f)) => f,
            Ok(None) => return,
            Err(e) => {
                eprintln!("rust testee: reading a frame: {e}");
                std::process::exit(1);
            }
        };
        let resp = match serde_json::from_slice::<Value>(&frame) {
            Ok(req) => {
                // A panic in the crate is a failure of this vector, not of the run.
                let fut = answer(&req);
                match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| rt.block_on(fut))) {
                    Ok(r) => r,
                    Err(p) => {
                        let msg = p
                            .downcast_ref::<String>()
                            .cloned()
                            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                            .unwrap_or_default();
                        failure_json(Failure::plain(format!("panic: {}", panic_message(&msg))))
                    }
                }
            }
            Err(e) => failure_json(Failure::plain(format!("bad request: {e}"))),
        };
        if let Err(e) = write_frame(&mut stdout, &resp) {
            eprintln!("rust testee: writing a frame: {e}");
            std::process::exit(1);
        }
    }
}
