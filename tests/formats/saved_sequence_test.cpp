// The saved-sequence file (formats/saved_sequence.h) read back as it was written, including a sequence with no
// tokens, whose vectors have no storage at all (their data() is null).
#include <gtest/gtest.h>

#include "core/error.h"
#include "formats/saved_sequence.h"

namespace hearth {
namespace {

const SequenceShape kShape{42, 2, 4, 64, DType::F16};

TEST(SavedSequence, RoundTrips) {
  SequenceImage image;
  image.tokens = {1, 7, 9};
  image.note = "a chat";
  image.kv.assign(size_t(2) * 2 * 3 * 4 * 2, 0);  // layers x (K, V) x tokens x kv_dim x F16 bytes
  for (size_t i = 0; i < image.kv.size(); ++i) image.kv[i] = uint8_t(i * 31);
  const SequenceImage back = parse_saved_sequence(serialize_saved_sequence(kShape, image), kShape, "x.kv");
  EXPECT_EQ(back.tokens, image.tokens);
  EXPECT_EQ(back.note, image.note);
  EXPECT_EQ(back.kv, image.kv);
}

TEST(SavedSequence, EmptySequenceRoundTrips) {
  const SequenceImage back = parse_saved_sequence(serialize_saved_sequence(kShape, {}), kShape, "empty.kv");
  EXPECT_TRUE(back.tokens.empty());
  EXPECT_TRUE(back.kv.empty());
}

TEST(SavedSequence, AnotherModelsFileIsRefused) {
  SequenceShape other = kShape;
  other.model_fingerprint = 43;
  const std::vector<uint8_t> bytes = serialize_saved_sequence(kShape, {});
  EXPECT_THROW(parse_saved_sequence(bytes, other, "x.kv"), Error);
}

}  // namespace
}  // namespace hearth
