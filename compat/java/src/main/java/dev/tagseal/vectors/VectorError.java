package dev.tagseal.vectors;

/**
 * A failure with the error class SPEC.md §7 names for it (ErrDecryptionFailed,
 * ErrMalformedPayload, …). Messages carry paths, never values.
 */
final class VectorError extends Exception {
  final String errorClass;

  VectorError(String errorClass, String message) {
    super(errorClass + ": " + message);
    this.errorClass = errorClass;
  }

  VectorError(String errorClass, String message, Throwable cause) {
    super(errorClass + ": " + message, cause);
    this.errorClass = errorClass;
  }
}
