//! The vector's plaintext form for Avro (SPEC §9): Avro's JSON encoding —
//! unions as `{"branch": value}` (null as null), bytes and fixed as one
//! U+0000–U+00FF character per byte — to and from `apache_avro` values,
//! guided by the vector's record schema (references parsed with it).

use apache_avro::Schema;
use apache_avro::types::Value as Avro;
use serde_json::{Map, Value as Json};
use std::collections::HashMap;

/// Named types of the vector's schemas by full name, and the record schema.
struct Schemas {
    named: HashMap<String, Schema>,
    record: Schema,
}

fn parse(v: &Json) -> Result<Schemas, String> {
    let texts: Vec<String> = v["schemas"]
        .as_array()
        .ok_or("vector has no schemas")?
        .iter()
        .map(|s| s["schema"].as_str().unwrap_or_default().to_string())
        .collect();
    let parsed = Schema::parse_list(&texts).map_err(|e| format!("parse Avro schemas: {e}"))?;
    let mut named = HashMap::new();
    for s in &parsed {
        collect(s, &mut named);
    }
    let record = parsed.last().cloned().ok_or("no record schema")?;
    Ok(Schemas { named, record })
}

fn collect(s: &Schema, named: &mut HashMap<String, Schema>) {
    match s {
        Schema::Record(r) => {
            if named.insert(r.name.fullname(None), s.clone()).is_none() {
                for f in &r.fields {
                    collect(&f.schema, named);
                }
            }
        }
        Schema::Enum(e) => {
            named.insert(e.name.fullname(None), s.clone());
        }
        Schema::Fixed(f) => {
            named.insert(f.name.fullname(None), s.clone());
        }
        Schema::Array(a) => collect(&a.items, named),
        Schema::Map(m) => collect(&m.types, named),
        Schema::Union(u) => {
            for b in u.variants() {
                collect(b, named);
            }
        }
        _ => {}
    }
}

impl Schemas {
    fn resolve<'a>(&'a self, s: &'a Schema) -> Result<&'a Schema, String> {
        match s {
            Schema::Ref { name } => self
                .named
                .get(&name.fullname(None))
                .ok_or_else(|| format!("unknown type {}", name.fullname(None))),
            _ => Ok(s),
        }
    }

    /// The branch name of a union member in the JSON encoding.
    fn branch_name(&self, s: &Schema) -> Result<String, String> {
        Ok(match self.resolve(s)? {
            Schema::Null => "null".into(),
            Schema::Boolean => "boolean".into(),
            Schema::Int => "int".into(),
            Schema::Long => "long".into(),
            Schema::Float => "float".into(),
            Schema::Double => "double".into(),
            Schema::Bytes => "bytes".into(),
            Schema::String => "string".into(),
            Schema::Array(_) => "array".into(),
            Schema::Map(_) => "map".into(),
            Schema::Record(r) => r.name.fullname(None),
            Schema::Enum(e) => e.name.fullname(None),
            Schema::Fixed(f) => f.name.fullname(None),
            other => return Err(format!("unsupported union branch {other:?}")),
        })
    }
}

fn latin1(b: &[u8]) -> Json {
    Json::String(b.iter().map(|&c| c as char).collect())
}

fn from_latin1(j: &Json) -> Result<Vec<u8>, String> {
    let s = j.as_str().ok_or("bytes: want a string")?;
    s.chars()
        .map(|c| u8::try_from(c as u32).map_err(|_| "bytes: character above U+00FF".to_string()))
        .collect()
}

/// The deserialized record in the vector's plaintext form.
pub fn to_json(v: &Json, value: &Avro) -> Result<Json, String> {
    let s = parse(v)?;
    encode(&s, &s.record, value)
}

fn encode(s: &Schemas, schema: &Schema, value: &Avro) -> Result<Json, String> {
    let schema = s.resolve(schema)?;
    Ok(match (schema, value) {
        (Schema::Union(u), Avro::Union(i, inner)) => {
            let branch = u
                .variants()
                .get(*i as usize)
                .ok_or("union index out of range")?;
            if matches!(branch, Schema::Null) {
                Json::Null
            } else {
                let mut m = Map::new();
                m.insert(s.branch_name(branch)?, encode(s, branch, inner)?);
                Json::Object(m)
            }
        }
        (_, Avro::Null) => Json::Null,
        (_, Avro::Boolean(b)) => Json::Bool(*b),
        (_, Avro::Int(n)) => Json::from(*n),
        (_, Avro::Long(n)) => Json::from(*n),
        (_, Avro::Float(f)) => Json::from(*f as f64),
        (_, Avro::Double(f)) => Json::from(*f),
        (_, Avro::String(t)) => Json::String(t.clone()),
        (_, Avro::Bytes(b)) | (_, Avro::Fixed(_, b)) => latin1(b),
        (_, Avro::Enum(_, sym)) => Json::String(sym.clone()),
        (Schema::Array(a), Avro::Array(items)) => Json::Array(
            items
                .iter()
                .map(|x| encode(s, &a.items, x))
                .collect::<Result<_, _>>()?,
        ),
        (Schema::Map(m), Avro::Map(entries)) => {
            let mut out = Map::new();
            for (k, x) in entries {
                out.insert(k.clone(), encode(s, &m.types, x)?);
            }
            Json::Object(out)
        }
        (Schema::Record(r), Avro::Record(fields)) => {
            let mut out = Map::new();
            for (f, (name, x)) in r.fields.iter().zip(fields) {
                out.insert(name.clone(), encode(s, &f.schema, x)?);
            }
            Json::Object(out)
        }
        (schema, value) => {
            return Err(format!(
                "value {} does not fit schema {}",
                kind(value),
                kind_schema(schema)
            ));
        }
    })
}

/// The vector's plaintext as an Avro value of the record schema.
pub fn from_json(v: &Json, plaintext: &Json) -> Result<Avro, String> {
    let s = parse(v)?;
    decode(&s, &s.record, plaintext)
}

fn decode(s: &Schemas, schema: &Schema, j: &Json) -> Result<Avro, String> {
    let schema = s.resolve(schema)?;
    let bad = || format!("plaintext {j} does not fit {}", kind_schema(schema));
    Ok(match schema {
        Schema::Null => {
            if !j.is_null() {
                return Err(bad());
            }
            Avro::Null
        }
        Schema::Boolean => Avro::Boolean(j.as_bool().ok_or_else(bad)?),
        Schema::Int => Avro::Int(
            j.as_i64()
                .and_then(|n| i32::try_from(n).ok())
                .ok_or_else(bad)?,
        ),
        Schema::Long => Avro::Long(j.as_i64().ok_or_else(bad)?),
        Schema::Float => Avro::Float(j.as_f64().ok_or_else(bad)? as f32),
        Schema::Double => Avro::Double(j.as_f64().ok_or_else(bad)?),
        Schema::String => Avro::String(j.as_str().ok_or_else(bad)?.to_string()),
        Schema::Bytes => Avro::Bytes(from_latin1(j)?),
        Schema::Fixed(f) => Avro::Fixed(f.size, from_latin1(j)?),
        Schema::Enum(e) => {
            let sym = j.as_str().ok_or_else(bad)?;
            let i = e.symbols.iter().position(|x| x == sym).ok_or_else(bad)?;
            Avro::Enum(i as u32, sym.to_string())
        }
        Schema::Array(a) => Avro::Array(
            j.as_array()
                .ok_or_else(bad)?
                .iter()
                .map(|x| decode(s, &a.items, x))
                .collect::<Result<_, _>>()?,
        ),
        Schema::Map(m) => {
            let mut out = HashMap::new();
            for (k, x) in j.as_object().ok_or_else(bad)? {
                out.insert(k.clone(), decode(s, &m.types, x)?);
            }
            Avro::Map(out)
        }
        Schema::Record(r) => {
            let obj = j.as_object().ok_or_else(bad)?;
            let mut fields = Vec::with_capacity(r.fields.len());
            for f in &r.fields {
                let x = obj.get(&f.name).unwrap_or(&Json::Null);
                fields.push((f.name.clone(), decode(s, &f.schema, x)?));
            }
            Avro::Record(fields)
        }
        Schema::Union(u) => {
            if j.is_null() {
                let i = u
                    .variants()
                    .iter()
                    .position(|b| matches!(b, Schema::Null))
                    .ok_or_else(bad)?;
                Avro::Union(i as u32, Box::new(Avro::Null))
            } else {
                let obj = j.as_object().filter(|o| o.len() == 1).ok_or_else(bad)?;
                let (name, x) = obj.iter().next().unwrap();
                let mut found = None;
                for (i, b) in u.variants().iter().enumerate() {
                    if &s.branch_name(b)? == name {
                        found = Some((i, b));
                        break;
                    }
                }
                let (i, b) = found.ok_or_else(bad)?;
                Avro::Union(i as u32, Box::new(decode(s, b, x)?))
            }
        }
        _ => return Err(format!("unsupported Avro type {}", kind_schema(schema))),
    })
}

fn kind(v: &Avro) -> String {
    format!("{:?}", std::mem::discriminant(v))
}

fn kind_schema(s: &Schema) -> String {
    format!("{:?}", apache_avro::schema::SchemaKind::from(s))
}
