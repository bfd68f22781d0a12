#!/usr/bin/env python3
"""A minimal tagseal conformance testee: reads JSON Schema records whose tagged properties are
top-level strings under AES-GCM local-kms rules, and skips everything else. Needs `cryptography`."""
import base64, json, struct, sys
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

class Fail(Exception): pass  # args: (SPEC §7 class, message)

def decrypt(v, params, text):
    try: raw = base64.b64decode(text, validate=True)
    except ValueError: raise Fail("ErrInvalidCiphertext", "not base64")
    version = 1
    if int(params.get("encrypt.dek.expiry.days", "0")) > 0:  # 00 + 4-byte DEK version prefix
        version, raw = struct.unpack(">I", raw[1:5])[0], raw[5:]
    dek = next((d for d in v["deks"] if d["kekName"] == params["encrypt.kek.name"] and d["version"] == version), None)
    if dek is None: raise Fail("ErrDEKNotFound", f"no DEK version {version}")
    kek = HKDF(hashes.SHA256(), 16, None, None).derive(v["localKmsSecret"].encode())
    wrapped = base64.b64decode(dek["encryptedKeyMaterial"])
    try: key = AESGCM(kek).decrypt(wrapped[:12], wrapped[12:], None)[2:]  # AesGcmKey proto: 1a LEN key
    except Exception: raise Fail("ErrDEKUnwrapFailed", "cannot unwrap the DEK")
    if len(raw) < 28: raise Fail("ErrInvalidCiphertext", "shorter than nonce + tag")
    try: return AESGCM(key).decrypt(raw[:12], raw[12:], None).decode()
    except Exception: raise Fail("ErrDecryptionFailed", "authentication failed")

def read(v):
    data = bytes.fromhex(v["serialized"])
    if len(data) < 5: raise Fail("ErrShortPayload", "shorter than the frame")
    if data[0] != 0: raise Fail("ErrUnknownMagicByte", f"magic byte {data[0]}")
    schema = next((s for s in v["schemas"] if s["id"] == struct.unpack(">I", data[1:5])[0]), None)
    if schema is None: raise Fail("ErrSchemaNotFound", "unknown schema id")
    props, rules = json.loads(schema["schema"]).get("properties", {}), schema.get("ruleSet") or {}
    tagged = {n: set(p.get("confluent:tags", [])) for n, p in props.items() if "confluent:tags" in p}
    if schema["schema"].count("confluent:tags") != len(tagged) or rules.get("encodingRules") or schema.get("metadata"):
        return {"skipped": "tags below the top level, metadata tags or payload encryption"}
    try: doc = json.loads(data[5:])
    except ValueError: raise Fail("ErrMalformedPayload", "not a JSON document")
    for rule in rules.get("domainRules", []):
        for name, tags in tagged.items():
            if tags & set(rule.get("tags", [])) and isinstance(doc.get(name), str):
                doc[name] = decrypt(v, rule["params"], doc[name])
    return {"plaintext": doc}

def answer(req):
    if req["op"] == "capabilities":
        return {"name": "minimal-python", "formats": ["JSON"], "algorithms": ["AES128_GCM", "AES256_GCM"], "kms": ["local-kms"],
                "errorClasses": ["ErrShortPayload", "ErrUnknownMagicByte", "ErrSchemaNotFound", "ErrMalformedPayload",
                                 "ErrInvalidCiphertext", "ErrDEKNotFound", "ErrDEKUnwrapFailed", "ErrDecryptionFailed"],
                "ops": ["read"], "framings": ["id"]}
    try: return read(req["vector"])
    except Fail as e: return {"error": {"class": e.args[0], "message": e.args[1]}}

while head := sys.stdin.buffer.read(4):  # frames: 4-byte little-endian length, then UTF-8 JSON
    body = json.dumps(answer(json.loads(sys.stdin.buffer.read(struct.unpack("<I", head)[0])))).encode()
    sys.stdout.buffer.write(struct.pack("<I", len(body)) + body)
    sys.stdout.buffer.flush()
