/* predict: runs the tiny_classifier model on token sequences given on the
 * command line and prints each one's class logits. A C program linking the
 * static library that rnnc_add_model built (see CMakeLists.txt).
 *
 *   predict [--weights W.safetensors] SEQUENCE...
 *
 * SEQUENCE is comma-separated token ids, e.g. 3,1,4,1,5; sequences may have
 * different lengths. Without --weights the model starts from the initial
 * weights of seed 0 (what `tiny_classifier init --seed 0` writes). Prints one
 * line per sequence: "<index>: <logit> <logit> <logit>". */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tiny_classifier.h"

static int usage(void) {
  fprintf(stderr, "usage: predict [--weights W.safetensors] SEQUENCE...  (SEQUENCE: token ids like 3,1,4)\n");
  return 2;
}

/* Parses "3,1,4" into tokens[0..]; returns the count, or -1 (with a message). */
static int64_t parse_sequence(const char *text, int32_t *tokens, int64_t capacity) {
  int64_t count = 0;
  const char *p = text;
  for (;;) {
    char *end = NULL;
    errno = 0;
    const long v = strtol(p, &end, 10);
    if (end == p || errno != 0 || v < INT32_MIN || v > INT32_MAX || (*end != ',' && *end != '\0')) {
      fprintf(stderr, "predict: '%s' is not a list of token ids like 3,1,4\n", text);
      return -1;
    }
    if (count == capacity) {
      fprintf(stderr, "predict: '%s' has too many tokens\n", text);
      return -1;
    }
    tokens[count++] = (int32_t)v;
    if (*end == '\0') return count;
    p = end + 1;
  }
}

int main(int argc, char **argv) {
  const char *weights = NULL;
  int first = 1;
  if (argc > 2 && strcmp(argv[1], "--weights") == 0) {
    weights = argv[2];
    first = 3;
  }
  const int64_t n = argc - first;
  if (n < 1 || strncmp(argv[first], "--", 2) == 0) return usage();

  /* A sequence of k tokens has k - 1 commas; the longest sets t, and the
   * shorter ones are padded (the model never reads past `lengths`). */
  int64_t t = 0;
  for (int64_t i = 0; i < n; ++i) {
    int64_t len = 1;
    for (const char *c = argv[first + i]; *c; ++c) len += *c == ',';
    if (len > t) t = len;
  }
  int32_t *tokens = calloc((size_t)(n * t), sizeof *tokens);
  int32_t *lengths = calloc((size_t)n, sizeof *lengths);
  float *outputs = calloc((size_t)tiny_classifier_output_size(n, t), sizeof *outputs);
  if (!tokens || !lengths || !outputs) {
    fprintf(stderr, "predict: out of memory\n");
    return 1;
  }
  for (int64_t i = 0; i < n; ++i) {
    const int64_t len = parse_sequence(argv[first + i], tokens + i * t, t);
    if (len < 0) return 2;
    lengths[i] = (int32_t)len;
  }

  tiny_classifier_model *model = weights ? tiny_classifier_open(weights) : tiny_classifier_init(0);
  if (!model) {
    fprintf(stderr, "predict: cannot open the model: %s\n", tiny_classifier_last_error());
    return 1;
  }
  if (tiny_classifier_forward(model, tokens, lengths, n, t, outputs) != 0) {
    fprintf(stderr, "predict: forward failed: %s\n", tiny_classifier_last_error());
    tiny_classifier_close(model);
    return 1;
  }
  for (int64_t i = 0; i < n; ++i) {
    printf("%lld:", (long long)i);
    for (int j = 0; j < TINY_CLASSIFIER_OUTPUT_WIDTH; ++j)
      printf(" %.9g", outputs[i * TINY_CLASSIFIER_OUTPUT_WIDTH + j]);
    printf("\n");
  }
  tiny_classifier_close(model);
  free(outputs);
  free(lengths);
  free(tokens);
  return 0;
}
