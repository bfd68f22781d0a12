//! Protobuf glue: the vector's descriptors (`protoDescriptorSet`), the
//! registry's "serialized" schema form, and proto3 JSON plaintext.

use base64::Engine;
use base64::prelude::BASE64_STANDARD;
use prost::Message;
use prost::bytes::{Buf, BufMut};
use prost::encoding::{
    DecodeContext, WireType, decode_key, decode_varint, encode_key, encode_varint,
};
use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor};
use serde_json::Value;
use std::collections::HashMap;

fn descriptor_set(v: &Value) -> Result<Vec<u8>, String> {
    let b64 = v["protoDescriptorSet"]
        .as_str()
        .ok_or("vector has no protoDescriptorSet")?;
    BASE64_STANDARD
        .decode(b64)
        .map_err(|e| format!("protoDescriptorSet: {e}"))
}

/// Each file of the vector's descriptor set, by name, as the registry
/// serves it: base64 of its FileDescriptorProto, byte for byte (decoding
/// it with prost-types would drop the `confluent.field_meta` options, which
/// it keeps as unknown fields).
pub fn files(v: &Value) -> Result<HashMap<String, String>, String> {
    let set = descriptor_set(v)?;
    let mut out = HashMap::new();
    for file in length_delimited(&set, 1)? {
        let name = length_delimited(file, 1)?
            .pop()
            .ok_or("a file without a name")?;
        out.insert(
            String::from_utf8_lossy(name).into_owned(),
            BASE64_STANDARD.encode(file),
        );
    }
    Ok(out)
}

/// The values of the length-delimited field `want` in an encoded message.
fn length_delimited(mut buf: &[u8], want: u32) -> Result<Vec<&[u8]>, String> {
    let mut out = Vec::new();
    while !buf.is_empty() {
        let (tag, wire_type) = decode_key(&mut buf).map_err(|e| e.to_string())?;
        let n = match wire_type {
            WireType::Varint => {
                decode_varint(&mut buf).map_err(|e| e.to_string())?;
                continue;
            }
            WireType::SixtyFourBit => 8,
            WireType::ThirtyTwoBit => 4,
            WireType::LengthDelimited => {
                decode_varint(&mut buf).map_err(|e| e.to_string())? as usize
            }
            _ => return Err("groups are not supported".into()),
        };
        if buf.len() < n {
            return Err("truncated descriptor".into());
        }
        if tag == want && wire_type == WireType::LengthDelimited {
            out.push(&buf[..n]);
        }
        buf = &buf[n..];
    }
    Ok(out)
}

/// The file name of the vector's i-th schema: the record's is
/// `tagseal-root.proto`, a reference's is the name it is imported by.
pub fn file_name(v: &Value, i: usize) -> Result<String, String> {
    let schemas = v["schemas"].as_array().ok_or("vector has no schemas")?;
    if i + 1 == schemas.len() {
        return Ok("tagseal-root.proto".into());
    }
    let subject = &schemas[i]["subject"];
    for s in schemas {
        for r in s["references"].as_array().into_iter().flatten() {
            if &r["subject"] == subject {
                return Ok(r["name"].as_str().unwrap_or_default().to_string());
            }
        }
    }
    Err(format!("no reference names subject {subject}"))
}

/// The record's message descriptor (the vector's `messageIndexes`).
fn record_descriptor(v: &Value) -> Result<MessageDescriptor, String> {
    let pool = DescriptorPool::decode(descriptor_set(v)?.as_slice())
        .map_err(|e| format!("descriptors: {e}"))?;
    let file = pool
        .get_file_by_name("tagseal-root.proto")
        .ok_or("no tagseal-root.proto")?;
    let idx: Vec<usize> = v["messageIndexes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i.as_u64())
        .map(|i| i as usize)
        .collect();
    let first = *idx.first().ok_or("no messageIndexes")?;
    let mut md = file
        .messages()
        .nth(first)
        .ok_or("message index out of range")?;
    for &i in &idx[1..] {
        let child = md
            .child_messages()
            .nth(i)
            .ok_or("message index out of range")?;
        md = child;
    }
    Ok(md)
}

/// A deserialized record as proto3 JSON.
pub fn to_json(v: &Value, encoded: &[u8]) -> Result<Value, String> {
    let msg = DynamicMessage::decode(record_descriptor(v)?, encoded)
        .map_err(|e| format!("re-decode: {e}"))?;
    serde_json::to_value(&msg).map_err(|e| format!("proto3 JSON: {e}"))
}

/// The vector's proto3 JSON plaintext as a message of the record's type.
pub fn from_json(v: &Value, plaintext: &Value) -> Result<DynamicMessage, String> {
    DynamicMessage::deserialize(record_descriptor(v)?, plaintext.clone())
        .map_err(|e| format!("plaintext: {e}"))
}

/// A message kept as its encoding: what the crate's deserializer, which
/// wants a generated (`Default`) type, transcodes the record into.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RawMessage(pub Vec<u8>);

impl Message for RawMessage {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        buf.put_slice(&self.0);
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        _ctx: DecodeContext,
    ) -> Result<(), prost::DecodeError> {
        encode_key(tag, wire_type, &mut self.0);
        let n = match wire_type {
            WireType::Varint => {
                let x = decode_varint(buf)?;
                encode_varint(x, &mut self.0);
                return Ok(());
            }
            WireType::SixtyFourBit => 8,
            WireType::ThirtyTwoBit => 4,
            WireType::LengthDelimited => {
                let len = decode_varint(buf)?;
                encode_varint(len, &mut self.0);
                len as usize
            }
            WireType::StartGroup | WireType::EndGroup => {
                #[allow(deprecated)]
                return Err(prost::DecodeError::new("groups are not supported"));
            }
        };
        if buf.remaining() < n {
            #[allow(deprecated)]
            return Err(prost::DecodeError::new("buffer underflow"));
        }
        let mut field = vec![0u8; n];
        buf.copy_to_slice(&mut field);
        self.0.extend_from_slice(&field);
        Ok(())
    }

    fn encoded_len(&self) -> usize {
        self.0.len()
    }

    fn clear(&mut self) {
        self.0.clear();
    }
}
