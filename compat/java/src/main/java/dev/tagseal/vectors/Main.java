package dev.tagseal.vectors;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.FileDescriptor;
import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.HexFormat;
import java.util.List;

/**
 * A `tagseal conformance` testee over the Java port of SPEC.md.
 *
 * <p>It answers the harness's frames on stdin/stdout (SPEC.md §10; a frame
 * is a 4-byte little-endian length and that many bytes of JSON): a read
 * returns the vector's record as plaintext in the vector's JSON conventions
 * or fails with its SPEC §7 class; a write returns the record for the
 * vector's plaintext. The harness compares; this class only answers.
 *
 * <p>Usage: java dev.tagseal.vectors.Main (stdout carries only frames)
 */
public final class Main {
  private static final ObjectMapper MAPPER = new ObjectMapper();

  /** The SPEC §7 classes the port reports (VectorError.errorClass). */
  private static final List<String> ERROR_CLASSES = List.of(
      "ErrShortPayload", "ErrUnknownMagicByte", "ErrSchemaNotFound", "ErrMalformedPayload",
      "ErrInvalidCiphertext", "ErrDEKNotFound", "ErrDEKUnwrapFailed", "ErrDecryptionFailed",
      "ErrUnsupportedTaggedType", "ErrUnplaceableTag");

  public static void main(String[] args) throws IOException {
    DataInputStream in = new DataInputStream(new BufferedInputStream(new FileInputStream(FileDescriptor.in)));
    OutputStream out = new BufferedOutputStream(new FileOutputStream(FileDescriptor.out));
    // stdout carries only frames: anything else printed goes to stderr.
    System.setOut(System.err);
    while (true) {
      byte[] head = new byte[4];
      try {
        in.readFully(head);
      } catch (EOFException e) {
        return;
      }
      byte[] body = new byte[ByteBuffer.wrap(head).order(ByteOrder.LITTLE_ENDIAN).getInt()];
      in.readFully(body);
      byte[] resp = MAPPER.writeValueAsBytes(answer(MAPPER.readTree(body)));
      out.write(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(resp.length).array());
      out.write(resp);
      out.flush();
    }
  }

  private static ObjectNode answer(JsonNode req) {
    String op = req.path("op").asText();
    if (op.equals("capabilities")) {
      ObjectNode caps = MAPPER.createObjectNode().put("name", "java");
      caps.set("formats", strings("AVRO", "JSON", "PROTOBUF"));
      caps.set("algorithms", strings("AES128_GCM", "AES256_GCM", "AES256_SIV"));
      caps.set("kms", strings("local-kms"));
      caps.set("errorClasses", strings(ERROR_CLASSES.toArray(String[]::new)));
      caps.set("ops", strings("read", "write"));
      caps.set("framings", strings("id", "guid", "guid-header"));
      return caps;
    }
    JsonNode v = req.path("vector");
    try {
      Port port = new Port(v);
      switch (op) {
        case "read" -> {
          byte[] header = null;
          for (JsonNode h : v.path("headers")) {
            if (h.path("key").asText().equals("__value_schema_id")) {
              header = HexFormat.of().parseHex(h.path("value").asText());
            }
          }
          Object got = port.read(HexFormat.of().parseHex(v.path("serialized").asText()), header);
          return (ObjectNode) MAPPER.createObjectNode().set("plaintext", MAPPER.readTree(port.toPlaintext(got)));
        }
        case "write" -> {
          Port.Written w = port.write(port.plaintext());
          ObjectNode resp = MAPPER.createObjectNode().put("serialized", HexFormat.of().formatHex(w.value()));
          if (w.header() != null) {
            resp.putArray("headers").addObject()
                .put("key", "__value_schema_id").put("value", HexFormat.of().formatHex(w.header()));
          }
          return resp;
        }
        default -> {
          return error(null, "unknown op " + op);
        }
      }
    } catch (VectorError e) {
      return error(ERROR_CLASSES.contains(e.errorClass) ? e.errorClass : null, e.getMessage());
    } catch (IOException | RuntimeException e) {
      return error(null, "unexpected " + e);
    }
  }

  private static ObjectNode error(String errorClass, String message) {
    ObjectNode err = MAPPER.createObjectNode();
    if (errorClass != null) {
      err.put("class", errorClass);
    }
    err.put("message", message);
    return (ObjectNode) MAPPER.createObjectNode().set("error", err);
  }

  private static ArrayNode strings(String... values) {
    ArrayNode a = MAPPER.createArrayNode();
    for (String s : values) {
      a.add(s);
    }
    return a;
  }
}
