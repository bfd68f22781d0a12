package dev.tagseal.vectors;

import com.fasterxml.jackson.databind.JsonNode;
import com.google.crypto.tink.Aead;
import com.google.crypto.tink.DeterministicAead;
import com.google.crypto.tink.InsecureSecretKeyAccess;
import com.google.crypto.tink.KeysetHandle;
import com.google.crypto.tink.RegistryConfiguration;
import com.google.crypto.tink.TinkProtoKeysetFormat;
import com.google.crypto.tink.aead.AeadConfig;
import com.google.crypto.tink.daead.DeterministicAeadConfig;
import com.google.crypto.tink.proto.KeyData;
import com.google.crypto.tink.proto.KeyStatusType;
import com.google.crypto.tink.proto.Keyset;
import com.google.crypto.tink.proto.OutputPrefixType;
import com.google.crypto.tink.subtle.AesGcmJce;
import com.google.crypto.tink.subtle.Hkdf;
import com.google.protobuf.ByteString;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.util.Base64;
import java.util.HashMap;
import java.util.Map;

/**
 * KEKs and DEKs of one vector, and the field ciphertext layout (SPEC.md §5-6):
 * local-kms unwraps DEKs with AES-128-GCM under HKDF-SHA256(secret); a DEK is
 * a serialized Tink AesGcmKey or AesSivKey used through a RAW keyset; a
 * rotating rule prefixes 00 ‖ u32 version; strings travel as base64.
 */
final class Keys {
  private static final byte[] NO_AD = new byte[0];
  private static final int GCM_NONCE_AND_TAG = 12 + 16;

  static {
    try {
      AeadConfig.register();
      DeterministicAeadConfig.register();
    } catch (GeneralSecurityException e) {
      throw new ExceptionInInitializerError(e);
    }
  }

  private final String secret;
  private final JsonNode deks;
  private final Map<String, Object> primitives = new HashMap<>();

  Keys(JsonNode vector) {
    this.secret = vector.path("localKmsSecret").asText();
    this.deks = vector.path("deks");
  }

  /** Encrypts a field value (or a payload) under the rule's latest DEK. */
  byte[] seal(Rules.Rule rule, byte[] plaintext) throws VectorError {
    int version = latestVersion(rule);
    byte[] ct;
    try {
      Object p = primitive(rule, version);
      ct = p instanceof Aead aead ? aead.encrypt(plaintext, NO_AD) : ((DeterministicAead) p).encryptDeterministically(plaintext, NO_AD);
    } catch (GeneralSecurityException e) {
      throw new VectorError("ErrInvalidRule", "rule " + rule.name() + ": encrypt", e);
    }
    if (!rule.rotates()) {
      return ct;
    }
    return ByteBuffer.allocate(5 + ct.length).put((byte) 0).putInt(version).put(ct).array();
  }

  /** Decrypts what seal wrote. */
  byte[] open(Rules.Rule rule, byte[] stored, String path) throws VectorError {
    int version = latestVersion(rule);
    byte[] ct = stored;
    if (rule.rotates()) {
      if (stored.length < 5 || stored[0] != 0) {
        throw new VectorError("ErrInvalidCiphertext", path + ": missing DEK version prefix");
      }
      version = ByteBuffer.wrap(stored, 1, 4).getInt();
      ct = java.util.Arrays.copyOfRange(stored, 5, stored.length);
    }
    Object p = primitive(rule, version);
    if (p instanceof Aead && ct.length < GCM_NONCE_AND_TAG) {
      throw new VectorError("ErrInvalidCiphertext", path + ": shorter than nonce and tag");
    }
    try {
      return p instanceof Aead aead ? aead.decrypt(ct, NO_AD) : ((DeterministicAead) p).decryptDeterministically(ct, NO_AD);
    } catch (GeneralSecurityException e) {
      throw new VectorError("ErrDecryptionFailed", path + ": authentication failed");
    }
  }

  /** seal for a string field: base64 of the ciphertext. */
  String sealString(Rules.Rule rule, String plaintext) throws VectorError {
    return Base64.getEncoder().encodeToString(seal(rule, plaintext.getBytes(StandardCharsets.UTF_8)));
  }

  /** open for a string field: standard padded base64 in, UTF-8 text out. */
  String openString(Rules.Rule rule, String stored, String path) throws VectorError {
    byte[] raw;
    try {
      if (stored.length() % 4 != 0) {
        throw new IllegalArgumentException("unpadded");
      }
      raw = Base64.getDecoder().decode(stored);
    } catch (IllegalArgumentException e) {
      throw new VectorError("ErrInvalidCiphertext", path + ": not base64");
    }
    return new String(open(rule, raw, path), StandardCharsets.UTF_8);
  }

  /** The highest registered version of the rule's DEK (what a writer uses). */
  private int latestVersion(Rules.Rule rule) throws VectorError {
    int latest = 0;
    for (JsonNode d : deks) {
      if (matches(d, rule)) {
        latest = Math.max(latest, d.path("version").asInt());
      }
    }
    if (latest == 0) {
      throw new VectorError("ErrDEKNotFound", "no DEK for KEK " + rule.kek());
    }
    return latest;
  }

  private static boolean matches(JsonNode dek, Rules.Rule rule) {
    return dek.path("kekName").asText().equals(rule.kek()) && dek.path("algorithm").asText().equals(rule.algorithm());
  }

  /** The unwrapped DEK of the rule at version, as a Tink primitive. */
  private Object primitive(Rules.Rule rule, int version) throws VectorError {
    String key = rule.kek() + "/" + rule.algorithm() + "/" + version;
    Object cached = primitives.get(key);
    if (cached != null) {
      return cached;
    }
    JsonNode dek = null;
    for (JsonNode d : deks) {
      if (matches(d, rule) && d.path("version").asInt() == version) {
        dek = d;
      }
    }
    if (dek == null) {
      throw new VectorError("ErrDEKNotFound", "KEK " + rule.kek() + " has no DEK version " + version);
    }
    byte[] material;
    try {
      byte[] kekKey = Hkdf.computeHkdf("HMACSHA256", secret.getBytes(StandardCharsets.UTF_8), new byte[0], new byte[0], 16);
      material = new AesGcmJce(kekKey).decrypt(Base64.getDecoder().decode(dek.path("encryptedKeyMaterial").asText()), NO_AD);
    } catch (GeneralSecurityException e) {
      throw new VectorError("ErrDEKUnwrapFailed", "KEK " + rule.kek() + ": the KMS could not unwrap DEK version " + version);
    }
    Object p = toPrimitive(rule.algorithm(), material);
    primitives.put(key, p);
    return p;
  }

  /** A one-key RAW keyset around the DEK's Tink key proto. */
  private static Object toPrimitive(String algorithm, byte[] material) throws VectorError {
    boolean siv = algorithm.equals("AES256_SIV");
    String typeUrl = siv ? "type.googleapis.com/google.crypto.tink.AesSivKey" : "type.googleapis.com/google.crypto.tink.AesGcmKey";
    Keyset keyset = Keyset.newBuilder()
        .setPrimaryKeyId(1)
        .addKey(Keyset.Key.newBuilder()
            .setKeyData(KeyData.newBuilder().setTypeUrl(typeUrl).setValue(ByteString.copyFrom(material))
                .setKeyMaterialType(KeyData.KeyMaterialType.SYMMETRIC))
            .setStatus(KeyStatusType.ENABLED).setKeyId(1).setOutputPrefixType(OutputPrefixType.RAW))
        .build();
    try {
      KeysetHandle handle = TinkProtoKeysetFormat.parseKeyset(keyset.toByteArray(), InsecureSecretKeyAccess.get());
      if (siv) {
        return handle.getPrimitive(RegistryConfiguration.get(), DeterministicAead.class);
      }
      return handle.getPrimitive(RegistryConfiguration.get(), Aead.class);
    } catch (GeneralSecurityException e) {
      throw new VectorError("ErrDEKUnwrapFailed", "DEK is not a Tink " + algorithm + " key");
    }
  }
}
