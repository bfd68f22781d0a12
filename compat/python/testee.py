"""A `tagseal conformance` testee over Confluent's Python CSFLE client.

It answers the harness's frames on stdin/stdout (testvectors/SPEC.md §10):
a read deserializes the vector's bytes with confluent-kafka's
Avro/JSON/Protobuf deserializers and returns the plaintext in the vector's
JSON conventions; a write serializes the vector's plaintext and returns the
record. Every request gets fresh in-memory Schema and DEK Registries (a
mock:// URL of its own) loaded from the vector, and local KMS clients are
reset. The harness compares; this file only answers. Known disagreements:
compat/python/failures.txt (evidence in SPEC §8).

Usage: python testee.py   (stdout carries only frames; logs go to stderr)
"""

import base64
import contextlib
import io
import itertools
import struct
import json
import os
import sys
import traceback
import types
import uuid

from confluent_kafka.schema_registry import Schema, SchemaReference
from confluent_kafka.schema_registry.schema_registry_client import Metadata, RuleSet
from confluent_kafka.schema_registry.common.schema_registry_client import MetadataTags
from confluent_kafka.schema_registry import header_schema_id_serializer
from confluent_kafka.schema_registry._sync import mock_schema_registry_client as _mock_sr
from confluent_kafka.schema_registry._sync.mock_schema_registry_client import MockSchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.json_schema import JSONDeserializer, JSONSerializer
from confluent_kafka.schema_registry.protobuf import ProtobufDeserializer, ProtobufSerializer
from confluent_kafka.schema_registry.rule_registry import RuleRegistry
from confluent_kafka.schema_registry.rules.encryption.dek_registry.dek_registry_client import DekAlgorithm
from confluent_kafka.schema_registry.rules.encryption.dek_registry.mock_dek_registry_client import (
    MockDekRegistryClient,
)
from confluent_kafka.schema_registry.rules.encryption.encrypt_executor import (
    EncryptionExecutor,
    FieldEncryptionExecutor,
)
from confluent_kafka.schema_registry.rules.encryption.localkms.local_driver import LocalKmsDriver
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext, SerializationError
import fastavro
import fastavro.json_read
import fastavro.json_write
from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory
from tink import _kms_clients


def _hash_metadata_tags(self):
    return hash(frozenset((k, tuple(v)) for k, v in self.tags.items()))


# Shim for a Confluent Python bug outside CSFLE proper: MetadataTags.__hash__
# hashes its list values, so any schema with metadata.tags raises
# "TypeError: unhashable type: 'list'" when a registry client caches it.
# Patched so that the metadata-tags vectors test the field encryption; the
# testee says so on stderr (SPEC §8.3).
MetadataTags.__hash__ = _hash_metadata_tags
SHIM = "MetadataTags.__hash__ hashes list values (TypeError on any schema with metadata.tags): patched"

LocalKmsDriver.register()
_SEQ = itertools.count()


@contextlib.contextmanager
def _vector_guid(guid):
    """Makes the mock registry give the schema registered inside the vector's
    GUID (it draws a random one with uuid.uuid4; GUID framings name the
    schema by the vector's)."""
    if not guid:
        yield
        return
    real = _mock_sr.uuid
    _mock_sr.uuid = types.SimpleNamespace(uuid4=lambda: uuid.UUID(guid))
    try:
        yield
    finally:
        _mock_sr.uuid = real


class Registries:
    """Fresh in-memory Schema and DEK Registries loaded from one vector."""

    def __init__(self, v, secret=None):
        # Tink keeps KMS clients (and so the local-kms secret) per key URI,
        # process-wide: forget the previous vector's.
        _kms_clients.reset_kms_clients()
        conf = {"url": f"mock://tagseal-vector-{next(_SEQ)}"}
        self.conf = conf
        self.sr = MockSchemaRegistryClient(conf)
        self.deks = MockDekRegistryClient(conf)
        self.secret = secret if secret is not None else v["localKmsSecret"]
        self.pool = None
        if v["format"] == "PROTOBUF":
            self.pool, self.files = proto_pool(v)
        for s in v["schemas"]:
            with _vector_guid(s.get("guid")):
                sid = self.sr.register_schema(s["subject"], self.schema(v, s))
            if sid != s["id"]:
                raise AssertionError(f"registered {s['subject']} as id {sid}, the vector says {s['id']}")
        for k in v["keks"]:
            self.deks.register_kek(k["name"], k["kmsType"], k["kmsKeyId"], k["shared"])
        for d in v["deks"]:
            self.deks.register_dek(
                d["kekName"], d["subject"], d["encryptedKeyMaterial"], DekAlgorithm(d["algorithm"]), d["version"]
            )

    def schema(self, v, s):
        text = s["schema"]
        if v["format"] == "PROTOBUF":
            # The registry's "serialized" form: a base64 FileDescriptorProto.
            text = base64.b64encode(self.files[proto_file_name(v, s)].SerializeToString()).decode()
        refs = [SchemaReference(r["name"], r["subject"], r["version"]) for r in s.get("references") or []]
        metadata = Metadata.from_dict(s["metadata"]) if s.get("metadata") else None
        rule_set = RuleSet.from_dict(s["ruleSet"]) if s.get("ruleSet") else None
        return Schema(text, s["schemaType"], refs, metadata, rule_set)

    def rules(self):
        """A rule registry whose executors use this vector's DEK Registry."""
        field = FieldEncryptionExecutor()
        field.executor.client = self.deks
        payload = EncryptionExecutor()
        payload.client = self.deks
        registry = RuleRegistry()
        registry.register_executor(field)
        registry.register_executor(payload)
        return registry

    def rule_conf(self):
        return {"secret": self.secret}


def proto_file_name(v, s):
    if s is v["schemas"][-1]:
        return "tagseal-root.proto"
    for other in v["schemas"]:
        for r in other.get("references") or []:
            if r["subject"] == s["subject"]:
                return r["name"]
    raise KeyError(s["subject"])


def proto_pool(v):
    fds = descriptor_pb2.FileDescriptorSet.FromString(base64.b64decode(v["protoDescriptorSet"]))
    pool = descriptor_pool.DescriptorPool()
    files = {}
    for f in fds.file:
        pool.Add(f)
        files[f.name] = f
    return pool, files


def proto_class(v, pool):
    fd = pool.FindFileByName("tagseal-root.proto")
    idx = v["messageIndexes"]
    # message_types_by_name keeps declaration order.
    md = list(fd.message_types_by_name.values())[idx[0]]
    for i in idx[1:]:
        md = md.nested_types[i]
    return message_factory.GetMessageClass(md)


def avro_named(v):
    named = {}
    parsed = None
    for s in v["schemas"]:
        parsed = fastavro.parse_schema(json.loads(s["schema"]), named_schemas=named)
    return parsed, named


def expected(v, regs):
    """The vector's plaintext as the value Confluent's Python serializer takes."""
    fmt = v["format"]
    text = json.dumps(v["plaintext"])
    if fmt == "AVRO":
        parsed, _ = avro_named(v)
        return next(iter(fastavro.json_read.json_reader(io.StringIO(text), parsed)))
    if fmt == "JSON":
        return v["plaintext"]
    cls = proto_class(v, regs.pool)
    return json_format.Parse(text, cls())


def context(v, headers=None):
    """The serialization context; headers are the record's (guid-header framing)."""
    if headers is None and v.get("headers"):
        headers = [(h["key"], bytes.fromhex(h["value"])) for h in v["headers"]]
    return SerializationContext(v["topic"], MessageField.VALUE, headers)


SERDE_CONF = {"subject.name.strategy.type": "TOPIC"}


def read(v, regs):
    fmt = v["format"]
    args = dict(rule_conf=regs.rule_conf(), rule_registry=regs.rules())
    if fmt == "AVRO":
        d = AvroDeserializer(regs.sr, conf=dict(SERDE_CONF), **args)
    elif fmt == "JSON":
        d = JSONDeserializer(None, schema_registry_client=regs.sr, conf=dict(SERDE_CONF), **args)
    else:
        d = ProtobufDeserializer(proto_class(v, regs.pool), dict(SERDE_CONF), schema_registry_client=regs.sr, **args)
    return d(bytes.fromhex(v["serialized"]), context(v))


def write(v, regs):
    fmt = v["format"]
    record = v["schemas"][-1]
    conf = dict(SERDE_CONF, **{"auto.register.schemas": False, "use.schema.id": record["id"]})
    headers = []
    if v.get("framing") == "guid-header":
        conf["schema.id.serializer"] = header_schema_id_serializer
    args = dict(conf=conf, rule_conf=regs.rule_conf(), rule_registry=regs.rules())
    value = expected(v, regs)
    if fmt == "AVRO":
        s = AvroSerializer(regs.sr, regs.schema(v, record), **args)
    elif fmt == "JSON":
        s = JSONSerializer(regs.schema(v, record), regs.sr, **args)
    else:
        s = ProtobufSerializer(type(value), regs.sr, **args)
    return s(value, context(v, headers)), headers


def plaintext_json(v, regs, got):
    """A deserialized record in the vector's JSON conventions (SPEC §9)."""
    fmt = v["format"]
    if fmt == "AVRO":
        parsed, _ = avro_named(v)
        buf = io.StringIO()
        fastavro.json_writer(buf, parsed, [got])
        return json.loads(buf.getvalue())
    if fmt == "JSON":
        return got
    return json_format.MessageToDict(got)


# SPEC §7 classes this testee reports: only failures Confluent's Python
# client tells apart by exception type and message.
ERROR_CLASSES = ["ErrUnknownMagicByte", "ErrSchemaNotFound"]


def classify(e):
    if isinstance(e, SchemaRegistryError) and e.http_status_code == 404 and e.error_code in (40400, 40403):
        return "ErrSchemaNotFound"
    if isinstance(e, SerializationError) and "Invalid magic byte" in str(e):
        return "ErrUnknownMagicByte"
    return None


def failure(e):
    err = {"message": f"{type(e).__name__}: {e}"}
    cls = classify(e)
    if cls:
        err["class"] = cls
    return {"error": err}


def answer(req):
    op = req.get("op")
    if op == "capabilities":
        return {
            "name": "python",
            "formats": ["AVRO", "JSON", "PROTOBUF"],
            "algorithms": ["AES128_GCM", "AES256_GCM", "AES256_SIV"],
            "kms": ["local-kms"],
            "errorClasses": ERROR_CLASSES,
            "ops": ["read", "write"],
            "framings": ["id", "guid", "guid-header"],
        }
    v = req["vector"]
    try:
        regs = Registries(v)
        if op == "read":
            return {"plaintext": plaintext_json(v, regs, read(v, regs))}
        if op == "write":
            payload, headers = write(v, regs)
            out = {"serialized": payload.hex()}
            if headers:
                out["headers"] = [{"key": k, "value": bytes(val).hex()} for k, val in headers]
            return out
        return {"error": {"message": f"unknown op {op!r}"}}
    except Exception as e:  # noqa: BLE001 - every failure is an answer
        if os.environ.get("VERBOSE"):
            traceback.print_exc()
        return failure(e)


def main():
    frames_in, frames_out = sys.stdin.buffer, sys.stdout.buffer
    # stdout carries only frames: anything the libraries print goes to stderr.
    sys.stdout = sys.stderr
    print(f"python testee: SHIM (Confluent defect worked around) {SHIM}", file=sys.stderr)
    while True:
        head = frames_in.read(4)
        if len(head) < 4:
            return
        (n,) = struct.unpack("<I", head)
        req = json.loads(frames_in.read(n))
        body = json.dumps(answer(req)).encode()
        frames_out.write(struct.pack("<I", len(body)) + body)
        frames_out.flush()


if __name__ == "__main__":
    main()
