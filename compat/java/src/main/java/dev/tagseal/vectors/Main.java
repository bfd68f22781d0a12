package dev.tagseal.vectors;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.File;
import java.io.IOException;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;

/**
 * Runs the Java port of SPEC.md over the test vectors.
 *
 * <p>Read: every vector's bytes must give its plaintext (positive) or fail
 * with its error class (negative). Write: every positive vector's plaintext is
 * serialized into a JSON-lines file that `tagseal vectors check-written`
 * verifies in Go.
 *
 * <p>Usage: java dev.tagseal.vectors.Main VECTOR_DIR WRITTEN_OUT.jsonl
 */
public final class Main {
  private static final ObjectMapper MAPPER = new ObjectMapper();

  public static void main(String[] args) throws IOException {
    File[] files = new File(args[0]).listFiles((d, n) -> n.endsWith(".json"));
    if (files == null || files.length == 0) {
      System.err.println("no vectors in " + args[0]);
      System.exit(2);
    }
    Arrays.sort(files);
    List<String> readFailures = new ArrayList<>();
    List<String> writeFailures = new ArrayList<>();
    int read = 0;
    int written = 0;
    try (PrintWriter out = new PrintWriter(args[1], "UTF-8")) {
      for (File f : files) {
        JsonNode v = MAPPER.readTree(f);
        String name = v.path("name").asText();
        boolean positive = v.path("expect").path("outcome").asText().equals("ok");
        String problem = check(v, positive);
        if (problem == null) {
          read++;
        } else {
          readFailures.add(name + ": " + problem);
        }
        if (!positive) {
          continue;
        }
        try {
          Port port = new Port(v);
          byte[] payload = port.write(port.plaintext());
          ObjectNode line = MAPPER.createObjectNode().put("name", name).put("serialized", HexFormat.of().formatHex(payload));
          out.println(MAPPER.writeValueAsString(line));
          written++;
        } catch (VectorError | RuntimeException e) {
          writeFailures.add(name + ": " + e);
        }
      }
    }
    readFailures.forEach(f -> System.out.println("FAIL (read) " + f));
    writeFailures.forEach(f -> System.out.println("FAIL (write) " + f));
    System.out.printf("java: %d passed, %d failed%n", read, readFailures.size());
    System.out.printf("java (write): %d records produced, %d failed; correctness: see the Go check%n", written, writeFailures.size());
    System.exit(readFailures.isEmpty() && writeFailures.isEmpty() ? 0 : 1);
  }

  /** Reads one vector; returns null when the outcome is the vector's, else what went wrong. */
  private static String check(JsonNode v, boolean positive) {
    String want = v.path("expect").path("error").asText();
    try {
      Port port = new Port(v);
      Object got = port.read(HexFormat.of().parseHex(v.path("serialized").asText()));
      if (!positive) {
        return "read succeeded, want " + want;
      }
      return port.isPlaintext(got) ? null : "decrypted record differs from the plaintext";
    } catch (VectorError e) {
      if (positive) {
        return e.getMessage();
      }
      return e.errorClass.equals(want) ? null : "got " + e.errorClass + ", want " + want;
    } catch (RuntimeException e) {
      return "unexpected " + e;
    }
  }
}
