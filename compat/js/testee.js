// A `tagseal conformance` testee over Confluent's JS CSFLE client
// (@confluentinc/schemaregistry).
//
// It answers the harness's frames on stdin/stdout (testvectors/SPEC.md
// §10): a read deserializes the vector's bytes with the client's
// Avro/JSON/Protobuf deserializers and returns the plaintext in the
// vector's JSON conventions; a write serializes the vector's plaintext and
// returns the record. Every request gets fresh in-memory Schema and DEK
// Registries (a mock:// URL of its own) loaded from the vector. The harness
// compares; this file only answers. Known disagreements:
// compat/js/failures.txt (evidence in SPEC §8).
//
// Usage: node testee.js   (stdout carries only frames; logs go to stderr)
'use strict';

const avsc = require('avsc');
const pb = require('@bufbuild/protobuf');
const wkt = require('@bufbuild/protobuf/wkt');
const sr = require('@confluentinc/schemaregistry');
const { MockDekRegistryClient } = require('@confluentinc/schemaregistry/dist/rules/encryption/dekregistry/mock-dekregistry-client');
const { MOCK_TS } = require('@confluentinc/schemaregistry/dist/rules/encryption/dekregistry/constants');

// stdout carries only frames: anything the libraries log goes to stderr.
const frameOut = process.stdout.write.bind(process.stdout);
process.stdout.write = process.stderr.write.bind(process.stderr);
for (const level of ['log', 'info', 'warn', 'debug']) console[level] = console.error;

// The mock DEK Registry stamps every DEK with the fixed time MOCK_TS (1970);
// with the real clock a rotating rule would find every DEK expired and mint
// a new one per value. The executors' clock is set to that time instead.
const mockClock = { now: () => MOCK_TS };

sr.LocalKmsDriver.register();

let vectorSeq = 0;

// Fresh in-memory registries holding one vector's schemas, KEKs and DEKs.
async function registries(v) {
  sr.clearKmsClients(); // KMS clients (and the local secret) are cached per key URI, process-wide
  const conf = { baseURLs: [`mock://tagseal-vector-${vectorSeq++}`], cacheCapacity: 1000 };
  const client = new sr.MockClient(conf);
  const deks = new MockDekRegistryClient(conf);
  const files = v.format === 'PROTOBUF' ? protoFiles(v) : null;
  for (const s of v.schemas) {
    const info = schemaInfo(v, s, files);
    const id = await client.register(s.subject, info);
    if (id !== s.id) throw new Error(`registered ${s.subject} as id ${id}, the vector says ${s.id}`);
    if (s.guid) await useGuid(client, s.subject, info, s.guid);
  }
  for (const k of v.keks) await deks.registerKek(k.name, k.kmsType, k.kmsKeyId, k.shared);
  for (const d of v.deks) await deks.registerDek(d.kekName, d.subject, d.algorithm, d.version, d.encryptedKeyMaterial);
  const field = new sr.FieldEncryptionExecutor(mockClock);
  field.executor.client = deks;
  const payload = new sr.EncryptionExecutor(mockClock);
  payload.client = deks;
  const rules = new sr.RuleRegistry();
  rules.registerExecutor(field);
  rules.registerExecutor(payload);
  return { client, rules, files, serdeConf: { ruleConfig: { secret: v.localKmsSecret } } };
}

// useGuid gives a registered schema the vector's GUID: the mock client
// draws a random one, and GUID framings name the schema by it. It moves
// the mock's GUID index entry and the registration's metadata.
async function useGuid(client, subject, info, guid) {
  const metadata = await client.getIdFullResponse(subject, info);
  const entry = client.guidToSchemaCache.get(metadata.guid);
  client.guidToSchemaCache.delete(metadata.guid);
  client.guidToSchemaCache.set(guid, entry);
  metadata.guid = guid;
}

function schemaInfo(v, s, files) {
  let schema = s.schema;
  if (v.format === 'PROTOBUF') {
    // The registry's serialized form: a base64 FileDescriptorProto.
    const name = s === v.schemas[v.schemas.length - 1] ? 'tagseal-root.proto' : refName(v, s);
    schema = Buffer.from(pb.toBinary(wkt.FileDescriptorProtoSchema, files.byName[name])).toString('base64');
  }
  const info = { schemaType: s.schemaType, schema };
  if (s.references) info.references = s.references;
  if (s.metadata) info.metadata = s.metadata;
  if (s.ruleSet) info.ruleSet = s.ruleSet;
  return info;
}

function refName(v, s) {
  for (const other of v.schemas) {
    for (const r of other.references || []) if (r.subject === s.subject) return r.name;
  }
  throw new Error(`no reference names ${s.subject}`);
}

function protoFiles(v) {
  const set = pb.fromBinary(wkt.FileDescriptorSetSchema, Buffer.from(v.protoDescriptorSet, 'base64'));
  const byName = {};
  for (const f of set.file) byName[f.name] = f;
  const registry = pb.createFileRegistry(set);
  const root = registry.getFile('tagseal-root.proto');
  let desc = root.messages[v.messageIndexes[0]];
  for (const i of v.messageIndexes.slice(1)) desc = desc.nestedMessages[i];
  return { byName, registry, desc };
}

function avroType(v) {
  const registry = {};
  let type;
  for (const s of v.schemas) type = avsc.Type.forSchema(JSON.parse(s.schema), { registry });
  return type;
}

function deserializer(v, regs) {
  const args = [regs.client, sr.SerdeType.VALUE, regs.serdeConf, regs.rules];
  switch (v.format) {
    case 'AVRO': return new sr.AvroDeserializer(...args);
    case 'JSON': return new sr.JsonDeserializer(...args);
    default: return new sr.ProtobufDeserializer(...args);
  }
}

// plaintextJSON returns a deserialized record in the vector's JSON
// conventions (SPEC §9): Avro's JSON encoding, the document, proto3 JSON.
function plaintextJSON(v, regs, got) {
  switch (v.format) {
    case 'AVRO': return JSON.parse(avroType(v).toString(got));
    case 'JSON': return got;
    default: {
      // By encoding: the deserializer's message type comes from its own
      // descriptors, not this registry's.
      const desc = regs.files.desc;
      return pb.toJson(desc, pb.fromBinary(desc, pb.toBinary(desc, got)));
    }
  }
}

function plaintextValue(v, regs) {
  switch (v.format) {
    case 'AVRO': return avroType(v).fromString(JSON.stringify(v.plaintext));
    case 'JSON': return v.plaintext;
    default: return pb.fromJson(regs.files.desc, v.plaintext);
  }
}

async function write(v, regs) {
  const record = v.schemas[v.schemas.length - 1];
  const conf = { ...regs.serdeConf, autoRegisterSchemas: false, useSchemaId: record.id };
  const headers = {};
  if (v.framing === 'guid-header') conf.schemaIdSerializer = sr.HeaderSchemaIdSerializer;
  const args = [regs.client, sr.SerdeType.VALUE, conf, regs.rules];
  let s;
  switch (v.format) {
    case 'AVRO': s = new sr.AvroSerializer(...args); break;
    case 'JSON': s = new sr.JsonSerializer(...args); break;
    default:
      conf.registry = pb.createMutableRegistry(regs.files.registry);
      s = new sr.ProtobufSerializer(...args);
  }
  const value = await s.serialize(v.topic, plaintextValue(v, regs), headers);
  return { value, headers };
}

// recordHeaders returns the vector's record headers (guid-header framing)
// as the client's deserializers take them.
function recordHeaders(v) {
  if (!v.headers) return undefined;
  const out = {};
  for (const h of v.headers) out[h.key] = Buffer.from(h.value, 'hex');
  return out;
}


// SPEC §7 classes this testee reports: only failures the client tells
// apart by error type and message.
const ERROR_CLASSES = ['ErrUnknownMagicByte', 'ErrSchemaNotFound'];

function classify(e) {
  if (e instanceof sr.RestError && e.status === 404 && e.message.startsWith('Schema not found')) return 'ErrSchemaNotFound';
  if (e instanceof sr.SerializationError && e.message.startsWith('Unknown magic byte')) return 'ErrUnknownMagicByte';
  return null;
}

async function answer(req) {
  if (req.op === 'capabilities') {
    return {
      name: 'js',
      formats: ['AVRO', 'JSON', 'PROTOBUF'],
      algorithms: ['AES128_GCM', 'AES256_GCM', 'AES256_SIV'],
      kms: ['local-kms'],
      errorClasses: ERROR_CLASSES,
      ops: ['read', 'write'],
      framings: ['id', 'guid', 'guid-header'],
    };
  }
  const v = req.vector;
  try {
    const regs = await registries(v);
    if (req.op === 'read') {
      const got = await deserializer(v, regs).deserialize(v.topic, Buffer.from(v.serialized, 'hex'), recordHeaders(v));
      return { plaintext: plaintextJSON(v, regs, got) };
    }
    if (req.op === 'write') {
      const w = await write(v, regs);
      const out = { serialized: Buffer.from(w.value).toString('hex') };
      const keys = Object.keys(w.headers);
      if (keys.length) out.headers = keys.map((key) => ({ key, value: Buffer.from(w.headers[key]).toString('hex') }));
      return out;
    }
    return { error: { message: `unknown op ${req.op}` } };
  } catch (e) {
    if (process.env.VERBOSE) console.error(v.name, e);
    const error = { message: `${e && e.name}: ${e && e.message}` };
    const cls = classify(e);
    if (cls) error.class = cls;
    return { error };
  }
}

// Frames: a 4-byte little-endian length, then that many bytes of JSON.
async function main() {
  let buf = Buffer.alloc(0);
  for await (const chunk of process.stdin) {
    buf = Buffer.concat([buf, chunk]);
    while (buf.length >= 4 && buf.length >= 4 + buf.readUInt32LE(0)) {
      const n = buf.readUInt32LE(0);
      const req = JSON.parse(buf.subarray(4, 4 + n).toString('utf8'));
      buf = buf.subarray(4 + n);
      const body = Buffer.from(JSON.stringify(await answer(req)), 'utf8');
      const head = Buffer.alloc(4);
      head.writeUInt32LE(body.length, 0);
      frameOut(Buffer.concat([head, body]));
    }
  }
}

main().catch((e) => { console.error(e); process.exitCode = 1; });
